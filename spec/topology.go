package spec

import (
	"fmt"
	"strconv"
	"strings"
)

// Topology is a guest's cpu layout: NUMA nodes, last-level caches per node,
// cores per LLC and threads per core. Zero fields take the defaults of one
// node with one LLC of two single-threaded cores. The host asks QEMU for
// it, and the guest reports the one it sees in the same type, so the two
// compare with ==.
type Topology struct {
	NUMANodes      int `msgpack:"numa_nodes,omitempty" json:"numa_nodes,omitempty" yaml:"numa_nodes,omitempty"`
	LLCs           int `msgpack:"llcs,omitempty" json:"llcs,omitempty" yaml:"llcs,omitempty"` // per NUMA node
	CoresPerLLC    int `msgpack:"cores_per_llc,omitempty" json:"cores_per_llc,omitempty" yaml:"cores_per_llc,omitempty"`
	ThreadsPerCore int `msgpack:"threads_per_core,omitempty" json:"threads_per_core,omitempty" yaml:"threads_per_core,omitempty"`
}

// MaxTopologyCPUs bounds Topology.CPUs: the most vCPUs QEMU's q35 machine
// accepts.
const MaxTopologyCPUs = 288

// WithDefaults returns t with zero fields replaced by their defaults.
func (t Topology) WithDefaults() Topology {
	if t.NUMANodes == 0 {
		t.NUMANodes = 1
	}
	if t.LLCs == 0 {
		t.LLCs = 1
	}
	if t.CoresPerLLC == 0 {
		t.CoresPerLLC = 2
	}
	if t.ThreadsPerCore == 0 {
		t.ThreadsPerCore = 1
	}
	return t
}

// CPUs returns the number of logical cpus (defaults applied).
func (t Topology) CPUs() int {
	t = t.WithDefaults()
	return t.NUMANodes * t.LLCs * t.CoresPerLLC * t.ThreadsPerCore
}

// String formats t as "NnLlCcTt" (defaults applied), for example
// "1n2l4c2t": the form ParseTopology reads.
func (t Topology) String() string {
	t = t.WithDefaults()
	return fmt.Sprintf("%dn%dl%dc%dt", t.NUMANodes, t.LLCs, t.CoresPerLLC, t.ThreadsPerCore)
}

// Validate reports a negative field or more than MaxTopologyCPUs cpus as a
// *ValidationError.
func (t Topology) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"numa_nodes", t.NUMANodes}, {"llcs", t.LLCs}, {"cores_per_llc", t.CoresPerLLC}, {"threads_per_core", t.ThreadsPerCore}} {
		if f.v < 0 {
			return invalid("topology."+f.name, "%d: want >= 1 (or 0 for the default)", f.v)
		}
	}
	if n := t.CPUs(); n > MaxTopologyCPUs {
		return invalid("topology", "%v has %d cpus, at most %d supported", t, n, MaxTopologyCPUs)
	}
	return nil
}

// ParseTopology parses "NnLlCcTt" (nodes, LLCs per node, cores per LLC,
// threads per core) in any order, for example "1n2l4c2t". Omitted parts
// take their defaults; the empty string is the default topology.
func ParseTopology(s string) (Topology, error) {
	var t Topology
	rest := strings.ToLower(strings.TrimSpace(s))
	seen := map[byte]bool{}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return Topology{}, invalid("topology", "%q: want numbers followed by n, l, c or t, such as 1n2l4c1t", s)
		}
		v, err := strconv.Atoi(rest[:i])
		unit := rest[i]
		if err != nil || v < 1 || seen[unit] {
			return Topology{}, invalid("topology", "%q: repeated, zero or too large %q", s, unit)
		}
		seen[unit] = true
		switch unit {
		case 'n':
			t.NUMANodes = v
		case 'l':
			t.LLCs = v
		case 'c':
			t.CoresPerLLC = v
		case 't':
			t.ThreadsPerCore = v
		default:
			return Topology{}, invalid("topology", "%q: unknown unit %q (allowed: n nodes, l LLCs per node, c cores per LLC, t threads per core)", s, unit)
		}
		rest = rest[i+1:]
	}
	t = t.WithDefaults()
	if err := t.Validate(); err != nil {
		return Topology{}, err
	}
	return t, nil
}
