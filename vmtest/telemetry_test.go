package vmtest

import (
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// TestSessionTelemetry: the agent's readings land in the scenario's
// result with the counters' growth, and the job carries (and the result
// records) the thresholds resolved through the layers.
func TestSessionTelemetry(t *testing.T) {
	reading := func(at time.Duration, refills uint64) *spec.SchedTelemetry {
		return &spec.SchedTelemetry{At: at,
			Counters: map[string]uint64{"enable_seq": 1, "root/events/SCX_EV_REFILL_SLICE_DFL": refills},
			Values:   map[string]string{"state": "enabled", "root/ops": "scxvm_fifo"}}
	}
	var sent spec.Checks
	sc, _ := LookupScenario("steady")
	sc.Checks.MaxP99WakeLatency = 3 * time.Second
	cfg := Config{Scenarios: []spec.Scenario{sc}, Scheduler: spec.Scheduler{Checks: spec.Checks{MaxThroughputCV: 0.5}}}
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		sent = job.Scenario.Checks
		c.Send(&protocol.Progress{JobID: job.ID, At: 100 * time.Millisecond, Iterations: []uint64{10, 10, 10, 10},
			Workers:   []protocol.WorkerInfo{{Cgroup: "steady", Index: 0}, {Cgroup: "steady", Index: 1}, {Cgroup: "steady", Index: 2}, {Cgroup: "steady", Index: 3}},
			Telemetry: reading(150*time.Millisecond, 5)})
		c.Send(healthyReports(job))
		c.Send(watchSummary(job))
		c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK, SchedStateStart: "enabled", SchedStateEnd: "enabled",
			EnableSeqStart: 1, EnableSeqEnd: 1, TelemetryStart: reading(50*time.Millisecond, 2), TelemetryEnd: reading(2*time.Second, 42)})
		return false
	}))
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, res.Failure)
	}
	sr := res.Scenario("steady")
	tel := sr.Telemetry
	if tel == nil || tel.Start == nil || tel.End == nil || len(tel.Samples) != 1 {
		t.Fatalf("telemetry %+v", tel)
	}
	if d := tel.Delta; len(d) != 1 || d["root/events/SCX_EV_REFILL_SLICE_DFL"] != 40 {
		t.Errorf("delta %v, want only SCX_EV_REFILL_SLICE_DFL +40", d)
	}
	for name, c := range map[string]spec.Checks{"sent": sent, "recorded": sr.Checks} {
		if c.MaxP99WakeLatency != 3*time.Second || c.MaxThroughputCV != 0.5 || c.RateDipFor != spec.DefaultRateDipFor || c.FairnessSpreadPct != 50 {
			t.Errorf("%s checks not resolved scenario > scheduler > default: %+v", name, c)
		}
	}
}

// TestSessionDebugDump: the kernel's debug dump of an ejection is kept in
// the scheduler event and its head shown in the failure.
func TestSessionDebugDump(t *testing.T) {
	dump := "scxvm_error: root\ninit[1] triggered exit kind 1024 on CPU 0:\n  runtime error (non-existent DSQ 0x1)\n\nBacktrace:\n  scx_vexit+0x6d/0xa0"
	cfg := Config{Scheduler: spec.Scheduler{Name: spec.SchedulerError}}
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		c.Send(&protocol.SchedEvent{JobID: job.ID, Kind: protocol.SchedEjected, Scheduler: "scxvm_error", Reason: "runtime error",
			KernelLines: []string{`sched_ext: BPF scheduler "scxvm_error" disabled (runtime error)`}, Dump: dump})
		return true
	}))
	f := wantFailure(t, res, err, FailEjected, "kernel debug dump (6 lines, the first 6):", "triggered exit kind 1024", "Backtrace:")
	if got := res.Scenario("steady").SchedEvents[0].Dump; got != dump {
		t.Errorf("event dump %q, want %q", got, dump)
	}
	if strings.Count(f.Long(), "scx_vexit") != 1 {
		t.Errorf("dump shown more than once:\n%s", f.Long())
	}
}
