package vmtest

import (
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

func kworkerWait(waited time.Duration) protocol.TaskWait {
	return protocol.TaskWait{PID: 14, TGID: 14, Comm: "kworker/0:1", CPU: 1, Waited: waited, At: 900 * time.Millisecond, Ongoing: true, Kthread: true}
}

// TestRunnableWaitsMessages: early messages add up until the final one,
// which replaces them and is not undone by a late early one.
func TestRunnableWaitsMessages(t *testing.T) {
	js := &jobState{sr: &ScenarioResult{}}
	js.runnableWaits(&protocol.RunnableWaits{JobID: 1, Waits: []protocol.TaskWait{kworkerWait(2100 * time.Millisecond)}, Floor: 500 * time.Millisecond})
	if sw := js.sr.StallWatch; sw == nil || sw.Final || len(sw.Waits) != 1 || sw.Waits[0].Comm != "kworker/0:1" {
		t.Fatalf("after an early message: %+v", sw)
	}
	js.runnableWaits(&protocol.RunnableWaits{JobID: 1, Final: true, Floor: 500 * time.Millisecond,
		Waits: []protocol.TaskWait{kworkerWait(4 * time.Second), {PID: 301, TGID: 300, Comm: "exe", CPU: 0, Waited: 600 * time.Millisecond}},
		Stats: protocol.WatchStats{Interval: 250 * time.Millisecond, Samples: 20, Watched: 5 * time.Second, CPUTime: 250 * time.Millisecond, MaxTasks: 90, RealTime: true}})
	js.runnableWaits(&protocol.RunnableWaits{JobID: 1, Waits: []protocol.TaskWait{{PID: 99, Comm: "late", Waited: time.Hour}}})
	sw := js.sr.StallWatch
	if !sw.Final || len(sw.Waits) != 2 || sw.Waits[0].Waited != 4*time.Second || sw.Samples != 20 || !sw.RealTime {
		t.Fatalf("after the final message: %+v", sw)
	}
	if got := sw.CPUShare(); got != 0.05 {
		t.Errorf("CPUShare = %v, want 0.05", got)
	}
}

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
	in := func(c spec.Checks) checkInput {
		sc := twoCgroups()
		sc.Checks = c
		return checkInput{scenario: sc, workers: healthy(), stallWatch: sw, enableSeqStart: -1, enableSeqEnd: -1}
	}
	names := func(fs []CheckFailure) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Check)
		}
		return out
	}
	if got := names(evaluate(in(spec.Checks{}))); len(got) != 1 || got[0] != spec.CheckNoStalledTask {
		t.Errorf("default threshold (%v): failures %v, want [%s]", spec.DefaultMaxRunnableWait, got, spec.CheckNoStalledTask)
	}
	if got := evaluate(in(spec.Checks{MaxRunnableWait: 3 * time.Second})); len(got) != 0 {
		t.Errorf("threshold 3s: failures %v", got)
	}
	if got := evaluate(in(spec.Checks{Skip: []string{spec.CheckNoStalledTask}})); len(got) != 0 {
		t.Errorf("skipped: failures %v", got)
	}
}
