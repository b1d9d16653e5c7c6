package matrix

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// testPlan is a plan of the built-in schedulers without a kernel cache.
func testPlan(t testing.TB, schedulers, scenarios, topologies []string) *Plan {
	t.Helper()
	s := &Spec{Kernels: []string{"debian"}, Scenarios: scenarios, Topologies: topologies}
	for _, n := range schedulers {
		s.Schedulers = append(s.Schedulers, ParseSchedulerEntry(n))
	}
	p, err := s.Plan(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keys[T interface{ Key() string }](cs []T) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Key())
	}
	return out
}

func TestParseShard(t *testing.T) {
	if s, err := ParseShard("2/3"); err != nil || s != (Shard{2, 3}) || s.String() != "2/3" {
		t.Errorf("2/3: %v %v", s, err)
	}
	for _, bad := range []string{"", "3", "0/3", "4/3", "1/0", "a/b", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) succeeded", bad)
		}
	}
}

func TestShard(t *testing.T) {
	p := testPlan(t, []string{"fifo", "error", "stall"}, []string{"steady", "pingpong", "cpuset-resize"}, []string{"tcg"})
	// An earlier result says one cell is very expensive.
	slow := p.Cells[5]
	est := NewEstimates(&Report{Cells: []CellResult{{Cell: slow, Elapsed: 60 * time.Second}}})
	for _, e := range []*Estimates{nil, est} {
		for n := 1; n <= 5; n++ {
			var all []string
			loads := make([]time.Duration, n)
			for i := 1; i <= n; i++ {
				cells := p.Shard(Shard{i, n}, e)
				if again := p.Shard(Shard{i, n}, e); !slices.Equal(keys(cells), keys(again)) {
					t.Fatalf("shard %d/%d differs between two calls", i, n)
				}
				if !slices.IsSortedFunc(cells, func(a, b Cell) int { return a.Index - b.Index }) {
					t.Errorf("shard %d/%d not in plan order", i, n)
				}
				booted := map[string]bool{}
				for _, c := range cells {
					loads[i-1] += p.cost(e, c)
					if !booted[c.bootKey()] {
						loads[i-1] += e.Boot(c)
						booted[c.bootKey()] = true
					}
				}
				all = append(all, keys(cells)...)
			}
			slices.Sort(all)
			want := keys(p.Cells)
			slices.Sort(want)
			if !slices.Equal(all, want) {
				t.Fatalf("%d shards: cells %q, want each of the plan's once", n, all)
			}
			// Balanced: no shard ends later than the lightest one by more
			// than the most expensive cell and a boot.
			var worst time.Duration
			for _, c := range p.Cells {
				worst = max(worst, p.cost(e, c)+e.Boot(c))
			}
			if spread := slices.Max(loads) - slices.Min(loads); n > 1 && spread > worst {
				t.Errorf("%d shards: loads %v spread %v, more than the largest cell %v", n, loads, spread, worst)
			}
			if e == est && n > 1 {
				// The slow cell's shard holds little else.
				for i := 1; i <= n; i++ {
					cells := p.Shard(Shard{i, n}, e)
					if slices.ContainsFunc(cells, func(c Cell) bool { return c.Key() == slow.Key() }) && len(cells) > len(p.Cells)/n {
						t.Errorf("%d shards: the 60 s cell's shard has %d cells", n, len(cells))
					}
				}
			}
		}
	}
}

