package vmtest

import (
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
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
