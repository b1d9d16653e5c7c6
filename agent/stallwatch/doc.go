// Package stallwatch is the agent's guest-wide stall watch. While a job
// runs it samples every thread of the guest (workers, kernel threads, the
// agent, payloads) from /proc and finds the ones that stay runnable
// without running: state R in consecutive samples while neither the cpu
// time nor the count of timeslices in /proc/PID/task/TID/schedstat moved.
// (run_delay in schedstat only grows when a task finally runs, so a task
// that never runs would not show there.) Each such wait is reported with
// the thread's pid, name and the cpu it waits on; the host judges the
// waits against Checks.MaxRunnableWait.
//
// The kernel's own sched_ext watchdog ejects a scheduler that leaves a
// task runnable for its ops.timeout_ms, up to 30 s; a scenario lasts a
// few seconds, so without this watch a scheduler that starves kernel
// threads or the agent would pass.
//
// The sampler runs on a goroutine locked to its own OS thread, which it
// switches to SCHED_FIFO (priority 1): real-time tasks are not scheduled by
// sched_ext, so a scheduler that starves every other task cannot starve
// the watch. The thread sleeps and wakes with plain system calls (poll on
// a pipe), not with the Go runtime's timers, so it keeps sampling while
// the agent's other threads wait for a cpu. It reads /proc with raw system
// calls into one reused buffer.
//
// Usage:
//
//	w := stallwatch.Start(stallwatch.Config{
//		Threshold: checks.MaxRunnableWaitOrDefault(),
//		OnStall:   func(tw protocol.TaskWait) { /* tell the host now */ },
//	})
//	... run the job ...
//	waits, stats := w.Stop()
//
// Parsing (ParseStat, ParseSchedstat) and the bookkeeping of waits
// (Tracker) are plain functions over bytes and samples, tested without a
// guest; Sampler reads a /proc tree given by its root.
//
// The package reads no environment variables.
package stallwatch
