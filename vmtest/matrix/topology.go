package matrix

import (
	"fmt"
	"slices"
	"strings"

	"github.com/scxvm/scxvm/spec"
)

// Topology preset sets, by the name a matrix file or --topology gives them.
// A preset itself is named as spec.ParseTopology reads it, "NnLlCcTt":
// NUMA nodes, LLCs per node, cores per LLC, threads per core.
const (
	// PresetsTCG is the default set: four shapes of 2-4 cpus that a
	// TCG guest runs on a 2-4 cpu host in seconds.
	PresetsTCG = "tcg"
	// PresetsKVM is a larger set (16-64 cpus) for KVM hosts.
	PresetsKVM = "kvm"
)

// presetSets are the preset sets. Each preset exercises a different part
// of a scheduler's topology code: a flat machine, SMT siblings, NUMA
// nodes, and several LLCs.
var presetSets = map[string][]string{
	PresetsTCG: {
		"1n1l2c1t", // 2 cpus, flat: the scenarios' reference machine
		"1n1l1c2t", // 2 cpus, one core with two SMT threads
		"2n1l1c1t", // 2 cpus on two NUMA nodes
		"1n2l1c2t", // 4 cpus: two LLCs of one SMT core each
	},
	PresetsKVM: {
		"1n1l8c2t", // 16 cpus, one LLC, SMT
		"1n4l4c1t", // 16 cpus over four LLCs
		"2n2l4c2t", // 32 cpus: two nodes of two LLCs of four SMT cores
		"4n2l4c2t", // 64 cpus over four nodes
	},
}

// PresetSet returns the presets of a set (PresetsTCG, PresetsKVM), or nil.
func PresetSet(name string) []string { return slices.Clone(presetSets[name]) }

// ExpandTopologies turns preset names and set names into the list of
// presets, in order and each once; nil or empty gives the PresetsTCG set.
// A preset must be spelt canonically ("1n1l2c1t", all four parts), so
// that the same topology has one name in every cell, shard and result.
func ExpandTopologies(names []string) ([]string, error) {
	if len(names) == 0 {
		return PresetSet(PresetsTCG), nil
	}
	var out []string
	for i, n := range names {
		list := presetSets[n]
		if list == nil {
			t, err := spec.ParseTopology(n)
			if err != nil {
				return nil, &spec.ValidationError{Path: fmt.Sprintf("topologies[%d]", i), Msg: fmt.Sprintf("%q: %v (or a set: %s)", n, err, strings.Join(setNames(), ", "))}
			}
			if err := t.Validate(); err != nil {
				return nil, &spec.ValidationError{Path: fmt.Sprintf("topologies[%d]", i), Msg: fmt.Sprintf("%q: %v", n, err)}
			}
			if t.String() != n {
				return nil, &spec.ValidationError{Path: fmt.Sprintf("topologies[%d]", i), Msg: fmt.Sprintf("%q: write it as %q (all four parts, in order)", n, t.String())}
			}
			list = []string{n}
		}
		for _, p := range list {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func setNames() []string {
	var out []string
	for n := range presetSets {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