func TestBudget(t *testing.T) {
	scheds := []string{"fifo", "error", "stall", "starve"}
	scens := []string{"steady", "pingpong", "fanout"}
	p := testPlan(t, scheds, scens, []string{"tcg"})
	all, left := p.Budget(p.Cells, 0, 1, nil)
	if len(all) != len(p.Cells) || left != nil {
		t.Fatalf("no budget: %d cells picked, %d left", len(all), len(left))
	}
	// Room for a boot and four cells: every scheduler and scenario once.
	cell := p.cost(nil, p.Cells[0])
	budget := DefaultBootCost + 4*cell
	picked, left := p.Budget(p.Cells, budget, 1, nil)
	if len(picked)+len(left) != len(p.Cells) {
		t.Fatalf("%d picked + %d left != %d", len(picked), len(left), len(p.Cells))
	}
	var s, c []string
	var total time.Duration
	booted := map[string]bool{}
	for _, x := range picked {
		s = append(s, x.Scheduler.Name)
		c = append(c, x.Scenario)
		total += p.cost(nil, x)
		if !booted[x.bootKey()] {
			total += DefaultBootCost
			booted[x.bootKey()] = true
		}
	}
	slices.Sort(s)
	s = slices.Compact(s)
	slices.Sort(c)
	c = slices.Compact(c)
	if len(s) != len(scheds) || len(c) != len(scens) {
		t.Errorf("picked %q: schedulers %q, scenarios %q: want each covered", keys(picked), s, c)
	}
	if total > budget {
		t.Errorf("picked %v of work in a budget of %v", total, budget)
	}
	if len(booted) != 1 {
		t.Errorf("picked cells of %d boots, want the cheapest: one", len(booted))
	}
	// Two jobs fit twice the work.
	two, _ := p.Budget(p.Cells, budget, 2, nil)
	if len(two) <= len(picked) {
		t.Errorf("--jobs 2 picked %d cells, --jobs 1 %d", len(two), len(picked))
	}
}

// fakeBoot stands in for vmtest.Run: every scenario passes, except under
// the "error" scheduler, which the kernel ejects; it records how many
// boots run at once.
type fakeBoot struct {
	running, peak atomic.Int32
	boots         atomic.Int32
	delay         time.Duration
}

