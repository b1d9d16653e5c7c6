package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// StallWatch is what the guest-wide stall watch saw during a scenario:
// the tasks of the guest (workers, kernel threads, the agent) that stayed
// runnable without running, and what the watch cost. Check
// no_stalled_task fails for every wait above Checks.MaxRunnableWait.
type StallWatch struct {
	// Waits are the longest waits, longest first, one per task, each at
	// least Floor (a quarter of the threshold); at most 16.
	Waits []TaskWait    `json:"waits,omitempty"`
	Floor time.Duration `json:"floor_ns,omitempty"`
	// Final is false when the guest's summary never came: Waits then
	// holds only the waits announced as they crossed the threshold.
	Final bool `json:"final"`
	// Interval is the sampling period; Samples were taken over Watched.
	Interval time.Duration `json:"interval_ns,omitempty"`
	Samples  int           `json:"samples,omitempty"`
	Watched  time.Duration `json:"watched_ns,omitempty"`
	// CPUTime is the guest cpu time the watch used; MaxTasks the most
	// threads one sample read.
	CPUTime  time.Duration `json:"cpu_time_ns,omitempty"`
	MaxTasks int           `json:"max_tasks,omitempty"`
	// RealTime says the watch ran at SCHED_FIFO, out of sched_ext's reach.
	RealTime bool `json:"real_time,omitempty"`
	// Error says why the watch did not run or stopped early.
	Error string `json:"error,omitempty"`
}

// CPUShare is the share of one cpu the watch used while it ran.
func (w *StallWatch) CPUShare() float64 {
	if w == nil || w.Watched <= 0 {
		return 0
	}
	return float64(w.CPUTime) / float64(w.Watched)
}

// TaskWait is one task's longest stay runnable without running.
type TaskWait struct {
	// PID is the thread id, TGID its process, Comm its name.
	PID  int    `json:"pid"`
	TGID int    `json:"tgid,omitempty"`
	Comm string `json:"comm"`
	// CPU is the cpu whose runqueue it waited on.
	CPU int `json:"cpu"`
	// Waited is how long it waited at least (the watch samples, so the
	// true wait is longer by up to one interval); At is when the wait
	// began, since the job was sent to the guest.
	Waited time.Duration `json:"waited_ns"`
	At     time.Duration `json:"at_ns"`
	// Ongoing says it was still waiting when the watch stopped.
	Ongoing bool `json:"ongoing,omitempty"`
	// Kthread marks a kernel thread; Policy is its scheduling policy
	// number (0 normal, 1 fifo, 2 rr, 3 batch, 5 idle, 6 deadline, 7 ext).
	Kthread bool `json:"kthread,omitempty"`
	Policy  int  `json:"policy,omitempty"`
}

// String describes the wait for a check failure.
func (w TaskWait) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "task %d (%s", w.PID, w.Comm)
	switch {
	case w.Kthread:
		b.WriteString(", kernel thread")
	case w.TGID != 0 && w.TGID != w.PID:
		fmt.Fprintf(&b, ", thread of %d", w.TGID)
	}
	if p := policyName(w.Policy); p != "" {
		b.WriteString(", " + p)
	}
	fmt.Fprintf(&b, ") stayed runnable on cpu %d for %v without running, from %v after the job started",
		w.CPU, w.Waited.Round(time.Millisecond), w.At.Round(time.Millisecond))
	if w.Ongoing {
		b.WriteString(", still waiting when the watch stopped")
	}
	return b.String()
}

// policyName names the policies other than SCHED_NORMAL and SCHED_EXT.
func policyName(p int) string {
	switch p {
	case 1:
		return "SCHED_FIFO"
	case 2:
		return "SCHED_RR"
	case 3:
		return "SCHED_BATCH"
	case 5:
		return "SCHED_IDLE"
	case 6:
		return "SCHED_DEADLINE"
	}
	return ""
}

// stalledTasks judges the stall watch: one failure per task that waited
// longer than limit, located at its worker when it is one; and one when
// the watch could not run at all.
func stalledTasks(sw *StallWatch, limit time.Duration, workers []protocol.WorkerInfo) []Failure {
	if sw == nil {
		return nil
	}
	var out []Failure
	if sw.Error != "" && sw.Samples == 0 {
		out = append(out, Failure{Check: spec.CheckNoStalledTask, Worker: -1,
			Message: "the guest's stall watch did not run: " + sw.Error})
	}
	for _, w := range sw.Waits {
		if w.Waited <= limit {
			continue
		}
		f := Failure{Check: spec.CheckNoStalledTask, Worker: -1,
			Message: fmt.Sprintf("%s (limit %v)", w, limit)}
		for _, wi := range workers {
			if wi.PID != 0 && (wi.PID == w.PID || wi.PID == w.TGID) {
				f.Cgroup, f.Worker = wi.Cgroup, wi.Index
				break
			}
		}
		out = append(out, f)
	}
	return out
}
