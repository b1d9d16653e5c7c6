package vmtest

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/stressng"
	"github.com/scxvm/scxvm/vmtest/check"
)

func TestNearestRankMatchesPercentile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 10, 101, 1000, 4096} {
		for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
			s := make([]uint64, n)
			for i := range s {
				s[i] = r.Uint64N(50) // many duplicates
				if n > 100 {
					s[i] = r.Uint64N(1e6)
				}
			}
			want := spec.Percentile(s, q)
			if got := nearestRank(slices.Clone(s), q); got != want {
				t.Errorf("n=%d q=%v: got %d, want %d", n, q, got, want)
			}
		}
	}
}

func TestMetricsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Metrics() {
		if m.Name == "" || seen[m.Name] || m.Unit == "" || m.Doc == "" || m.Extract == nil {
			t.Errorf("metric %+v: needs a unique name, a unit, a doc and an extractor", m)
		}
		if m.Better != HigherIsBetter && m.Better != LowerIsBetter {
			t.Errorf("metric %s: direction %v", m.Name, m.Better)
		}
		if m.Rel < 0 || m.Abs < 0 {
			t.Errorf("metric %s: negative default threshold", m.Name)
		}
		seen[m.Name] = true
		if got, ok := LookupMetric(m.Name); !ok || got.Name != m.Name {
			t.Errorf("LookupMetric(%q) = %v, %v", m.Name, got.Name, ok)
		}
	}
	if _, ok := LookupMetric("nope"); ok {
		t.Error("LookupMetric found an unknown metric")
	}
}

// run builds a scenario run of two cgroups: "a" with two cpu workers of
// units work units each, "b" with one waking worker whose latencies are
// lat.
func synthRun(name string, rep int, units uint64, lat []uint64) ScenarioResult {
	w := func(cg string, u uint64, l []uint64, delay, runs, gap uint64) check.Worker {
		return check.Worker{Cgroup: cg, Report: spec.WorkerReport{Completed: true, WorkUnits: u, ResumeLatenciesNs: l,
			SchedstatRunDelayNs: delay, SchedstatRunCount: runs, MaxGapMs: gap}}
	}
	return ScenarioResult{
		Name: name, Scheduler: "fifo", Repeat: rep, Passed: true, Duration: 2 * time.Second,
		Workers:  []check.Worker{w("a", units, nil, 1000, 10, 5), w("a", units, nil, 3000, 10, 7), w("b", 10, lat, 0, 0, 1)},
		Payloads: []PayloadResult{{Name: "sng", StressNG: []stressng.Metric{{Stressor: "cpu", OpsPerSecReal: 500}}}},
	}
}

func TestSummarize(t *testing.T) {
	lat := func(base uint64) []uint64 {
		var s []uint64
		for i := range uint64(100) {
			s = append(s, base+i)
		}
		return s
	}
	res := &Result{Scenarios: []ScenarioResult{
		synthRun("mixed", 0, 1000, lat(1000)),
		{Name: "mixed", Scheduler: "none", Baseline: true, Passed: true, Duration: 2 * time.Second},
		synthRun("mixed", 1, 3000, lat(2000)),
		synthRun("mixed", 2, 2000, lat(3000)),
	}}
	res.Scenarios[3].Passed = false
	sum := Summarize(res)
	if len(sum) != 2 || sum[0].Scheduler != "fifo" || !sum[1].Baseline {
		t.Fatalf("groups: %+v", sum)
	}
	s := sum[0]
	if s.Runs != 3 || s.Passed != 2 {
		t.Errorf("runs %d passed %d, want 3 and 2", s.Runs, s.Passed)
	}
	for _, c := range []struct {
		metric, key              string
		median, min, max, spread float64
	}{
		{"throughput", "a", 2000, 1000, 3000, 2000}, // 2 workers x units / 2 s
		{"throughput", "b", 5, 5, 5, 0},
		{"wake_p50", "b", 2049, 1049, 3049, 2000},
		{"wake_p99", "b", 2098, 1098, 3098, 2000},
		{"run_delay", "a", 200, 200, 200, 0}, // 4000 ns over 20 runs
		{"max_gap", "a", 7, 7, 7, 0},
		{"stress_ng", "sng/cpu", 500, 500, 500, 0},
	} {
		m := s.Metric(c.metric, c.key)
		if m == nil {
			t.Errorf("%s/%s missing", c.metric, c.key)
			continue
		}
		if m.Median != c.median || m.Min != c.min || m.Max != c.max || m.Spread != c.spread || len(m.Values) != 3 {
			t.Errorf("%s/%s: %+v, want median %v min %v max %v spread %v over 3 values", c.metric, c.key, m, c.median, c.min, c.max, c.spread)
		}
	}
	if m := s.Metric("wake_p50", "a"); m != nil {
		t.Errorf("cgroup a has no wake-ups but a wake_p50: %+v", m)
	}
	if len(sum[1].Metrics) != 0 {
		t.Errorf("a run without workers has metrics: %+v", sum[1].Metrics)
	}
	if got := NewMetricSummary("x", "", "", []float64{4, 1, 3, 2}).Median; got != 2.5 {
		t.Errorf("median of 4 values: %v, want 2.5", got)
	}
}

