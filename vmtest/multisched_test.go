package vmtest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// One boot, a different scheduler per scenario: each job carries its
// scenario's scheduler, the results are named after it, and a load failure
// of one does not stop the next.
func TestSessionSchedulerPerScenario(t *testing.T) {
	steady, _ := LookupScenario("steady")
	pingpong, _ := LookupScenario("pingpong")
	withSched := func(sc spec.Scenario, sched spec.Scheduler) spec.Scenario {
		sc.Scheduler = &sched
		return sc
	}
	cfg := Config{
		RestartScheduler: true,
		Scenarios: []spec.Scenario{
			withSched(steady, spec.Scheduler{Name: spec.SchedulerFIFO}),
			withSched(pingpong, spec.Scheduler{Name: spec.SchedulerFIFO}),
			withSched(steady, spec.Scheduler{Name: spec.SchedulerError}),
			steady0(t), // no override: Config.Scheduler (none)
		},
		Scheduler: spec.Scheduler{Name: spec.SchedulerNone},
	}
	var specs []protocol.SchedulerSpec
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		specs = append(specs, job.Scheduler)
		if job.Scheduler.Name == spec.SchedulerError {
			c.Send(&protocol.SchedEvent{JobID: job.ID, Kind: protocol.SchedLoadFailed, Scheduler: "error", Reason: "verifier rejected the program"})
			c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusSchedulerFailed, Error: "load failed"})
			return false
		}
		return true
	}))
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailLoad {
		t.Fatalf("got %v, want the load failure of the third scenario", err)
	}
	wantKinds := []protocol.SchedulerSpec{
		{Kind: protocol.SchedulerBuiltin, Name: spec.SchedulerFIFO},
		{Kind: protocol.SchedulerBuiltin, Name: spec.SchedulerFIFO},
		{Kind: protocol.SchedulerBuiltin, Name: spec.SchedulerError},
		{Kind: protocol.SchedulerNone},
	}
	if len(specs) != len(wantKinds) {
		t.Fatalf("got %d jobs, want %d", len(specs), len(wantKinds))
	}
	for i, w := range wantKinds {
		if specs[i].Kind != w.Kind || specs[i].Name != w.Name {
			t.Errorf("job %d: scheduler %+v, want %s %s", i, specs[i], w.Kind, w.Name)
		}
		if w.Kind != protocol.SchedulerNone && !specs[i].Restart {
			t.Errorf("job %d: Restart not set", i)
		}
	}
	wantRes := []struct {
		name, sched string
		passed      bool
	}{{"steady", "fifo", true}, {"pingpong", "fifo", true}, {"steady", "error", false}, {"steady", "none", true}}
	if len(res.Scenarios) != len(wantRes) {
		t.Fatalf("got %d scenario results, want %d", len(res.Scenarios), len(wantRes))
	}
	for i, w := range wantRes {
		sr := res.Scenarios[i]
		if sr.Name != w.name || sr.Scheduler != w.sched || sr.Passed != w.passed {
			t.Errorf("result %d: %s/%s passed=%v, want %s/%s passed=%v", i, sr.Name, sr.Scheduler, sr.Passed, w.name, w.sched, w.passed)
		}
	}
	if f := res.Scenarios[2].Failure; f == nil || f.Kind != FailLoad {
		t.Errorf("scenario 2 failure %v, want %s", f, FailLoad)
	}
}

