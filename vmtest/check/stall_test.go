package check

import (
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

func TestStalledTasks(t *testing.T) {
	final := func(waits ...TaskWait) *StallWatch {
		return &StallWatch{Final: true, Samples: 10, Waits: waits}
	}
	kw := TaskWait{PID: 14, TGID: 14, Comm: "kworker/0:1", CPU: 1, Waited: 2500 * time.Millisecond, At: 900 * time.Millisecond, Ongoing: true, Kthread: true}
	worker := TaskWait{PID: 301, TGID: 301, Comm: "exe", CPU: 0, Waited: 2100 * time.Millisecond, At: 3 * time.Second, Policy: 5}
	thread := TaskWait{PID: 7, TGID: 1, Comm: "scxvm-agent", CPU: 0, Waited: 3 * time.Second}
	workers := []protocol.WorkerInfo{{Cgroup: "w", Index: 0, PID: 300}, {Cgroup: "w", Index: 1, PID: 301}}
	for _, tc := range []struct {
		name  string
		sw    *StallWatch
		limit time.Duration
		want  []string // one substring per failure, in order
		loc   string   // cgroup of the worker the failure is located at, "" for none
	}{
		{"no report", nil, time.Second, nil, ""},
		{"nothing long", final(TaskWait{PID: 3, Comm: "x", Waited: 900 * time.Millisecond}), time.Second, nil, ""},
		{"equal to the limit passes", final(TaskWait{PID: 3, Comm: "x", Waited: time.Second}), time.Second, nil, ""},
		{"kernel thread", final(kw), 2 * time.Second,
			[]string{"task 14 (kworker/0:1, kernel thread) stayed runnable on cpu 1 for 2.5s without running, from 900ms after the job started, still waiting when the watch stopped (limit 2s)"}, ""},
		{"worker located", final(worker), 2 * time.Second, []string{"task 301 (exe, SCHED_IDLE) stayed runnable on cpu 0 for 2.1s"}, "w"},
		{"agent thread", final(thread), 2 * time.Second, []string{"task 7 (scxvm-agent, thread of 1)"}, ""},
		{"custom limit", final(kw, worker), 2200 * time.Millisecond, []string{"task 14"}, ""},
		{"watch failed", &StallWatch{Final: true, Error: "stall watch: open /proc: no such file"}, time.Second, []string{"stall watch did not run: stall watch: open /proc"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := stalledTasks(tc.sw, tc.limit, workers)
			if len(got) != len(tc.want) {
				t.Fatalf("%d failures %v, want %d", len(got), got, len(tc.want))
			}
			for i, f := range got {
				if f.Check != spec.CheckNoStalledTask || !strings.Contains(f.Message, tc.want[i]) {
					t.Errorf("failure %d = %s, want %s with %q", i, f, spec.CheckNoStalledTask, tc.want[i])
				}
				wantWorker := -1
				if tc.loc != "" {
					wantWorker = 1 // worker 301 is index 1 of cgroup w
				}
				if f.Cgroup != tc.loc || f.Worker != wantWorker {
					t.Errorf("failure %d located at %q worker %d, want %q worker %d", i, f.Cgroup, f.Worker, tc.loc, wantWorker)
				}
			}
		})
	}
}

// TestEvaluateStalledTask: the check runs with the scenario's threshold or
// the default, and Skip turns it off.
func TestEvaluateStalledTask(t *testing.T) {
	sw := &StallWatch{Final: true, Samples: 20, Waits: []TaskWait{{PID: 14, Comm: "kworker/0:1", Kthread: true, Waited: 2500 * time.Millisecond}}}
	in := func(c spec.Checks) Input {
		sc := twoCgroups()
		sc.Checks = c
		return Input{Scenario: sc, Workers: healthy(), StallWatch: sw, EnableSeqStart: -1, EnableSeqEnd: -1}
	}
	names := func(fs []Failure) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Check)
		}
		return out
	}
	if got := names(Evaluate(in(spec.Checks{}))); len(got) != 1 || got[0] != spec.CheckNoStalledTask {
		t.Errorf("default threshold (%v): failures %v, want [%s]", spec.DefaultMaxRunnableWait, got, spec.CheckNoStalledTask)
	}
	if got := Evaluate(in(spec.Checks{MaxRunnableWait: 3 * time.Second})); len(got) != 0 {
		t.Errorf("threshold 3s: failures %v", got)
	}
	if got := Evaluate(in(spec.Checks{Skip: []string{spec.CheckNoStalledTask}})); len(got) != 0 {
		t.Errorf("skipped: failures %v", got)
	}
}
