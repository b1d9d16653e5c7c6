package check

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// throughputCV compares the iterations per second of the workers of each
// workload set: identical workloads should progress alike.
func throughputCV(workers []Worker, limit float64) []Failure {
	order, sets := workloadSets(workers)
	var out []Failure
	for _, k := range order {
		rs := sets[k]
		if len(rs) < 2 {
			continue
		}
		rates := make([]float64, len(rs))
		lo, hi := 0, 0
		for i := range rs {
			rates[i] = rs[i].IterationRate()
			if rates[i] < rates[lo] {
				lo = i
			}
			if rates[i] > rates[hi] {
				hi = i
			}
		}
		if cv := spec.CV(rates); cv > limit {
			out = append(out, Failure{
				Check: spec.CheckThroughputCV, Cgroup: k.cgroup, Worker: -1,
				Message: fmt.Sprintf("iterations/s CV %.2f above %.2f in workload set %d: worker %d did %.1f/s, worker %d %.1f/s",
					cv, limit, k.set, rs[lo].Index, rates[lo], rs[hi].Index, rates[hi]),
			})
		}
	}
	return out
}

// numaLocality checks the share of each worker's resident pages on its
// home node. It judges nothing in a guest with a single node or when the
// worker did not report its pages.
func numaLocality(workers []Worker, cpuNode []int, minPct float64) []Failure {
	nodes := 0
	for _, n := range cpuNode {
		nodes = max(nodes, n+1)
	}
	if nodes < 2 {
		return nil
	}
	var out []Failure
	for _, w := range workers {
		r := w.Report
		if !r.Completed {
			continue
		}
		pct, home, ok := Locality(r, cpuNode)
		if ok && pct < minPct {
			out = append(out, Failure{
				Check: spec.CheckNUMALocality, Cgroup: w.Cgroup, Worker: r.Index,
				Message: fmt.Sprintf("%.1f%% of its %d resident pages on its home node %d (pages per node %v), below %.1f%%",
					pct, sum(r.NumaPages), home, r.NumaPages, minPct),
			})
		}
	}
	return out
}

// Locality returns the share in percent of r's resident pages on its home
// node, the node whose cpus it ran on longest (from its migrations; its
// first cpu when it never migrated). ok is false when r reported no pages
// or no cpu.
func Locality(r spec.WorkerReport, cpuNode []int) (pct float64, home int, ok bool) {
	total := sum(r.NumaPages)
	if total == 0 {
		return 0, 0, false
	}
	home, ok = homeNode(r, cpuNode)
	switch {
	case !ok:
		return 0, 0, false
	case home >= len(r.NumaPages):
		return 0, home, true
	}
	return 100 * float64(r.NumaPages[home]) / float64(total), home, true
}

// homeNode is the node r spent the most wall time on, from its migration
// list; a worker that never migrated is at home on its only cpu's node.
func homeNode(r spec.WorkerReport, cpuNode []int) (int, bool) {
	node := func(cpu int) int {
		if cpu >= 0 && cpu < len(cpuNode) {
			return cpuNode[cpu]
		}
		return -1
	}
	if len(r.Migrations) == 0 {
		if len(r.CPUsUsed) == 0 {
			return 0, false
		}
		n := node(r.CPUsUsed[0])
		return n, n >= 0
	}
	ms := slices.Clone(r.Migrations)
	slices.SortFunc(ms, func(a, b spec.Migration) int { return cmp.Compare(a.AtNs, b.AtNs) })
	var on []time.Duration
	add := func(cpu int, d uint64) {
		n := node(cpu)
		if n < 0 {
			return
		}
		for len(on) <= n {
			on = append(on, 0)
		}
		on[n] += time.Duration(d)
	}
	var at uint64
	for _, m := range ms {
		add(m.FromCPU, m.AtNs-min(at, m.AtNs))
		at = m.AtNs
	}
	if end := r.WallTimeNs; end > at {
		add(ms[len(ms)-1].ToCPU, end-at)
	}
	if len(on) == 0 {
		return 0, false
	}
	best := 0
	for n := range on {
		if on[n] > on[best] {
			best = n
		}
	}
	return best, true
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}
