package check

import (
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// spinner returns a healthy completed report.
func spinner(idx int, cpus ...int) spec.WorkerReport {
	return spec.WorkerReport{
		Index: idx, TID: 100 + idx, Completed: true,
		Iterations: 1000, WorkUnits: 1024000,
		CPUTimeNs: uint64(time.Second), WallTimeNs: uint64(2 * time.Second),
		MaxGapMs: 30, CPUsUsed: cpus,
	}
}

func twoCgroups() spec.Scenario {
	return spec.Scenario{Name: "t",
		Cgroups: []spec.Cgroup{
			{Name: "a", CPUs: "0", Workloads: []spec.WorkloadConfig{{NumWorkers: 2}}},
			{Name: "b", CPUs: "1", Workloads: []spec.WorkloadConfig{{NumWorkers: 2}}},
		}}
}

func healthy() []Worker {
	return []Worker{
		{Cgroup: "a", Set: 0, Kind: spec.CpuSpin, Report: spinner(0, 0)},
		{Cgroup: "a", Set: 0, Kind: spec.CpuSpin, Report: spinner(1, 0)},
		{Cgroup: "b", Set: 1, Kind: spec.CpuSpin, Report: spinner(0, 1)},
		{Cgroup: "b", Set: 1, Kind: spec.CpuSpin, Report: spinner(1, 1)},
	}
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Input)
		want []string // "check: substring", in order; nil means pass
	}{
		{"healthy", func(*Input) {}, nil},
		{"starved", func(in *Input) { in.Workers[1].Report.Iterations = 0 }, []string{"not_starved: made no progress"}},
		{"isolation", func(in *Input) { in.Workers[2].Report.CPUsUsed = []int{0, 1} }, []string{"isolation: cpus 0 outside its cpuset 1"}},
		{"isolation after resize", func(in *Input) {
			in.Scenario.Steps = []spec.Step{{At: time.Second, Action: spec.StepSetCpuset, Cgroup: "b", CPUs: "0-1"}}
			in.Workers[2].Report.CPUsUsed = []int{0, 1}
		}, nil},
		{"isolation after swap", func(in *Input) {
			in.Scenario.Steps = []spec.Step{{At: time.Second, Action: spec.StepSwapCpusets, Cgroup: "a", Target: "b"}}
			in.Workers[0].Report.CPUsUsed = []int{0, 1}
			in.Workers[3].Report.CPUsUsed = []int{0, 1}
		}, nil},
		{"isolation after move", func(in *Input) {
			in.Scenario.Steps = []spec.Step{{At: time.Second, Action: spec.StepMoveTasks, Cgroup: "a", Target: "b"}}
			in.Workers[0].Report.CPUsUsed = []int{0, 1}
			in.Workers[3].Report.CPUsUsed = []int{0, 1} // b never had cpu 0
		}, []string{"isolation: cpus 0 outside its cpuset 1"}},
		{"unrestricted cgroup", func(in *Input) {
			in.Scenario.Cgroups[1].CPUs = ""
			in.Workers[2].Report.CPUsUsed = []int{0, 1}
		}, nil},
		{"stall", func(in *Input) {
			in.Workers[0].Report.MaxGapMs = 2500
			in.Workers[0].Report.MaxGapCPU = 1
		}, []string{"max_gap: stalled for 2.5s (limit 2s) on cpu 1"}},
		{"stall threshold override", func(in *Input) {
			in.Workers[0].Report.MaxGapMs = 2500
			in.Scenario.Checks.MaxGap = 3 * time.Second
		}, nil},
		{"unfair", func(in *Input) { in.Workers[1].Report.CPUTimeNs = uint64(800 * time.Millisecond) }, []string{"fairness: cpu time spread 20.0% above 15.0% in workload set 0"}},
		{"unfair but raised", func(in *Input) {
			in.Workers[1].Report.CPUTimeNs = uint64(800 * time.Millisecond)
			in.Scenario.Checks.FairnessSpreadPct = 25
		}, nil},
		{"unfair skipped", func(in *Input) {
			in.Workers[1].Report.CPUTimeNs = uint64(800 * time.Millisecond)
			in.Scenario.Checks.Skip = []string{spec.CheckFairness}
		}, nil},
		{"too little cpu to judge fairness", func(in *Input) {
			for i := range in.Workers[:2] {
				in.Workers[i].Report.CPUTimeNs = uint64(30 * time.Millisecond)
			}
			in.Workers[1].Report.CPUTimeNs = uint64(9 * time.Millisecond)
		}, nil},
		{"unfair at the floor", func(in *Input) {
			in.Workers[0].Report.CPUTimeNs = uint64(FairnessMinCPU)
			in.Workers[1].Report.CPUTimeNs = uint64(FairnessMinCPU / 2)
		}, []string{"fairness: cpu time spread 50.0% above 15.0% in workload set 0"}},
		{"messenger excluded from fairness", func(in *Input) {
			in.Workers[1].Report.CPUTimeNs = uint64(100 * time.Millisecond)
			in.Workers[1].Report.IsMessenger = true
		}, nil},
		{"crash", func(in *Input) {
			in.Workers[3].Report.Completed = false
			in.Workers[3].Report.Exit = spec.ExitInfo{Kind: spec.ExitSignaled, Signal: 9}
		}, []string{"no_worker_crash: did not report: killed by signal 9"}},
		{"ejected", func(in *Input) {
			in.SchedFailure = `scheduler "fifo" ejected: runnable task stall`
		}, []string{"scheduler_attached: ejected: runnable task stall"}},
		{"ejection ignored without scheduler", func(in *Input) {
			in.Sched = false
			in.SchedFailure = "x"
		}, nil},
		{"enable_seq", func(in *Input) { in.EnableSeqEnd = 2 }, []string{"scheduler_attached: enable_seq changed from 1 to 2"}},
		{"kernel warning", func(in *Input) {
			in.KernelLog = []string{"ok line", "WARNING: CPU: 1 PID: 0 at kernel/sched/ext.c:123 foo"}
		}, []string{"kernel_clean: kernel warning: WARNING: CPU: 1"}},
		{"incomplete", func(in *Input) { in.Incomplete = "job timed out" }, []string{"job_completed: job timed out"}},
		{"p99", func(in *Input) {
			in.Scenario.Checks.MaxP99WakeLatency = time.Millisecond
			lat := make(spec.Samples, 100)
			for i := range lat {
				lat[i] = uint64(i) * uint64(50*time.Microsecond)
			}
			in.Workers[0].Report.ResumeLatenciesNs = lat
		}, []string{"p99_wake_latency: p99 wake latency 4.9ms above 1ms"}},
		{"cv", func(in *Input) {
			in.Scenario.Checks.MaxWakeLatencyCV = 0.5
			in.Workers[0].Report.ResumeLatenciesNs = spec.Samples{1, 1, 1, 100}
		}, []string{"wake_latency_cv: wake latency CV 1.66 above 0.50"}},
		{"iteration rate", func(in *Input) {
			in.Scenario.Checks.MinIterationRate = 600
		}, []string{"min_iteration_rate: 500.0 iterations/s below 600.0", "min_iteration_rate", "min_iteration_rate", "min_iteration_rate"}},
		{"migration ratio", func(in *Input) {
			in.Scenario.Checks.MaxMigrationRatio = 0.1
			in.Workers[2].Report.MigrationCount = 200
		}, []string{"max_migration_ratio: 0.200 migrations per iteration above 0.100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Scenario: twoCgroups(), Workers: healthy(), Sched: true, EnableSeqStart: 1, EnableSeqEnd: 1}
			tc.edit(&in)
			got := Evaluate(in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d failures %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				check, sub, _ := strings.Cut(w, ": ")
				if got[i].Check != check || !strings.Contains(got[i].Message, sub) {
					t.Errorf("failure %d = %s, want %s containing %q", i, got[i], check, sub)
				}
			}
		})
	}
}

