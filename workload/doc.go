// Package workload spawns scheduler test workers and collects what they
// measured. It knows nothing about VMs: it runs on any Linux host and inside
// the scxvm guest.
//
// A WorkloadConfig describes a set of identical workers; only the fields
// that matter need to be set, zero values are the defaults (REFERENCE.md
// section 1). Spawn creates the workers blocked before their loop, so that
// they can be moved into cgroups first (or spawned straight into one with
// the InCgroup option); Start releases them (StartFor also sets a run
// deadline at which they stop by themselves); SnapshotIterations samples
// progress; StopAndCollect stops them and returns one WorkerReport each;
// Close kills and reaps whatever is left.
//
//	func TestMain(m *testing.M) {
//		workload.RunWorkerIfChild() // first: a worker child never returns
//		os.Exit(m.Run())
//	}
//
//	h, err := workload.Spawn(spec.WorkloadConfig{
//		NumWorkers: 4,
//		WorkType:   spec.WorkType{Kind: spec.Mixed},
//	})
//	if err != nil {
//		return err
//	}
//	defer h.Close() // kills and reaps the workers on every path
//	pids, err := h.WorkerPIDsForCgroupProcs() // ErrThreadWorkers for threads
//	if err != nil {
//		return err
//	}
//	// ... write pids to the target cgroup's cgroup.procs ...
//	h.Start()
//	time.Sleep(duration)
//	reports := h.StopAndCollect()
//
// # Process workers
//
// By default every worker is a process that re-executes the running binary
// (/proc/self/exe): Go cannot fork without exec. The binary's main, and
// TestMain of every test binary that spawns process workers, must call
// RunWorkerIfChild before anything else; in the spawned child it runs the
// worker and exits, in any other process it returns at once. Work types of
// kind Custom must be registered with RegisterCustom in an init function so
// that the child knows them too.
//
// Every worker pays for a full start of the binary, so the child does as
// little as it can. Workers of the built-in kinds run from this package's
// init function (init functions run on the startup thread, which is all
// the loop needs) and skip the init functions of every package initialised
// after this one: in the scxvm binary cilium/ebpf, net, zstd and the test
// harness packages. Custom workers wait for RunWorkerIfChild, after the
// init functions that register them. Most of what remains is the Go
// runtime's own start and the init functions of packages initialised
// before this one (klauspost/compress builds a CRC table, yaml, xz,
// go-humanize and host/console build tables and regular expressions);
// making those lazy is the way to make workers cheaper still.
//
// The child gets its spec (a compact binary blob, base64) in an environment
// variable and these inherited files: the start pipe (fd 3), its report
// pipe (fd 4), the shared memfd "scxvm-workload" (fd 5: stop flag,
// iteration counters, futex words and wake stamps, one cache line each) and,
// for PipeIo and CachePipe, its partner pipes (fds 6 and 7). It arms
// PR_SET_PDEATHSIG(SIGKILL) and checks that its parent is still the
// spawner, keeps the loop on the main thread (tid == pid, so that
// sched_setaffinity and sched_setscheduler on the pid act on the loop),
// runs with GOMAXPROCS=1, the GC off and asynchronous preemption off,
// makes raw system calls in the loop (no runtime hand-off or preemption
// signal while it blocks), applies affinity, nice, scheduling
// policy and memory policy, reports ready, then waits for the start pipe's
// EOF (at most 30 s, then it exits).
//
// # Thread workers
//
// With CloneMode CloneThread the same loops run on locked OS threads of the
// calling process. Their ids are WorkerTIDs; they must be placed through
// cgroup.threads of a threaded cgroup. A thread cannot be killed: one that
// ignores the stop request is reported as timed out and keeps running, and
// Close then leaves the shared memory mapped. Signal fails for threads.
//
// # Stopping
//
// StopAndCollect raises the stop flag in shared memory, wakes every futex
// word (FUTEX_WAKE) and writes a byte into every partner pipe, so blocked
// workers see the stop at once; futex waits and sleeps also time out every
// 100 ms. Reports are read against one shared deadline (5 s by default,
// SetStopTimeout), all at once in the runtime's poller; a process worker is
// SIGKILLed as soon as its report is in, or when it misses the deadline
// (then it is reported with Exit.Kind ExitTimedOut), and the workers are
// reaped one after the other afterwards, so that no OS thread sits in a
// blocking wait per worker. Workers that died before are reported
// ExitExited or ExitSignaled; reports that arrived are never lost.
//
// A caller that sleeps between Start and StopAndCollect may wake up late:
// the kernel shares the cpus fairly with every worker Start woke, and a
// scheduler under test may starve the caller. StartFor(d) puts a deadline
// in the shared header; each worker compares it with the clock at its
// progress checkpoints and, once past it, raises the stop flag and wakes
// the blocked workers itself, so that the run ends on time regardless.
//
// # ForkExit
//
// On amd64 ForkExit starts its short-lived child with
// clone(CLONE_VM|CLONE_VFORK) in assembly (the child calls exit(0) without
// touching memory), like a C fork()+_exit(). Elsewhere it re-executes the
// binary with SCXVM_WORKLOAD_FORKEXIT=1, which RunWorkerIfChild turns into
// an immediate exit.
//
// # The kinds of ktstr 0.5.2's set
//
// spec/worktypes.go says what each stresses and which knobs it takes; the
// runtime adds these rules. Grouped kinds share their group's line of the
// memfd (futex words, wake stamps, the partner's ids; ProducerConsumerImbalance
// its queue in further lines). WakeChain with wake "pipe" gets a ring of
// pipes (stage i reads pipe i and writes pipe i+1) and EpollStorm one
// eventfd per group, passed like PipeIo's partner pipes (fds 6 and 7);
// both are kicked on stop. SignalStorm blocks real-time signal 40 in its
// workers and takes it with sigtimedwait, so no handler runs.
// CgroupChurn needs the ChurnCgroups option (the cgroups it moves through,
// its own first) and runs as process workers only. SmtSiblingSpin and
// PriorityInversion with an inherited affinity pin themselves once
// started (after any cgroup move), to a core's SMT siblings and to one cpu
// per group. Real-time roles the system refuses run normal at nice -20
// (or 0); a NUMA or SMT kind on a machine without nodes or siblings runs
// without moving; the I/O kinds on a memory file system sleep 100 us where
// a device would make them wait: each says so in WorkerReport.Degraded.
//
// # Measurements
//
// Every worker records iterations and work units, thread cpu time
// (CLOCK_THREAD_CPUTIME_ID), wall time, off-cpu time, the cpu at each
// checkpoint (RDPID/RDTSCP where the cpu has them, getcpu otherwise) with
// migrations (the first 10,000 kept) and the cpus used, the longest gap
// between checkpoints (intended sleeps excluded), resume latencies of
// blocking kinds in a reservoir of MaxLatencySamples, schedstat and context
// switch deltas of the worker thread, and on NUMA machines pages per node
// and the numa_pages_migrated delta. Nothing in the loop allocates.
//
// # Environment
//
// SCXVM_WORKLOAD_WORKER and SCXVM_WORKLOAD_FORKEXIT are set by this package
// for its children; this package's init function and RunWorkerIfChild read
// them. Children run with GOMAXPROCS=1 (the runtime never starts more Ps),
// GOGC=off, and asyncpreemptoff=1, updatemaxprocs=0, decoratemappings=0 and
// memprofilerate=0 appended to the caller's GODEBUG (no preemption signals,
// no GOMAXPROCS update goroutine, no prctl per runtime mapping, no
// allocation profiling). Files are created in os.TempDir (IoSync, Sequence
// io phases, IoSyncWrite, IoRandRead, IoConvoy; TMPDIR).
package workload