func (f *fakeBoot) run(ctx context.Context, vc vmtest.Config) (*vmtest.Result, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	f.boots.Add(1)
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := &vmtest.Result{BootToHello: time.Second, Wall: 2 * time.Second}
	res.Kernel.Release = "7.3.4-test"
	var ferr error
	for _, sc := range vc.Scenarios {
		sr := vmtest.ScenarioResult{Name: sc.Name, Scheduler: sc.Scheduler.String(), Passed: true, Elapsed: sc.Duration + time.Second}
		if sc.Scheduler.Name == spec.SchedulerError {
			sr.Passed = false
			sr.Failure = &vmtest.Failure{Kind: vmtest.FailEjected, Message: `the kernel ejected scheduler "scxvm_error" (runtime error)`}
			ferr = sr.Failure
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	return res, ferr
}

func TestRunJobsAdmission(t *testing.T) {
	p := testPlan(t, []string{"fifo", "error"}, []string{"steady"}, []string{"tcg", "1n1l1c1t", "1n1l4c1t"})
	for _, tc := range []struct {
		name  string
		jobs  int
		host  Host
		accel string
		peak  int32
	}{
		{"one job", 1, Host{CPUs: 8, MemoryMB: 64 << 10}, "tcg", 1},
		{"tcg: a cpu each", 4, Host{CPUs: 2, MemoryMB: 64 << 10}, "tcg", 2},
		{"kvm: a cpu per vcpu", 6, Host{CPUs: 4, MemoryMB: 64 << 10}, "kvm", 2},
		{"memory for one", 4, Host{CPUs: 8, MemoryMB: 1500}, "tcg", 1},
		{"room for all", 6, Host{CPUs: 8, MemoryMB: 64 << 10}, "tcg", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBoot{delay: 50 * time.Millisecond}
			var mu sync.Mutex
			calls := 0
			rep, err := Run(t.Context(), Config{
				Cells: p.Cells, Scenarios: p.Scenarios, Jobs: tc.jobs, Host: tc.host,
				Base: vmtest.Config{Accel: tc.accel},
				boot: f.run,
				OnCell: func(CellResult) {
					if !mu.TryLock() {
						t.Error("OnCell called concurrently")
						return
					}
					calls++
					mu.Unlock()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.peak.Load(); got != tc.peak {
				t.Errorf("peak of %d boots at once, want %d", got, tc.peak)
			}
			if len(rep.Cells) != len(p.Cells) || calls != len(p.Cells) || len(rep.Boots) != 6 {
				t.Fatalf("%d cells, %d OnCell calls, %d boots", len(rep.Cells), calls, len(rep.Boots))
			}
			for i, c := range rep.Cells {
				if c.Index != i || c.Key() != p.Cells[i].Key() {
					t.Errorf("cell %d: %s index %d, want %s", i, c.Key(), c.Index, p.Cells[i].Key())
				}
				if rep.Boots[c.Boot].Topology != c.Topology {
					t.Errorf("cell %s in boot %d of topology %q", c.Key(), c.Boot, rep.Boots[c.Boot].Topology)
				}
				want := OutcomePass
				if c.Scheduler.Name == spec.SchedulerError {
					want = Outcome(vmtest.FailEjected)
				}
				if c.Outcome != want {
					t.Errorf("cell %s: %s, want %s", c.Key(), c.Outcome, want)
				}
			}
		})
	}
}

// TestRunJobsSplit: one kernel and topology, two jobs: the cells are split
// over two boots run side by side.
func TestRunJobsSplit(t *testing.T) {
	p := testPlan(t, []string{"fifo", "error"}, []string{"steady", "pingpong", "fanout"}, []string{"1n1l2c1t"})
	for _, tc := range []struct{ jobs, boots, peak int }{{1, 1, 1}, {2, 2, 2}, {4, 4, 2}, {10, 6, 2}} {
		f := &fakeBoot{delay: 20 * time.Millisecond}
		rep, err := Run(t.Context(), Config{Cells: p.Cells, Scenarios: p.Scenarios, Jobs: tc.jobs, Host: Host{CPUs: 2, MemoryMB: 64 << 10}, Base: vmtest.Config{Accel: "tcg"}, boot: f.run})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Boots) != tc.boots || int(f.peak.Load()) != tc.peak || len(rep.Cells) != len(p.Cells) {
			t.Errorf("jobs %d: %d boots, peak %d, %d cells; want %d boots, peak %d, %d cells", tc.jobs, len(rep.Boots), f.peak.Load(), len(rep.Cells), tc.boots, tc.peak, len(p.Cells))
		}
		if got, want := keys(rep.Cells), keys(p.Cells); !slices.Equal(got, want) {
			t.Errorf("jobs %d: cells %q, want the plan's order %q", tc.jobs, got, want)
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	p := testPlan(t, []string{"fifo"}, []string{"steady"}, []string{"tcg"})
	ctx, cancel := context.WithCancel(t.Context())
	f := &fakeBoot{delay: time.Hour}
	go func() {
		for f.boots.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	rep, err := Run(ctx, Config{Cells: p.Cells, Scenarios: p.Scenarios, Jobs: 2, Host: Host{CPUs: 2, MemoryMB: 64 << 10}, Base: vmtest.Config{Accel: "tcg"}, boot: f.run})
	if err == nil {
		t.Fatal("no error after cancel")
	}
	if len(rep.Cells) != len(p.Cells) {
		t.Fatalf("%d cells reported, want all %d", len(rep.Cells), len(p.Cells))
	}
	for _, c := range rep.Cells {
		if c.Outcome != OutcomeNotRun {
			t.Errorf("%s: %s, want not_run", c.Key(), c.Outcome)
		}
	}
}

// TestShardsMergeEqualWhole runs a plan whole and as three shards side by
// side (with a fake boot) and checks the merge equals the whole run.
func TestShardsMergeEqualWhole(t *testing.T) {
	p := testPlan(t, []string{"fifo", "error", "stall"}, []string{"steady", "pingpong"}, []string{"1n1l2c1t", "2n1l1c1t"})
	cfg := Config{Host: Host{CPUs: 2, MemoryMB: 64 << 10}, Base: vmtest.Config{Accel: "tcg"}, boot: (&fakeBoot{}).run}
	whole, err := RunPlan(t.Context(), p, Selection{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	shards := make([]*Report, 3)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			r, err := RunPlan(t.Context(), p, Selection{Shard: Shard{i + 1, 3}}, cfg)
			if err != nil {
				t.Error(err)
			}
			// Through JSON, as shards reach the merge.
			data, _ := json.Marshal(r)
			shards[i] = &Report{}
			if err := json.Unmarshal(data, shards[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, s := range shards {
		if len(s.Cells) == 0 || len(s.Cells) == len(p.Cells) {
			t.Errorf("shard %s has %d of %d cells", s.Shard, len(s.Cells), len(p.Cells))
		}
	}
	merged, err := Merge(false, shards[2], shards[0], shards[1])
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCells(whole, merged); d != "" {
		t.Errorf("merge differs from the whole run:\n%s", d)
	}
	for _, c := range merged.Cells {
		if c.Boot < 0 || c.Boot >= len(merged.Boots) || merged.Boots[c.Boot].Topology != c.Topology {
			t.Errorf("%s: boot %d does not match", c.Key(), c.Boot)
		}
	}
	if merged.Shard != "" || merged.Shards != nil || merged.Plan != whole.Plan {
		t.Errorf("merged: shard %q shards %q plan %s, want the whole plan %s", merged.Shard, merged.Shards, merged.Plan, whole.Plan)
	}

	// Refusals.
	if _, err := Merge(false, shards[0], shards[2]); err == nil || !strings.Contains(err.Error(), "shards missing: 2/3") {
		t.Errorf("missing shard: %v", err)
	}
	if m, err := Merge(true, shards[0], shards[2]); err != nil || len(m.Cells) != len(shards[0].Cells)+len(shards[2].Cells) || !slices.Equal(m.Shards, []string{"1/3", "3/3"}) {
		t.Errorf("partial merge: %v", err)
	}
	if _, err := Merge(false, shards[0], shards[0], shards[1], shards[2]); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("shard twice: %v", err)
	}
	other := *shards[1]
	other.Plan = "0123456789abcdef"
	if _, err := Merge(false, shards[0], &other, shards[2]); err == nil || !strings.Contains(err.Error(), "of plan") {
		t.Errorf("another plan: %v", err)
	}
}

// diffCells lists the differences of two reports' cells: key, index,
// outcome, reason, failed checks.
func diffCells(a, b *Report) string {
	line := func(c CellResult) string {
		return fmt.Sprintf("%d %s %s %q %v", c.Index, c.Key(), c.Outcome, c.Reason, c.FailedChecks())
	}
	var out []string
	for i := range max(len(a.Cells), len(b.Cells)) {
		var x, y string
		if i < len(a.Cells) {
			x = line(a.Cells[i])
		}
		if i < len(b.Cells) {
			y = line(b.Cells[i])
		}
		if x != y {
			out = append(out, fmt.Sprintf("- %s\n+ %s", x, y))
		}
	}
	return strings.Join(out, "\n")
}

func TestRunPlanBudget(t *testing.T) {
	p := testPlan(t, []string{"fifo", "error"}, []string{"steady"}, []string{"1n1l2c1t", "2n1l1c1t"})
	f := &fakeBoot{}
	rep, err := RunPlan(t.Context(), p, Selection{Budget: DefaultBootCost + 2*p.cost(nil, p.Cells[0])}, Config{Host: Host{CPUs: 2, MemoryMB: 64 << 10}, boot: f.run})
	if err != nil {
		t.Fatal(err)
	}
	n := rep.Count()
	if len(rep.Cells) != len(p.Cells) || n[ClassSkip] != 2 || f.boots.Load() != 1 {
		t.Errorf("cells %d, classes %v, boots %d: want all 4 cells, 2 left out, 1 boot", len(rep.Cells), n, f.boots.Load())
	}
	for _, c := range rep.Cells {
		if c.Outcome == OutcomeSkipped && !strings.Contains(c.Reason, "left out by the budget") {
			t.Errorf("%s: reason %q", c.Key(), c.Reason)
		}
	}
}