func TestPayloadVerdict(t *testing.T) {
	zero, three := 0, 3
	for _, tc := range []struct {
		name string
		p    Payload
		want string
	}{
		{"does not count", Payload{Name: "p", ExitCode: &three}, ""},
		{"expected", Payload{Name: "p", ExpectExit: &zero, ExitCode: &zero}, ""},
		{"expected non-zero", Payload{Name: "p", ExpectExit: &three, ExitCode: &three}, ""},
		{"other status", Payload{Name: "p", ExpectExit: &zero, ExitCode: &three}, "exited 3 (expect_exit 0)"},
		{"timed out", Payload{Name: "p", ExpectExit: &zero, Signal: 9, TimedOut: true, Duration: 3 * time.Second}, "timed out after 3s and was killed"},
		{"signal", Payload{Name: "p", ExpectExit: &zero, Signal: 11, Duration: time.Second}, "killed by signal 11 (segmentation fault)"},
		{"not started", Payload{Name: "p", ExpectExit: &zero, Error: "start p: /p: no such file in the guest"}, "could not start: start p: /p: no such file"},
		{"no result", Payload{Name: "p", ExpectExit: &zero, Missing: true}, "has no result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.Verdict()
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Verdict() = %q, want %q", got, tc.want)
			}
			fails := Evaluate(Input{Payloads: []Payload{tc.p}})
			if (len(fails) == 1 && fails[0].Check == spec.CheckPayloadExit) != (tc.want != "") {
				t.Errorf("Evaluate = %v", fails)
			}
			skipped := Evaluate(Input{Scenario: spec.Scenario{Checks: spec.Checks{Skip: []string{spec.CheckPayloadExit}}}, Payloads: []Payload{tc.p}})
			if len(skipped) != 0 {
				t.Errorf("Evaluate with payload_exit skipped = %v", skipped)
			}
		})
	}
}
