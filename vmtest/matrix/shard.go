package matrix

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// Shard is part I of N of a plan (1 <= I <= N). The zero value is the
// whole plan.
type Shard struct{ I, N int }

// ParseShard reads "I/N".
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, &spec.ValidationError{Path: "shard", Msg: fmt.Sprintf("%q: want I/N with 1 <= I <= N, such as 2/4", s)}
	}
	return Shard{I: i, N: n}, nil
}

func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Cost estimates of cells and boots when no earlier result knows better:
// a job's overhead beside its scenario's duration (scheduler load and
// unload, workers' spawn and report, under TCG), and a boot to the agent's
// hello under TCG.
const (
	DefaultCellOverhead = 3 * time.Second
	DefaultBootCost     = 5 * time.Second
)

// Estimates are cost estimates read from earlier reports: a cell's
// elapsed time by its key, a boot's time to the agent's hello by its
// kernel and topology. The zero value knows nothing.
type Estimates struct {
	cells map[string]time.Duration
	boots map[string]time.Duration
}

// NewEstimates learns from reports; a later report's measurement of a
// cell replaces an earlier one's, boots average.
func NewEstimates(reports ...*Report) *Estimates {
	e := &Estimates{cells: map[string]time.Duration{}, boots: map[string]time.Duration{}}
	sum := map[string]time.Duration{}
	n := map[string]int{}
	for _, r := range reports {
		for _, c := range r.Cells {
			if c.Elapsed > 0 {
				e.cells[c.Key()] = c.Elapsed
			}
		}
		for _, b := range r.Boots {
			if b.BootToHello > 0 {
				k := Cell{Kernel: b.Kernel, Topology: b.Topology}.bootKey()
				sum[k] += b.BootToHello
				n[k]++
			}
		}
	}
	for k, s := range sum {
		e.boots[k] = s / time.Duration(n[k])
	}
	return e
}

// Cell estimates c's cost: the earlier measurement, else the scenario's
// duration (dur) plus DefaultCellOverhead.
func (e *Estimates) Cell(c Cell, dur time.Duration) time.Duration {
	if e != nil {
		if d, ok := e.cells[c.Key()]; ok {
			return d
		}
	}
	return dur + DefaultCellOverhead
}

// Boot estimates the cost of booting for c: the earlier average for its
// kernel and topology, else DefaultBootCost.
func (e *Estimates) Boot(c Cell) time.Duration {
	if e != nil {
		if d, ok := e.boots[c.bootKey()]; ok {
			return d
		}
	}
	return DefaultBootCost
}

