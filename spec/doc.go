// Package spec defines what a scxvm test is and what it measures, once,
// for the host, the guest agent and the CLI alike: a Scenario (cgroups
// with cpusets, workloads and their work types, timed steps, payload
// commands, the checks' thresholds), the Scheduler under test as a user
// names it, the guest Topology and CPUSet lists, and the WorkerReport a
// worker sends back. Each type carries its defaults (WithDefaults, RunTime,
// JobTimeout, ...) and its validation (Validate), which returns a
// *ValidationError naming the field and the allowed values.
//
// The package makes no OS calls and starts nothing: the host validates a
// whole scenario with it before it boots anything, and the guest runs the
// same validation as a guard.
//
// # Work kinds
//
// A WorkType names a kind and its knobs (scenario-file names below); a
// zero knob means the default, a knob the kind does not take is an error,
// and WorkKind.Knobs lists a kind's. The original set (CpuSpin ... Custom)
// is documented at its constants. ktstr 0.5.2's additions, by what they
// stress (details and defaults at each constant in worktypes.go):
//
//   - IoSyncWrite (blocks), IoRandRead (file_bytes), IoConvoy (file_bytes,
//     sync_every): block-I/O sleeps and wake-ups from I/O completion, on a
//     private file in TMPDIR (a memory file system gets a 100 us stand-in
//     sleep per device wait, reported as degraded).
//   - AluHot (spin_iters), IpcVariance (hot_iters, cold_iters,
//     cache_bytes): placement and accounting of high-IPC tasks and of tasks
//     whose IPC alternates.
//   - SmtSiblingSpin (spin_iters; pairs): SMT-aware placement, pairs
//     pinned to the two threads of one core.
//   - IdleChurn (burst, sleep): the idle path and timer wake-ups.
//   - NumaMigrationChurn (spin_iters, period), NumaWorkingSetSweep
//     (region_bytes, period, nodes): task and memory migration across
//     NUMA nodes.
//   - CgroupChurn (spin_iters, period, groups; process workers only):
//     cgroup migration between sibling cgroups.
//   - AsymmetricWaker (waker_class, wakee_class, rt_priority, burst_iters;
//     pairs): wake-up placement across scheduling classes.
//   - WakeChain (depth, wake, work_iters): wake-up chains, sync
//     (pipe) and plain (futex) wake-ups.
//   - EpollStorm (producers, consumers, events_per_burst, sleep,
//     spin_iters): exclusive epoll wake-ups.
//   - ThunderingHerd (waiters, sleep, spin_iters): broadcast wake-ups.
//   - PriorityInversion (high, medium, low, hold_iters, work_iters,
//     rt_priority, pi): lock hand-off between priorities, with or without
//     priority inheritance.
//   - ProducerConsumerImbalance (producers, consumers, rate, work_iters,
//     queue_depth): sustained backpressure on a shared queue.
//   - SignalStorm (signals, work_iters; pairs): signal delivery wake-ups.
//   - PreemptStorm (cfs_workers, burst_iters, sleep, rt_priority),
//     RtStarvation (rt_workers, cfs_workers, burst_iters, rt_priority):
//     preemption by, and starvation under, SCHED_FIFO tasks.
//
// Every waking kind records each wakee's wake-up latency (from the stamp
// its waker wrote just before issuing the wake-up to the moment it ran)
// in WorkerReport.ResumeLatenciesNs. A kind that lacks a privilege or a
// topology it needs (real-time policies, NUMA nodes, SMT siblings, a
// block device) runs in the nearest form it can and says so in
// WorkerReport.Degraded. SpinWait is accepted as another name of CpuSpin.
package spec
