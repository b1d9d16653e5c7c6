package protocol

import "time"

// RunnableWaits is what the agent's guest-wide stall watch saw during a
// job: tasks of the guest (workers, kernel threads, the agent itself) that
// stayed runnable without running. The agent sends one with Final unset as
// soon as a task's wait exceeds the job's Checks.MaxRunnableWait, so that
// the host learns of a stall even when the guest dies or the kernel's
// watchdog acts later; and one with Final set, before the job's JobResult,
// with the longest waits of the whole job and the watch's own statistics.
// The host judges the waits (check "no_stalled_task").
type RunnableWaits struct {
	JobID uint32 `msgpack:"job_id" json:"job_id"`
	// Final marks the summary sent before the JobResult; it supersedes the
	// earlier messages of the job.
	Final bool `msgpack:"final,omitempty" json:"final,omitempty"`
	// Waits are the longest waits seen, longest first, one per task; the
	// final message lists at most MaxRunnableWaits of them, each at least
	// Floor.
	Waits []TaskWait `msgpack:"waits,omitempty" json:"waits,omitempty"`
	// Floor is the shortest wait the agent reports.
	Floor time.Duration `msgpack:"floor,omitempty" json:"floor,omitempty"`
	// Stats describe the watch itself (final message only).
	Stats WatchStats `msgpack:"stats" json:"stats"`
}

// MaxRunnableWaits bounds the waits of one RunnableWaits message.
const MaxRunnableWaits = 16

// TaskWait is one task's longest wait: runnable (state R) in consecutive
// samples while neither its cpu time nor its count of timeslices moved.
type TaskWait struct {
	// PID is the thread id, TGID its process; Comm its name.
	PID  int    `msgpack:"pid" json:"pid"`
	TGID int    `msgpack:"tgid,omitempty" json:"tgid,omitempty"`
	Comm string `msgpack:"comm" json:"comm"`
	// CPU is the cpu the task waited on (its runqueue).
	CPU int `msgpack:"cpu" json:"cpu"`
	// Waited is how long it waited at least: from the first sample that
	// saw it waiting to the last one. The true wait is longer by up to one
	// sampling interval.
	Waited time.Duration `msgpack:"waited" json:"waited"`
	// At is when the wait began, since the job arrived.
	At time.Duration `msgpack:"at" json:"at"`
	// Ongoing says the task was still waiting at the last sample.
	Ongoing bool `msgpack:"ongoing,omitempty" json:"ongoing,omitempty"`
	// Kthread marks a kernel thread; Policy is its scheduling policy
	// (SCHED_NORMAL 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6, EXT 7).
	Kthread bool `msgpack:"kthread,omitempty" json:"kthread,omitempty"`
	Policy  int  `msgpack:"policy,omitempty" json:"policy,omitempty"`
}

// WatchStats describe a stall watch run.
type WatchStats struct {
	// Interval is the sampling period; Samples counts the samples taken
	// over Watched.
	Interval time.Duration `msgpack:"interval,omitempty" json:"interval,omitempty"`
	Samples  int           `msgpack:"samples,omitempty" json:"samples,omitempty"`
	Watched  time.Duration `msgpack:"watched,omitempty" json:"watched,omitempty"`
	// CPUTime is the cpu time the watch used; MaxTasks the most threads
	// one sample read.
	CPUTime  time.Duration `msgpack:"cpu_time,omitempty" json:"cpu_time,omitempty"`
	MaxTasks int           `msgpack:"max_tasks,omitempty" json:"max_tasks,omitempty"`
	// MaxSample is the longest wall time one sample took.
	MaxSample time.Duration `msgpack:"max_sample,omitempty" json:"max_sample,omitempty"`
	// RealTime says the watch ran at a real-time policy (SCHED_FIFO), so
	// that a sched_ext scheduler could not starve it.
	RealTime bool `msgpack:"real_time,omitempty" json:"real_time,omitempty"`
	// Error says why the watch did not run or stopped early (no /proc,
	// say); empty when it ran.
	Error string `msgpack:"error,omitempty" json:"error,omitempty"`
}