func steady0(t *testing.T) spec.Scenario {
	t.Helper()
	s, err := LookupScenario("steady")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigScenarioSchedulerValidation(t *testing.T) {
	steady := steady0(t)
	dup := steady
	dup.Scheduler = &spec.Scheduler{Name: spec.SchedulerFIFO}
	cfg := Config{Scenarios: []spec.Scenario{steady, dup}}
	// steady under the default fifo and steady under an explicit fifo
	// are the same run twice.
	if err := cfg.validate(); err == nil {
		t.Error("same scenario and scheduler twice: no error")
	}
	dup.Scheduler = &spec.Scheduler{Name: spec.SchedulerStall}
	cfg = Config{Scenarios: []spec.Scenario{steady, dup}}
	if err := cfg.validate(); err != nil {
		t.Errorf("same scenario under two schedulers: %v", err)
	}
	dup.Scheduler = &spec.Scheduler{Name: spec.SchedulerFIFO, Args: []string{"-v"}}
	cfg = Config{Scenarios: []spec.Scenario{dup}}
	var ce *ConfigError
	if err := cfg.validate(); !errors.As(err, &ce) {
		t.Errorf("built-in with args: got %v, want a ConfigError", err)
	}
	cfg = Config{Scheduler: spec.Scheduler{Name: spec.SchedulerNone}, Scenarios: []spec.Scenario{steady}}
	if cfg.needsSchedExt() {
		t.Error("needsSchedExt with only none")
	}
	steady.Scheduler = &spec.Scheduler{Name: "scx_simple"}
	cfg.Scenarios = append(cfg.Scenarios, steady)
	if !cfg.needsSchedExt() {
		t.Error("needsSchedExt false with a scx_simple scenario")
	}
}

// An ejection the agent noticed only after the job ended arrives during
// the next job, stamped with the job whose scheduler was ejected: it is
// filed with the previous scenario, not with the next scheduler.
func TestSessionLateEjectionOfPreviousScheduler(t *testing.T) {
	steady := steady0(t)
	second := steady
	second.Scheduler = &spec.Scheduler{Name: spec.SchedulerStall}
	cfg := Config{Scenarios: []spec.Scenario{steady, second}}
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		if job.Scheduler.Name == spec.SchedulerStall {
			c.Send(&protocol.SchedEvent{JobID: job.ID - 1, Kind: protocol.SchedEjected, Scheduler: "fifo", Reason: "scx_bpf_error",
				KernelLines: []string{`sched_ext: BPF scheduler "fifo" disabled (scx_bpf_error)`, "sched_ext: fifo: top_q overflow"}})
			c.Send(&protocol.SchedEvent{JobID: job.ID, Kind: protocol.SchedAttached, Scheduler: "stall"})
		}
		return true
	}))
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailEjected || f.Scenario != "steady" || !strings.Contains(f.Message, `"fifo" (scx_bpf_error)`) {
		t.Fatalf("got %v, want the ejection of fifo in the first scenario", err)
	}
	if len(res.Scenarios) != 2 {
		t.Fatalf("got %d results", len(res.Scenarios))
	}
	first, next := res.Scenarios[0], res.Scenarios[1]
	if first.Passed || first.Failure == nil || first.Failure.Kind != FailEjected || first.Scheduler != "fifo" {
		t.Errorf("first scenario: passed=%v failure=%v", first.Passed, first.Failure)
	}
	if !next.Passed || next.Failure != nil {
		t.Errorf("second scenario (stall, attached): passed=%v failure=%v", next.Passed, next.Failure)
	}
	for _, e := range next.SchedEvents {
		if e.Kind == "ejected" {
			t.Errorf("the ejection stayed with the second scenario: %+v", next.SchedEvents)
		}
	}
}

// Each scheduler of a compare run is judged by its own layer: the
// scheduler under test by Scheduler.Checks, the Compare one (the kernel's
// EEVDF here) by CompareChecks.
func TestSessionCompareChecks(t *testing.T) {
	sc := steady0(t)
	sc.Checks = spec.Checks{}
	cfg := Config{
		Scenarios:     []spec.Scenario{sc},
		Scheduler:     spec.Scheduler{Name: spec.SchedulerFIFO, Checks: spec.Checks{MaxGap: 3 * time.Second}},
		Compare:       spec.SchedulerNone,
		CompareChecks: spec.Checks{MaxGap: 4 * time.Second},
	}
	res, err := runSession(t, cfg, serveJobs(func(*protocol.Job, *protocol.Conn) bool { return true }))
	if res == nil {
		t.Fatal(err)
	}
	want := map[bool]time.Duration{false: 3 * time.Second, true: 4 * time.Second}
	if len(res.Scenarios) != 2 {
		t.Fatalf("%d scenario results, want the scheduler's and the baseline's", len(res.Scenarios))
	}
	for _, sr := range res.Scenarios {
		if sr.Checks.MaxGap != want[sr.Baseline] || sr.CheckSources[spec.CheckMaxGap] != "--check or Scheduler.Checks" {
			t.Errorf("%s (baseline %v): max_gap %v from %q, want %v from the scheduler's layer", sr.Scheduler, sr.Baseline, sr.Checks.MaxGap, sr.CheckSources[spec.CheckMaxGap], want[sr.Baseline])
		}
	}
}
