package stallwatch

import (
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

func TestTracker(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	kworker := Task{PID: 14, TGID: 14, Comm: "kworker/0:1", CPU: 0, Kthread: true, RunNs: 500, Slices: 9}
	worker := Task{PID: 301, TGID: 300, Comm: "exe", CPU: 1, RunNs: 1000, Slices: 3}
	ran := func(t Task) Task { t.RunNs += 4_000_000; t.Slices++; return t }

	tr := NewTracker(t0, ms(1000), ms(250))
	var crossed []protocol.TaskWait
	step := func(now int, tasks ...Task) {
		crossed = append(crossed, tr.Observe(at(now), tasks)...)
	}
	step(0, kworker, worker)        // both runnable: waits start
	step(250, kworker, ran(worker)) // worker ran: its wait restarts
	step(500, kworker, ran(worker)) // same counters as at 250: waits 250 ms
	step(750, kworker)              // worker sleeps
	step(1000, kworker)
	if len(crossed) != 0 {
		t.Fatalf("crossed at 1000 ms (wait == threshold): %+v", crossed)
	}
	step(1250, kworker)
	if len(crossed) != 1 || crossed[0].PID != 14 || crossed[0].Waited != ms(1250) || crossed[0].At != 0 || crossed[0].CPU != 0 || !crossed[0].Kthread {
		t.Fatalf("crossed = %+v, want kworker after 1250 ms", crossed)
	}
	moved := kworker
	moved.CPU = 1
	step(1500, moved) // still waiting, announced once only
	if len(crossed) != 1 {
		t.Fatalf("announced twice: %+v", crossed)
	}
	waits := tr.Waits(0)
	want := []protocol.TaskWait{
		{PID: 14, TGID: 14, Comm: "kworker/0:1", CPU: 1, Waited: ms(1500), At: 0, Ongoing: true, Kthread: true},
		{PID: 301, TGID: 300, Comm: "exe", CPU: 1, Waited: ms(250), At: ms(250)},
	}
	if len(waits) != len(want) {
		t.Fatalf("Waits = %+v, want %+v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d = %+v, want %+v", i, waits[i], want[i])
		}
	}
	// It runs: the wait ends and is no longer ongoing, its length kept.
	step(1750, ran(moved))
	if w := tr.Waits(1); len(w) != 1 || w[0].Ongoing || w[0].Waited != ms(1500) {
		t.Errorf("after running: %+v", w)
	}
}

func TestTrackerPidReuse(t *testing.T) {
	t0 := time.Now()
	tr := NewTracker(t0, time.Second, 0)
	a := Task{PID: 50, TGID: 50, Comm: "a"}
	b := Task{PID: 50, TGID: 49, Comm: "b"} // same tid, another process, same counters
	tr.Observe(t0, []Task{a})
	tr.Observe(t0.Add(time.Second), []Task{b})
	if c := tr.Observe(t0.Add(1500*time.Millisecond), []Task{b}); len(c) != 0 {
		t.Errorf("a reused pid inherited the old wait: %+v", c)
	}
}

func TestTrackerCap(t *testing.T) {
	t0 := time.Now()
	tr := NewTracker(t0, time.Hour, time.Millisecond)
	var tasks []Task
	for pid := 1; pid <= 40; pid++ {
		tasks = append(tasks, Task{PID: pid, TGID: pid})
	}
	tr.Observe(t0, tasks)
	// Later pids keep waiting longer.
	for i := range 40 {
		tr.Observe(t0.Add(time.Duration(i+1)*time.Millisecond), tasks[i:])
	}
	w := tr.Waits(protocol.MaxRunnableWaits)
	if len(w) != protocol.MaxRunnableWaits || w[0].PID != 40 || w[len(w)-1].PID != 40-protocol.MaxRunnableWaits+1 {
		t.Errorf("Waits(%d): %d waits, first %+v last %+v", protocol.MaxRunnableWaits, len(w), w[0], w[len(w)-1])
	}
}
