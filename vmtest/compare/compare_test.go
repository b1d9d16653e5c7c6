package compare

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

// run is a synthetic scenario run: cgroup "hogs" with two CpuSpin workers
// doing units work units each in 2 s, cgroup "wakers" with one PipeIo
// worker whose wake-up latencies are all lat ns.
type run struct {
	name     string
	units    uint64
	lat      uint64
	failed   bool
	baseline bool
}

func (r run) result() vmtest.ScenarioResult {
	var lats spec.Samples
	for range 100 {
		lats = append(lats, r.lat)
	}
	w := func(cg string, kind spec.WorkKind, set int, units uint64, l spec.Samples) check.Worker {
		return check.Worker{Cgroup: cg, Kind: kind, Set: set, Report: spec.WorkerReport{Completed: true, WorkUnits: units, ResumeLatenciesNs: l, MaxGapMs: 5}}
	}
	sched := "scx_new"
	if r.baseline {
		sched = "none"
	}
	return vmtest.ScenarioResult{
		Name: r.name, Scheduler: sched, Baseline: r.baseline, Passed: !r.failed, Duration: 2 * time.Second,
		Workers: []check.Worker{w("hogs", spec.CpuSpin, 0, r.units, nil), w("hogs", spec.CpuSpin, 0, r.units, nil), w("wakers", spec.PipeIo, 1, 100, lats)},
	}
}

func result(runs ...run) *vmtest.Result {
	res := &vmtest.Result{Topology: "1n1l2c1t", Accel: "tcg", Scheduler: "scx_new"}
	for _, r := range runs {
		res.Scenarios = append(res.Scenarios, r.result())
	}
	return res
}

// change returns the change of metric/key in scenario name, or nil.
func (c *Comparison) change(name, metric, key string) *Change {
	for _, s := range c.Scenarios {
		if s.Name != name {
			continue
		}
		for i := range s.Changes {
			if s.Changes[i].Metric == metric && s.Changes[i].Key == key {
				return &s.Changes[i]
			}
		}
	}
	return nil
}

func TestCompare(t *testing.T) {
	base := run{name: "steady", units: 1000, lat: 100_000}
	with := func(f func(*run)) run { r := base; f(&r); return r }
	type want struct {
		metric, key string
		verdict     Verdict
	}
	for _, c := range []struct {
		name      string
		old, new  *vmtest.Result
		opt       Options
		want      []want
		regressed bool
	}{
		{
			name: "identical", old: result(base), new: result(base),
			want: []want{{"throughput", "hogs", Unchanged}, {"throughput", "wakers", Unchanged}, {"wake_p50", "wakers", Unchanged}, {"wake_p99", "wakers", Unchanged}, {"max_gap", "hogs", Unchanged}},
		},
		{
			name: "throughput regression", old: result(base), new: result(with(func(r *run) { r.units = 700 })),
			want: []want{{"throughput", "hogs", Regression}, {"throughput", "wakers", Unchanged}}, regressed: true,
		},
		{
			name: "throughput improvement", old: result(base), new: result(with(func(r *run) { r.units = 1300 })),
			want: []want{{"throughput", "hogs", Improvement}},
		},
		{
			name: "below the relative threshold", old: result(base), new: result(with(func(r *run) { r.units = 950 })),
			want: []want{{"throughput", "hogs", Unchanged}},
		},
		{
			name: "latency regression", old: result(base), new: result(with(func(r *run) { r.lat = 300_000 })),
			want: []want{{"wake_p50", "wakers", Regression}, {"wake_p99", "wakers", Regression}}, regressed: true,
		},
		{
			name: "latency improvement", old: result(base), new: result(with(func(r *run) { r.lat = 30_000 })),
			want: []want{{"wake_p99", "wakers", Improvement}},
		},
		{
			// 2 us -> 4 us doubles but stays under the absolute threshold.
			name: "below the absolute threshold", old: result(with(func(r *run) { r.lat = 2000 })), new: result(with(func(r *run) { r.lat = 4000 })),
			want: []want{{"wake_p50", "wakers", Unchanged}, {"wake_p99", "wakers", Unchanged}},
		},
		{
			// Medians 1000 -> 800 (-20%), but OLD's runs spread over 600.
			name: "noise inside the spread",
			old:  result(with(func(r *run) { r.units = 700 }), base, with(func(r *run) { r.units = 1300 })),
			new:  result(with(func(r *run) { r.units = 750 }), with(func(r *run) { r.units = 800 }), with(func(r *run) { r.units = 850 })),
			want: []want{{"throughput", "hogs", Noise}},
		},
		{
			// The same medians, but both sides' runs are tight.
			name: "outside a small spread",
			old:  result(with(func(r *run) { r.units = 990 }), base, with(func(r *run) { r.units = 1010 })),
			new:  result(with(func(r *run) { r.units = 790 }), with(func(r *run) { r.units = 800 }), with(func(r *run) { r.units = 810 })),
			want: []want{{"throughput", "hogs", Regression}}, regressed: true,
		},
		{
			name: "threshold override", old: result(base), new: result(with(func(r *run) { r.units = 700 })),
			opt:  Options{Thresholds: map[string]Threshold{"throughput": {Rel: 0.5}}},
			want: []want{{"throughput", "hogs", Unchanged}},
		},
		{
			name: "a check that now fails", old: result(base), new: result(with(func(r *run) { r.failed = true })),
			regressed: true,
		},
		{
			name: "baseline runs are not compared",
			old:  result(base, run{name: "steady", units: 5000, baseline: true}),
			new:  result(base, run{name: "steady", units: 10, baseline: true, failed: true}),
			want: []want{{"throughput", "hogs", Unchanged}},
		},
		{
			name: "missing scenario with Common",
			old:  result(base, run{name: "mixed", units: 10}), new: result(base),
			opt:  Options{Common: true},
			want: []want{{"throughput", "hogs", Unchanged}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Compare(c.old, c.new, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				ch := got.change("steady", w.metric, w.key)
				if ch == nil {
					t.Errorf("no change for %s/%s", w.metric, w.key)
					continue
				}
				if ch.Verdict != w.verdict {
					t.Errorf("%s/%s: %s (old %+v new %+v), want %s", w.metric, w.key, ch.Verdict, ch.Old, ch.New, w.verdict)
				}
			}
			if got.Regressed() != c.regressed {
				t.Errorf("Regressed() = %v, want %v: %+v", got.Regressed(), c.regressed, got.Scenarios)
			}
		})
	}
}

