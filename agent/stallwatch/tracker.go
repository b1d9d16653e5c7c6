package stallwatch

import (
	"cmp"
	"slices"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

// Task is one runnable thread in a sample.
type Task struct {
	PID, TGID int
	Comm      string
	CPU       int
	Policy    int
	Kthread   bool
	// RunNs and Slices are the thread's cpu time and timeslice count
	// (schedstat); while they stay the same, the thread has not run.
	RunNs, Slices uint64
}

// Tracker turns samples of runnable threads into waits. A thread waits
// from the first sample that sees it runnable (after a sample where it was
// not, or where it had run since) for as long as later samples see it
// runnable with the same cpu time and timeslice count. Waits are lower
// bounds: the thread may have waited up to one sampling interval before
// the first sample saw it.
type Tracker struct {
	start     time.Time
	threshold time.Duration
	floor     time.Duration
	waiting   map[int]*wait
	longest   map[int]longest
}

// longest is a thread's longest wait and when it began.
type longest struct {
	tw    protocol.TaskWait
	since time.Time
}

type wait struct {
	task     Task
	since    time.Time
	reported bool // crossed the threshold, announced
}

// NewTracker returns a tracker whose waits' At counts from start, that
// announces waits longer than threshold and keeps those of at least
// floor.
func NewTracker(start time.Time, threshold, floor time.Duration) *Tracker {
	return &Tracker{
		start: start, threshold: threshold, floor: floor,
		waiting: map[int]*wait{}, longest: map[int]longest{},
	}
}

// Observe records a sample taken at now holding every runnable thread. It
// returns the waits that exceeded the threshold for the first time.
func (t *Tracker) Observe(now time.Time, runnable []Task) (crossed []protocol.TaskWait) {
	seen := make(map[int]bool, len(runnable))
	for _, task := range runnable {
		seen[task.PID] = true
		w := t.waiting[task.PID]
		if w == nil || w.task.TGID != task.TGID || w.task.RunNs != task.RunNs || w.task.Slices != task.Slices {
			// New, a reused pid, or it ran since the last sample.
			t.waiting[task.PID] = &wait{task: task, since: now}
			continue
		}
		w.task.CPU, w.task.Comm, w.task.Policy = task.CPU, task.Comm, task.Policy
		tw := t.taskWait(w, now)
		if tw.Waited >= t.floor {
			if prev, ok := t.longest[task.PID]; !ok || tw.Waited >= prev.tw.Waited || prev.tw.TGID != tw.TGID {
				t.longest[task.PID] = longest{tw: tw, since: w.since}
			}
		}
		if tw.Waited > t.threshold && !w.reported {
			w.reported = true
			crossed = append(crossed, tw)
		}
	}
	for pid := range t.waiting {
		if !seen[pid] {
			delete(t.waiting, pid)
		}
	}
	// Only the waits still going on are ongoing.
	for pid, l := range t.longest {
		if w := t.waiting[pid]; l.tw.Ongoing && (w == nil || !w.since.Equal(l.since)) {
			l.tw.Ongoing = false
			t.longest[pid] = l
		}
	}
	return crossed
}

func (t *Tracker) taskWait(w *wait, now time.Time) protocol.TaskWait {
	return protocol.TaskWait{
		PID: w.task.PID, TGID: w.task.TGID, Comm: w.task.Comm, CPU: w.task.CPU,
		Waited: now.Sub(w.since), At: w.since.Sub(t.start), Ongoing: true,
		Kthread: w.task.Kthread, Policy: w.task.Policy,
	}
}

// Waits returns the longest wait of each thread that waited at least the
// floor, longest first (ties by pid), at most n of them (n <= 0: all).
func (t *Tracker) Waits(n int) []protocol.TaskWait {
	out := make([]protocol.TaskWait, 0, len(t.longest))
	for _, l := range t.longest {
		out = append(out, l.tw)
	}
	slices.SortFunc(out, func(a, b protocol.TaskWait) int {
		if c := cmp.Compare(b.Waited, a.Waited); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}