func TestConfigCompareAndRepeat(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		err  string // "" for valid
	}{
		{"none", Config{Compare: "none"}, ""},
		{"fifo against scx_simple", Config{Scheduler: spec.Scheduler{Name: "scx_simple"}, Compare: "fifo"}, ""},
		{"none against fifo", Config{Scheduler: spec.Scheduler{Name: "none"}, Compare: "fifo"}, ""},
		{"same args differ", Config{Scheduler: spec.Scheduler{Name: "scx_qmap"}, Compare: "scx_qmap", CompareArgs: []string{"-T"}}, ""},
		{"itself", Config{Compare: "fifo"}, "with itself"},
		{"none with none", Config{Scheduler: spec.Scheduler{Name: "none"}, Compare: "none"}, "with itself"},
		{"eevdf", Config{Compare: "eevdf"}, `compare: unknown value "eevdf"`},
		{"args without compare", Config{CompareArgs: []string{"-v"}}, "without a scheduler"},
		{"builtin with args", Config{Compare: "stall", CompareArgs: []string{"-v"}}, "takes no arguments"},
		{"repeat", Config{Repeat: 5}, ""},
		{"repeat negative", Config{Repeat: -1}, "repeat: -1 is out of range"},
		{"repeat too many", Config{Repeat: MaxRepeat + 1}, "out of range"},
	} {
		err := c.cfg.validate()
		var ce *ConfigError
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (!errors.As(err, &ce) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: got %v, want a ConfigError with %q", c.name, err, c.err)
		}
	}
}

// --compare with a scheduler and --repeat: the two schedulers alternate,
// each repetition is numbered, and the summary has one group per
// scheduler with every repetition.
func TestSessionCompareRepeat(t *testing.T) {
	cfg := Config{Scheduler: spec.Scheduler{Name: spec.SchedulerNone}, Compare: spec.SchedulerFIFO, Repeat: 2}
	var specs []protocol.SchedulerSpec
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		specs = append(specs, job.Scheduler)
		return true
	}))
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, res.Failure)
	}
	want := []struct {
		kind     protocol.SchedulerKind
		sched    string
		baseline bool
		rep      int
	}{
		{protocol.SchedulerNone, "none", false, 0}, {protocol.SchedulerBuiltin, "fifo", true, 0},
		{protocol.SchedulerNone, "none", false, 1}, {protocol.SchedulerBuiltin, "fifo", true, 1},
	}
	if len(specs) != len(want) || len(res.Scenarios) != len(want) {
		t.Fatalf("%d jobs, %d results, want %d", len(specs), len(res.Scenarios), len(want))
	}
	for i, w := range want {
		sr := res.Scenarios[i]
		if specs[i].Kind != w.kind || sr.Scheduler != w.sched || sr.Baseline != w.baseline || sr.Repeat != w.rep {
			t.Errorf("job %d: %s %s baseline=%v repeat=%d, want %s %s %v %d", i, specs[i].Kind, sr.Scheduler, sr.Baseline, sr.Repeat, w.kind, w.sched, w.baseline, w.rep)
		}
	}
	sum := Summarize(res)
	if len(sum) != 2 || sum[0].Runs != 2 || sum[1].Runs != 2 || sum[1].Scheduler != "fifo" {
		t.Fatalf("summary: %+v", sum)
	}
	if m := sum[0].Metric("throughput", "steady"); m == nil || len(m.Values) != 2 {
		t.Errorf("throughput summary: %+v", m)
	}
}

// A Compare scheduler that fails to load is not tried again in the
// later repetitions; the scheduler under test keeps running.
func TestSessionCompareLoadFailure(t *testing.T) {
	cfg := Config{Scheduler: spec.Scheduler{Name: spec.SchedulerNone}, Compare: spec.SchedulerError, Repeat: 2}
	jobs := 0
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		jobs++
		if job.Scheduler.Name == spec.SchedulerError {
			c.Send(&protocol.SchedEvent{JobID: job.ID, Kind: protocol.SchedLoadFailed, Scheduler: "error", Reason: "verifier rejected the program"})
			c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusSchedulerFailed, Error: "load failed"})
			return false
		}
		return true
	}))
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailLoad {
		t.Fatalf("got %v, want the comparison scheduler's load failure", err)
	}
	if jobs != 3 || len(res.Scenarios) != 4 {
		t.Fatalf("%d jobs, %d results; want 3 jobs (the second load not tried) and 4 results", jobs, len(res.Scenarios))
	}
	for i, sr := range res.Scenarios {
		if base := i%2 == 1; base != sr.Baseline || sr.Passed == base || sr.Repeat != i/2 {
			t.Errorf("result %d: %s baseline=%v passed=%v repeat=%d", i, sr.Scheduler, sr.Baseline, sr.Passed, sr.Repeat)
		}
	}
	if m := res.Scenarios[3].Failure; m == nil || !strings.Contains(m.Message, `not run: scheduler error failed to load in scenario "steady"`) {
		t.Errorf("second comparison run: %+v", m)
	}
}