// ID identifies the plan by its cells: shards of one plan carry the same
// ID, and Merge refuses reports of different plans.
func (p *Plan) ID() string {
	h := sha256.New()
	for _, c := range p.Cells {
		fmt.Fprintf(h, "%d\x00%s\x00%s\n", c.Index, c.Key(), strings.Join(c.Scheduler.Args, "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// cost returns c's estimated cost in the plan.
func (p *Plan) cost(e *Estimates, c Cell) time.Duration {
	dur := p.Duration
	if dur <= 0 {
		dur = p.Scenarios[c.Scenario].Duration
	}
	return e.Cell(c, dur)
}

// Shard returns the cells of part s of the plan, in plan order. Cells are
// dealt out by estimated cost, most expensive first, each to the shard
// that would end earliest with it, counting a boot for a shard's first
// cell of a kernel and topology: every plan splits the same way on every
// machine given the same estimates, and the shards take about the same
// time. The zero Shard is the whole plan.
func (p *Plan) Shard(s Shard, e *Estimates) []Cell {
	if s.N <= 1 {
		return slices.Clone(p.Cells)
	}
	order := slices.Clone(p.Cells)
	slices.SortStableFunc(order, func(a, b Cell) int {
		if c := cmp.Compare(p.cost(e, b)+e.Boot(b), p.cost(e, a)+e.Boot(a)); c != 0 {
			return c
		}
		return a.Index - b.Index
	})
	load := make([]time.Duration, s.N)
	booted := make([]map[string]bool, s.N)
	for i := range booted {
		booted[i] = map[string]bool{}
	}
	var mine []Cell
	for _, c := range order {
		best, bestEnd := 0, time.Duration(-1)
		for i := range s.N {
			end := load[i] + p.cost(e, c)
			if !booted[i][c.bootKey()] {
				end += e.Boot(c)
			}
			if bestEnd < 0 || end < bestEnd {
				best, bestEnd = i, end
			}
		}
		load[best] = bestEnd
		booted[best][c.bootKey()] = true
		if best == s.I-1 {
			mine = append(mine, c)
		}
	}
	slices.SortFunc(mine, func(a, b Cell) int { return a.Index - b.Index })
	return mine
}

// Budget picks from cells those that fit in budget of wall time with jobs
// guests at once, greedily for coverage: first cells of schedulers and
// scenarios not covered yet (the cheapest of equals first: one in a boot
// already picked costs no boot), then of kernels and topologies not
// covered yet, then the rest in plan order, each while it fits. It
// returns the picked cells and the ones left out, both in plan order.
func (p *Plan) Budget(cells []Cell, budget time.Duration, jobs int, e *Estimates) (picked, left []Cell) {
	if budget <= 0 {
		return slices.Clone(cells), nil
	}
	room := budget * time.Duration(max(jobs, 1))
	var used time.Duration
	booted := map[string]bool{}
	covered := map[string]bool{}
	taken := make([]bool, len(cells))
	costOf := func(c Cell) time.Duration {
		d := p.cost(e, c)
		if !booted[c.bootKey()] {
			d += e.Boot(c)
		}
		return d
	}
	count := func(keys ...string) int {
		n := 0
		for _, k := range keys {
			if !covered[k] {
				n++
			}
		}
		return n
	}
	primary := func(c Cell) int { return count("s:"+c.Scheduler.String(), "c:"+c.Scenario) }
	secondary := func(c Cell) int { return count("k:"+c.Kernel, "t:"+c.Topology) }
	take := func(i int) {
		c := cells[i]
		used += costOf(c)
		booted[c.bootKey()] = true
		for _, k := range []string{"s:" + c.Scheduler.String(), "c:" + c.Scenario, "k:" + c.Kernel, "t:" + c.Topology} {
			covered[k] = true
		}
		taken[i] = true
	}
	// better reports whether cell i is a better next pick than cell j.
	better := func(i, j int) bool {
		a, b := cells[i], cells[j]
		if pa, pb := primary(a), primary(b); pa != pb {
			return pa > pb
		}
		if primary(a) > 0 {
			if ca, cb := costOf(a), costOf(b); ca != cb {
				return ca < cb
			}
			return secondary(a) > secondary(b)
		}
		if sa, sb := secondary(a), secondary(b); sa != sb {
			return sa > sb
		}
		return costOf(a) < costOf(b)
	}
	for {
		best := -1
		for i, c := range cells {
			if taken[i] || used+costOf(c) > room || primary(c)+secondary(c) == 0 {
				continue
			}
			if best < 0 || better(i, best) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		take(best)
	}
	for i, c := range cells {
		if !taken[i] && used+costOf(c) <= room {
			take(i)
		}
	}
	for i, c := range cells {
		if taken[i] {
			picked = append(picked, c)
		} else {
			left = append(left, c)
		}
	}
	return picked, left
}

// Selection says which part of a plan RunPlan runs.
type Selection struct {
	// Shard is the part of the plan; zero for all of it.
	Shard Shard
	// Budget, when positive, bounds the shard's estimated wall time
	// (Plan.Budget); the cells left out are reported as OutcomeSkipped.
	Budget time.Duration
	// Estimates are the costs Shard and Budget go by; nil for defaults.
	Estimates *Estimates
}

// RunPlan runs the selected part of the plan with cfg (whose Cells,
// Scenarios and Duration it sets) and returns a report that Merge can
// combine with the reports of the plan's other shards.
func RunPlan(ctx context.Context, p *Plan, sel Selection, cfg Config) (*Report, error) {
	cells := p.Shard(sel.Shard, sel.Estimates)
	cells, left := p.Budget(cells, sel.Budget, cfg.Jobs, sel.Estimates)
	cfg.Cells = cells
	cfg.Scenarios = p.Scenarios
	cfg.Duration = p.Duration
	var rep *Report
	var err error
	if len(cells) > 0 {
		rep, err = Run(ctx, cfg)
	} else {
		rep = &Report{}
	}
	if rep == nil {
		rep = &Report{}
	}
	for _, c := range left {
		rep.Cells = append(rep.Cells, CellResult{
			Cell: c, SchedulerName: c.Scheduler.String(), Outcome: OutcomeSkipped, Boot: -1,
			Reason: fmt.Sprintf("left out by the budget of %v (estimated %.1fs)", sel.Budget, p.cost(sel.Estimates, c).Seconds()),
		})
	}
	rep.sortByIndex()
	rep.Plan, rep.PlanCells, rep.Shard = p.ID(), len(p.Cells), sel.Shard.String()
	return rep, err
}
