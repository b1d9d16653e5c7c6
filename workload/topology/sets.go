package topology

import (
	"fmt"
	"maps"
	"slices"

	"github.com/scxvm/scxvm/spec"
)

// All returns every online cpu.
func (t *Topology) All() spec.CPUSet { return t.Online }

// Usable returns the cpus workers should use: every online cpu but cpu 0
// when there is more than one, so that the agent, the scheduler's loader and
// kernel housekeeping keep a cpu of their own (the reference harness
// reserves one the same way). On a single-cpu machine it is All().
func (t *Topology) Usable() spec.CPUSet {
	if t.Online.Len() <= 1 {
		return t.Online
	}
	return t.Online.Difference(spec.NewCPUSet(t.Online.First()))
}

// NumCPUs returns the number of online cpus.
func (t *Topology) NumCPUs() int { return len(t.CPUs) }

// CPU returns the online cpu with the given id.
func (t *Topology) CPU(id int) (CPU, bool) {
	i, ok := slices.BinarySearchFunc(t.CPUs, id, func(c CPU, id int) int { return c.ID - id })
	if !ok {
		return CPU{}, false
	}
	return t.CPUs[i], true
}

// NumLLCs returns the number of last-level caches.
func (t *Topology) NumLLCs() int { return len(t.llcs) }

// LLCs returns the cpus of each LLC, ordered by each LLC's lowest cpu; the
// index is CPU.LLC.
func (t *Topology) LLCs() [][]int {
	out := make([][]int, len(t.llcs))
	for i, s := range t.llcs {
		out[i] = s.Slice()
	}
	return out
}

// CPUsInLLC returns the cpus of LLC i (an index into LLCs), or the empty set
// when there is no such LLC.
func (t *Topology) CPUsInLLC(i int) spec.CPUSet {
	if i < 0 || i >= len(t.llcs) {
		return spec.CPUSet{}
	}
	return t.llcs[i]
}

// Nodes returns the NUMA node ids that have online cpus, in increasing order.
func (t *Topology) Nodes() []int {
	return slices.Sorted(maps.Keys(t.nodes))
}

// NodeCPUs returns the online cpus of NUMA node n (empty for an unknown node).
func (t *Topology) NodeCPUs(n int) spec.CPUSet { return t.nodes[n] }

// ThreadsPerCore returns the largest SMT sibling count of any cpu (1 without
// SMT).
func (t *Topology) ThreadsPerCore() int {
	n := 1
	for _, c := range t.CPUs {
		n = max(n, c.Siblings.Len())
	}
	return n
}

// LLCAligned returns n cpus that start on an LLC boundary and fill whole
// LLCs in LLC order: the first n cpus of LLC 0, 1, ... . Only the last LLC
// used may be partial.
func (t *Topology) LLCAligned(n int) (spec.CPUSet, error) {
	return firstN("LLC-aligned", n, t.llcs)
}

// NUMAAligned returns n cpus that fill whole NUMA nodes in node order; only
// the last node used may be partial.
func (t *Topology) NUMAAligned(n int) (spec.CPUSet, error) {
	var groups []spec.CPUSet
	for _, id := range t.Nodes() {
		groups = append(groups, t.nodes[id])
	}
	return firstN("NUMA-aligned", n, groups)
}

func firstN(what string, n int, groups []spec.CPUSet) (spec.CPUSet, error) {
	var out []int
	total := 0
	for _, g := range groups {
		total += g.Len()
		for _, c := range g.Slice() {
			if len(out) < n {
				out = append(out, c)
			}
		}
	}
	if n < 1 || n > total {
		return spec.CPUSet{}, fmt.Errorf("%s cpuset of %d cpus: want 1 to %d", what, n, total)
	}
	return spec.NewCPUSet(out...), nil
}

// SplitByLLC splits Usable() into k disjoint, non-empty cpusets. When k is
// at most the number of LLCs, each set is a run of whole LLCs (as even as
// possible; cpu 0's LLC lacks cpu 0). With more sets than LLCs, the usable
// cpus in LLC order are cut into k runs of near-equal size, so each set
// still spans as few LLCs as it can.
func (t *Topology) SplitByLLC(k int) ([]spec.CPUSet, error) {
	usable := t.Usable()
	var llcs []spec.CPUSet
	for _, l := range t.llcs {
		if s := l.Intersect(usable); !s.IsEmpty() {
			llcs = append(llcs, s)
		}
	}
	if k < 1 || k > usable.Len() {
		return nil, fmt.Errorf("split %d usable cpus into %d sets: want 1 to %d sets", usable.Len(), k, usable.Len())
	}
	if k <= len(llcs) {
		out := make([]spec.CPUSet, k)
		for i := range k {
			lo, hi := i*len(llcs)/k, (i+1)*len(llcs)/k
			for _, l := range llcs[lo:hi] {
				out[i] = out[i].Union(l)
			}
		}
		return out, nil
	}
	var order []int
	for _, l := range llcs {
		order = append(order, l.Slice()...)
	}
	out := make([]spec.CPUSet, k)
	for i := range k {
		out[i] = spec.NewCPUSet(order[i*len(order)/k : (i+1)*len(order)/k]...)
	}
	return out, nil
}

// Overlapping returns k cpusets over Usable() (in LLC order) in which each
// set shares exactly overlap cpus with the next: equal sizes s, set i
// starting at offset i*(s-overlap), with s as large as fits. overlap 0
// gives disjoint sets.
func (t *Topology) Overlapping(k, overlap int) ([]spec.CPUSet, error) {
	var order []int
	usable := t.Usable()
	for _, l := range t.llcs {
		order = append(order, l.Intersect(usable).Slice()...)
	}
	n := len(order)
	if k < 1 || overlap < 0 {
		return nil, fmt.Errorf("overlapping cpusets: k=%d overlap=%d: want k >= 1 and overlap >= 0", k, overlap)
	}
	size := (n + (k-1)*overlap) / k
	if size <= overlap || size < 1 {
		return nil, fmt.Errorf("overlapping cpusets: %d sets sharing %d cpus do not fit in %d usable cpus", k, overlap, n)
	}
	out := make([]spec.CPUSet, k)
	for i := range k {
		start := i * (size - overlap)
		out[i] = spec.NewCPUSet(order[start : start+size]...)
	}
	return out, nil
}