func TestCompareScenarioVerdicts(t *testing.T) {
	ok := run{name: "steady", units: 1000, lat: 1000}
	bad := ok
	bad.failed = true
	got, err := Compare(result(ok, ok), result(ok, bad), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := got.Scenarios[0]
	if s.Verdict != Regression || s.OldRuns != 2 || s.OldPassed != 2 || s.NewPassed != 1 {
		t.Errorf("one failed repetition of two: %+v", s)
	}
	got, _ = Compare(result(bad), result(ok), Options{})
	if v := got.Scenarios[0].Verdict; v != Improvement || got.Regressed() {
		t.Errorf("failed then passed: %s, regressed %v", v, got.Regressed())
	}
	if n := got.Count(Improvement); n != 1 {
		t.Errorf("Count(Improvement) = %d, want 1", n)
	}
}

func TestCompareOnlyInOne(t *testing.T) {
	base := run{name: "steady", units: 1000, lat: 1000}
	// A cgroup whose workers took no wake-up samples has no latency.
	res := result(base)
	res.Scenarios[0].Workers[2].Report.ResumeLatenciesNs = nil
	got, err := Compare(result(base), res, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ch := got.change("steady", "wake_p99", "wakers"); ch == nil || ch.Verdict != OnlyInOld || ch.New != nil {
		t.Errorf("wake_p99 of a cgroup without samples in NEW: %+v", ch)
	}
	got, _ = Compare(res, result(base), Options{})
	if ch := got.change("steady", "wake_p99", "wakers"); ch == nil || ch.Verdict != OnlyInNew || got.Regressed() {
		t.Errorf("wake_p99 only in NEW: %+v", ch)
	}
}

func TestCompareIncompatible(t *testing.T) {
	steady := run{name: "steady", units: 1000, lat: 1000}
	mixed := run{name: "mixed", units: 1000, lat: 1000}
	io := run{name: "io", units: 1000, lat: 1000}
	topo := result(steady)
	topo.Topology = "1n1l4c1t"
	kvm := result(steady)
	kvm.Accel = "kvm"
	longer := result(steady)
	longer.Scenarios[0].Duration = 3 * time.Second
	moreWorkers := result(steady)
	moreWorkers.Scenarios[0].Workers = append(moreWorkers.Scenarios[0].Workers, moreWorkers.Scenarios[0].Workers[0])
	renamed := result(steady)
	renamed.Scenarios[0].Workers[2].Cgroup = "pingers"
	for _, c := range []struct {
		name     string
		old, new *vmtest.Result
		opt      Options
		field    string
		msg      []string
	}{
		{"missing scenario", result(steady, mixed), result(steady), Options{}, "scenarios", []string{"scenarios: mixed only in old (compare the common ones"}},
		{"added scenario", result(steady), result(steady, io), Options{}, "scenarios", []string{"scenarios: io only in new ("}},
		{"different scenario sets", result(steady, mixed), result(steady, io), Options{}, "scenarios", []string{"mixed only in old, io only in new"}},
		{"nothing in common, even with Common", result(mixed), result(io), Options{Common: true}, "scenarios", []string{"mixed only in old, io only in new (none in common)"}},
		{"empty results", &vmtest.Result{}, result(steady), Options{}, "scenarios", []string{"old has no scenario results"}},
		{"both empty", &vmtest.Result{}, &vmtest.Result{}, Options{}, "scenarios", []string{"old has no scenario results; scenarios: new has no scenario results"}},
		{"topology", result(steady), topo, Options{}, "topology", []string{"old 1n1l2c1t, new 1n1l4c1t"}},
		{"accelerator", result(steady), kvm, Options{}, "accel", []string{"old tcg, new kvm"}},
		{"duration", result(steady), longer, Options{}, "scenario steady: duration", []string{"old 2s, new 3s"}},
		{"workers", result(steady), moreWorkers, Options{}, "scenario steady: workers", []string{"hogs: 2 CpuSpin", "hogs: 3 CpuSpin"}},
		{"cgroups", result(steady), renamed, Options{}, "scenario steady: workers", []string{"wakers: 1 PipeIo", "pingers: 1 PipeIo"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compare(c.old, c.new, c.opt)
			var ie *IncompatibleError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an IncompatibleError", err)
			}
			found := false
			for _, d := range ie.Differences {
				found = found || d.Field == c.field
			}
			if !found {
				t.Errorf("differences %+v lack field %q", ie.Differences, c.field)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q lacks %q", err, m)
				}
			}
		})
	}
}

func TestCompareBadThreshold(t *testing.T) {
	r := result(run{name: "steady", units: 1})
	for _, c := range []struct {
		opt Options
		msg string
	}{
		{Options{Thresholds: map[string]Threshold{"speed": {Rel: 0.1}}}, `unknown metric "speed"`},
		{Options{Thresholds: map[string]Threshold{"throughput": {Rel: -0.1}}}, "threshold of throughput: relative threshold -0.1 is out of range"},
		{Options{Thresholds: map[string]Threshold{"wake_p99": {Abs: -1}}}, "threshold of wake_p99: absolute threshold -1 is out of range"},
	} {
		if _, err := Compare(r, r, c.opt); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("got %v, want %q", err, c.msg)
		}
	}
}

func TestParseThreshold(t *testing.T) {
	p99, _ := vmtest.LookupMetric("wake_p99")
	for _, c := range []struct {
		in   string
		name string
		want Threshold
		err  string
	}{
		{in: "throughput=5%", name: "throughput", want: Threshold{Rel: 0.05}},
		{in: "throughput=0.2", name: "throughput", want: Threshold{Rel: 0.2}},
		{in: "wake_p99=20%,50us", name: "wake_p99", want: Threshold{Rel: 0.2, Abs: 50e3}},
		{in: "wake_p99=,1000", name: "wake_p99", want: Threshold{Rel: p99.Rel, Abs: 1000}},
		{in: "max_gap=,0.1s", name: "max_gap", want: Threshold{Rel: 0.5, Abs: 100}},
		{in: "throughput", err: "want METRIC=REL[,ABS]"},
		{in: "speed=5%", err: `unknown metric "speed"`},
		{in: "throughput=fast", err: `relative part "fast" is no number`},
		{in: "throughput=-5%", err: "out of range"},
		{in: "throughput=2000%", err: "out of range"},
		{in: "throughput=5", err: "relative part 5 is a fraction of the old value (500%); write 5% for 5 percent, or 0.05"},
		{in: "wake_p99=,soon", err: `"soon" is neither a number of ns nor a duration`},
		{in: "throughput=,lots", err: `"lots" is no number of units/s`},
		{in: "wake_p50=,-3us", err: "absolute threshold -3000 is out of range"},
	} {
		name, got, err := ParseThreshold(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || name != c.name || got != c.want {
			t.Errorf("%q: got %s %+v %v, want %s %+v", c.in, name, got, err, c.name, c.want)
		}
	}
}
