package workload

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/spec"
)

// Child file descriptors of a process worker (ExtraFiles start at 3).
const (
	childStartFd  = 3
	childReportFd = 4
	childShmFd    = 5
	childPipeIn   = 6
	childPipeOut  = 7
)

// Frame types on a worker's report pipe.
const (
	frameReady  = 'R' // payload: u32 tid, then an error message (empty: ok)
	frameReport = 'P' // payload: appendReport
)

// spawnReadyTimeout bounds how long Spawn waits for workers to set up.
const spawnReadyTimeout = 30 * time.Second

// WorkloadHandle owns a set of spawned workers: processes that re-execute
// the running binary, or locked OS threads of the calling process. Spawn
// creates them blocked; Start releases them; StopAndCollect stops them and
// returns their reports; Close kills and reaps whatever is left and unmaps
// the shared memory. Close must always be called (defer it right after
// Spawn); it is idempotent and safe after StopAndCollect.
//
// SnapshotIterations may be called concurrently with the other methods.
type WorkloadHandle struct {
	cfg    spec.WorkloadConfig
	n      int
	thread bool
	opts   spawnOptions

	opMu        sync.Mutex // serialises Start, StopAndCollect, Close
	started     bool
	collected   bool
	closed      bool
	reports     []spec.WorkerReport
	stopTimeout time.Duration

	mapMu   sync.RWMutex // guards shm.mem against Close
	shm     *shm
	shmFile *os.File

	startW  *os.File      // process workers: closing it starts them
	startCh chan struct{} // thread workers: closed by Start
	quitCh  chan struct{} // thread workers: closed by Close before start

	pipes     []int // partner pipe fds the handle still holds
	kickFds   []int // partner pipe write ends, written on stop
	kickEvFds []int // eventfds (EpollStorm), signalled on stop
	workers   []*workerEntry
}

type workerEntry struct {
	idx    int
	pid    int // process id (thread workers: the caller's pid)
	tid    int
	proc   *os.Process
	report *os.File
	done   chan spec.WorkerReport // thread workers
	exited atomic.Bool            // thread workers: the thread is gone
}

// Spawn validates cfg, creates its workers blocked before their loop and
// returns once every worker has applied its placement (affinity, policy,
// nice, memory policy) and waits for Start. Process workers need
// RunWorkerIfChild at the top of main (or TestMain).
func Spawn(cfg spec.WorkloadConfig, opts ...SpawnOption) (*WorkloadHandle, error) {
	if err := validate(cfg); err != nil {
		return nil, fmt.Errorf("spawn workload: %w", err)
	}
	var o spawnOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.cgroupDir != "" && cfg.CloneMode == spec.CloneThread {
		return nil, fmt.Errorf("spawn workload: InCgroup(%s) places processes; thread workers are threads of the caller: write their WorkerTIDs to cgroup.threads instead", o.cgroupDir)
	}
	if err := checkKindOptions(cfg, o); err != nil {
		return nil, fmt.Errorf("spawn workload: %w", err)
	}
	if os.Getenv(envWorker) != "" {
		// A worker child whose main did not call RunWorkerIfChild is
		// running the program's normal code: spawning again would recurse.
		return nil, errors.New("spawn workload: this process was started as a worker but main did not call workload.RunWorkerIfChild first")
	}
	cfg = cfg.WithDefaults()
	h := &WorkloadHandle{
		cfg: cfg, n: cfg.NumWorkers, thread: cfg.CloneMode == spec.CloneThread,
		stopTimeout: DefaultStopTimeout, opts: o,
	}
	fd, s, err := createShm(layoutOf(cfg))
	if err != nil {
		return nil, fmt.Errorf("spawn workload: %w", err)
	}
	h.shm, h.shmFile = s, os.NewFile(uintptr(fd), memfdName)
	if err := h.spawn(); err != nil {
		h.Close()
		return nil, fmt.Errorf("spawn workload: %w", err)
	}
	return h, nil
}

func (h *WorkloadHandle) spawn() error {
	cpus := workerCPUs(h.cfg.Affinity, h.n)
	seed := time.Now().UnixNano()
	specs := make([]workerSpec, h.n)
	for i := range specs {
		specs[i] = workerSpec{Index: i, Parent: os.Getpid(), Config: h.cfg, CPUs: cpus[i],
			PipeIn: -1, PipeOut: -1, Seed: seed + int64(i)*7919, ChurnCgroups: h.opts.churnCgroups,
			NoLatency: h.opts.noLatency}
	}
	switch h.cfg.WorkType.Kind {
	case spec.PipeIo, spec.CachePipe:
		for i := 0; i < h.n; i += 2 {
			var p01, p10 [2]int
			if err := unix.Pipe2(p01[:], unix.O_CLOEXEC); err != nil {
				return fmt.Errorf("partner pipe: %w", err)
			}
			h.pipes = append(h.pipes, p01[0], p01[1])
			if err := unix.Pipe2(p10[:], unix.O_CLOEXEC); err != nil {
				return fmt.Errorf("partner pipe: %w", err)
			}
			h.pipes = append(h.pipes, p10[0], p10[1])
			h.kickFds = append(h.kickFds, p01[1], p10[1])
			specs[i].PipeIn, specs[i].PipeOut = p10[0], p01[1]
			specs[i+1].PipeIn, specs[i+1].PipeOut = p01[0], p10[1]
		}
	}
	if err := h.kindFds(specs); err != nil {
		return err
	}
	h.workers = make([]*workerEntry, h.n)
	for i := range h.workers {
		h.workers[i] = &workerEntry{idx: i}
	}
	if h.thread {
		return h.spawnThreads(specs)
	}
	return h.spawnProcesses(specs)
}

// workerCPUs resolves the affinity request into one cpu list per worker
// (nil: inherit).
func workerCPUs(a spec.Affinity, n int) [][]int {
	out := make([][]int, n)
	for i := range out {
		switch a.Kind {
		case spec.AffinityFixed:
			out[i] = slices.Clone(a.CPUs)
		case spec.AffinitySingle:
			out[i] = []int{a.CPU}
		case spec.AffinityRandom:
			perm := rand.Perm(len(a.From))[:a.Count]
			for _, p := range perm {
				out[i] = append(out[i], a.From[p])
			}
			slices.Sort(out[i])
		}
	}
	return out
}

// childEnv is the environment of a process worker without its spec: the
// caller's, plus one P, no GC, and runtime features a worker does not need
// turned off. The loop blocks in raw system calls, so the runtime believes
// it runs without pause and would otherwise signal it (SIGURG) every 10 ms,
// interrupting sleeps and waking blocked readers: scheduler noise
// (asyncpreemptoff). The rest saves start-up work in every worker:
// updatemaxprocs=0 (no GOMAXPROCS update goroutine), decoratemappings=0 (no
// prctl naming each runtime mapping) and memprofilerate=0 (no stack walk
// for sampled allocations). Spawn computes it once; the ws is appended
// per worker.
func childEnv() []string {
	env := make([]string, 0, len(os.Environ())+5)
	godebug := "asyncpreemptoff=1,updatemaxprocs=0,decoratemappings=0,memprofilerate=0"
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case envWorker, "GOMAXPROCS", "GOGC":
			continue
		case "GODEBUG":
			if v != "" {
				godebug = v + "," + godebug // later settings win
			}
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOMAXPROCS=1", "GOGC=off", "GODEBUG="+godebug)
}

func (h *WorkloadHandle) spawnProcesses(specs []workerSpec) error {
	attr := syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if dir := h.opts.cgroupDir; dir != "" {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open cgroup %s: %w", dir, err)
		}
		defer unix.Close(fd)
		attr.UseCgroupFD, attr.CgroupFD = true, fd
	}
	startR, startW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start pipe: %w", err)
	}
	h.startW = startW
	defer startR.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	// /proc/self/exe, not os.Executable: it survives a rebuilt or
	// deleted binary.
	const exe = "/proc/self/exe"
	env := childEnv()
	// Spawn on a few dedicated threads (each StartProcess waits for its
	// child's execve, which overlaps with the next fork), but let only a
	// few children initialise at a time: dozens of Go runtimes starting
	// together on a few cpus cost far more cpu (cache and lock contention,
	// context switches) than the same work in a short queue.
	deadline := time.Now().Add(spawnReadyTimeout)
	errs := make([]error, len(specs))
	inflight := make(chan struct{}, spawnInflight())
	var wg sync.WaitGroup
	for i := range specs {
		inflight <- struct{}{}
		wg.Add(1)
		spawnThreads() <- func() {
			if errs[i] = h.startWorker(specs[i], exe, env, devnull, startR, &attr); errs[i] != nil {
				<-inflight
				wg.Done()
				return
			}
			go func() {
				errs[i] = h.workers[i].readReady(deadline)
				<-inflight
				wg.Done()
			}()
		}
	}
	wg.Wait()
	// The children hold the read ends now; EOF on them must only come from
	// a partner's death, so the handle keeps just the write ends (to kick).
	h.closePipeReadEnds()
	return errors.Join(errs...)
}

// spawnInflight is how many process workers may be starting at once.
func spawnInflight() int { return max(8, 2*runtime.NumCPU()) }

// readReady reads a process worker's ready frame.
func (e *workerEntry) readReady(deadline time.Time) error {
	e.report.SetReadDeadline(deadline)
	typ, payload, err := readFrame(e.report)
	switch {
	case err != nil:
		return fmt.Errorf("worker %d (pid %d) did not get ready: %w (does main call workload.RunWorkerIfChild first?)", e.idx, e.pid, err)
	case typ != frameReady || len(payload) < 4:
		return fmt.Errorf("worker %d: bad ready frame", e.idx)
	case len(payload) > 4:
		return fmt.Errorf("worker %d: %s", e.idx, payload[4:])
	}
	e.tid = int(binary.LittleEndian.Uint32(payload))
	return nil
}

// spawnParallelism is how many threads start process workers.
const spawnParallelism = 4

// spawnThreads returns the queue of the spawner threads: goroutines locked
// to OS threads that never exit. PR_SET_PDEATHSIG fires when the *thread*
// that forked a child exits, and Go ends a thread when a locked goroutine
// returns (as thread workers do), so workers must be forked from threads
// that live as long as the process.
var spawnThreads = sync.OnceValue(func() chan<- func() {
	ch := make(chan func())
	for range spawnParallelism {
		go func() {
			runtime.LockOSThread()
			for fn := range ch {
				fn()
			}
		}()
	}
	return ch
})

func (h *WorkloadHandle) startWorker(ws workerSpec, exe string, env []string, devnull, startR *os.File, attr *syscall.SysProcAttr) error {
	i := ws.Index
	e := h.workers[i]
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("report pipe: %w", err)
	}
	defer reportW.Close()
	e.report = reportR
	files := []*os.File{devnull, devnull, os.Stderr, startR, reportW, h.shmFile}
	if ws.PipeIn >= 0 {
		// The handle owns the pipe fds; pass duplicates wrapped in Files
		// (os.NewFile would close the originals when collected).
		for _, fd := range []int{ws.PipeIn, ws.PipeOut} {
			dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("dup partner pipe: %w", err)
			}
			f := os.NewFile(uintptr(dup), "partner-pipe")
			defer f.Close()
			files = append(files, f)
		}
		ws.PipeIn, ws.PipeOut = childPipeIn, childPipeOut
	}
	blob := base64.RawURLEncoding.EncodeToString(appendSpec(nil, &ws))
	proc, err := os.StartProcess(exe, []string{os.Args[0]}, &os.ProcAttr{
		Env:   append(env[:len(env):len(env)], envWorker+"="+blob),
		Files: files,
		Sys:   new(*attr), // a copy per call: the spawner threads run concurrently
	})
	if err != nil {
		if h.opts.cgroupDir != "" {
			return fmt.Errorf("start worker %d in cgroup %s: %w", i, h.opts.cgroupDir, err)
		}
		return fmt.Errorf("start worker %d: %w", i, err)
	}
	e.proc, e.pid, e.tid = proc, proc.Pid, proc.Pid
	livePIDs.Store(proc.Pid, struct{}{})
	return nil
}

// livePIDs holds the pids of process workers not yet reaped, for IsWorker.
var livePIDs sync.Map

// IsWorker reports whether pid is a process worker of a handle in this
// process that the handle has not reaped yet. A reaper that collects
// orphans with wait4(-1) (the guest agent as PID 1) must leave such pids
// alone, or the handle sees ECHILD and reports ExitWaitFailed: peek with
// waitid(P_ALL, WEXITED|WNOWAIT) and skip the pids IsWorker claims.
func IsWorker(pid int) bool {
	_, ok := livePIDs.Load(pid)
	return ok
}

func (h *WorkloadHandle) closePipeReadEnds() {
	keep := h.pipes[:0]
	for _, fd := range h.pipes {
		if slices.Contains(h.kickFds, fd) || slices.Contains(h.kickEvFds, fd) {
			keep = append(keep, fd)
			continue
		}
		unix.Close(fd)
	}
	h.pipes = keep
}

// threadProcs raises GOMAXPROCS by one for every live thread worker. A
// thread worker runs Go code on its locked OS thread and so holds a P while
// it spins; without a P per worker the Go scheduler, not the kernel's
// scheduler under test, would decide which of them runs. GOMAXPROCS is
// process-wide, so the count is too.
var threadProcs procBoost

type procBoost struct {
	mu    sync.Mutex
	base  int // GOMAXPROCS before the first boost
	extra int // live thread workers
}

// add changes the number of live thread workers by d and sets GOMAXPROCS
// to the base value plus that number.
func (b *procBoost) add(d int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.extra == 0 {
		b.base = runtime.GOMAXPROCS(0)
	}
	b.extra += d
	runtime.GOMAXPROCS(b.base + b.extra)
}

func (h *WorkloadHandle) spawnThreads(specs []workerSpec) error {
	h.startCh = make(chan struct{})
	h.quitCh = make(chan struct{})
	threadProcs.add(len(specs))
	type ready struct {
		idx, tid int
		err      error
	}
	readyCh := make(chan ready, h.n)
	for i, ws := range specs {
		e := h.workers[i]
		e.pid = os.Getpid()
		e.done = make(chan spec.WorkerReport, 1)
		go func() {
			// The thread exits with the goroutine (never unlocked), taking
			// its policy, nice and affinity changes with it.
			runtime.LockOSThread()
			defer e.exited.Store(true)
			defer threadProcs.add(-1)
			w := newWorker(ws, h.shm, false)
			err := w.setup()
			readyCh <- ready{i, unix.Gettid(), err}
			if err != nil {
				w.cleanup()
				return
			}
			timer := time.NewTimer(DefaultStartTimeout)
			defer timer.Stop()
			select {
			case <-h.startCh:
			case <-h.quitCh:
				w.cleanup()
				return
			case <-timer.C:
				w.cleanup()
				return
			}
			defer func() {
				// A panicking Custom function must not take the caller's
				// process down; report it like a process worker's exit 2.
				if p := recover(); p != nil {
					e.done <- spec.WorkerReport{Index: i, TID: unix.Gettid(), Exit: spec.ExitInfo{
						Kind: spec.ExitExited, Code: 2, Message: fmt.Sprintf("panic: %v", p)}}
				}
			}()
			e.done <- w.run()
		}()
	}
	var errs []error
	for range h.n {
		r := <-readyCh
		h.workers[r.idx].tid = r.tid
		if r.err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", r.idx, r.err))
		}
	}
	return errors.Join(errs...)
}

// Len is the number of workers.
func (h *WorkloadHandle) Len() int { return h.n }

// Config is the handle's configuration with defaults filled in.
func (h *WorkloadHandle) Config() spec.WorkloadConfig { return h.cfg }

// WorkerPIDs returns the worker process ids in worker order. For thread
// workers every entry is the caller's pid; see WorkerTIDs.
func (h *WorkloadHandle) WorkerPIDs() []int {
	out := make([]int, h.n)
	for i, e := range h.workers {
		out[i] = e.pid
	}
	return out
}

// ErrThreadWorkers is returned by WorkerPIDsForCgroupProcs for thread
// workers.
var ErrThreadWorkers = errors.New("thread workers share the caller's process: cgroup.procs would move the whole process; write WorkerTIDs to cgroup.threads of a threaded cgroup instead")

// WorkerPIDsForCgroupProcs returns the pids to write to cgroup.procs. It
// fails with ErrThreadWorkers for thread workers, which must be moved one
// by one through cgroup.threads.
func (h *WorkloadHandle) WorkerPIDsForCgroupProcs() ([]int, error) {
	if h.thread {
		return nil, ErrThreadWorkers
	}
	return h.WorkerPIDs(), nil
}

// WorkerTIDs returns the thread id that runs each worker's loop (equal to
// the pid for process workers).
func (h *WorkloadHandle) WorkerTIDs() []int {
	out := make([]int, h.n)
	for i, e := range h.workers {
		out[i] = e.tid
	}
	return out
}

// IsThread reports whether the workers are threads of the caller.
func (h *WorkloadHandle) IsThread() bool { return h.thread }

// SetStopTimeout changes the shared deadline of StopAndCollect (default
// DefaultStopTimeout). Call it before StopAndCollect.
func (h *WorkloadHandle) SetStopTimeout(d time.Duration) {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	if d > 0 {
		h.stopTimeout = d
	}
}

// Start releases every worker into its loop. Calling it again does nothing.
func (h *WorkloadHandle) Start() {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.startLocked()
}

// StartFor is Start with a run deadline d from now: every worker stops on
// its own once the deadline has passed, at its next progress checkpoint
// (every iteration, every 8 for CpuSpin and CachePressure), without
// waiting for the caller. The caller may not get a cpu on time to call
// StopAndCollect: the kernel shares the cpus fairly between it and the
// workers Start woke (a 10 ms sleep returns about 400 ms late with 256
// spinning workers on 2 cpus), and a scheduler under test may starve it
// outright. Workers that are blocked when the deadline passes (in a pipe
// read, a futex wait, a sleep) see it when they wake. StopAndCollect is
// still needed for the reports; it stops whoever is left. On a started
// handle StartFor only sets the deadline.
func (h *WorkloadHandle) StartFor(d time.Duration) {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	if h.closed {
		return
	}
	h.mapMu.RLock()
	if h.shm != nil && h.shm.mem != nil {
		atomic.StoreInt64(h.shm.deadline(), nanotime()+max(int64(d), 1))
	}
	h.mapMu.RUnlock()
	h.startLocked()
}

func (h *WorkloadHandle) startLocked() {
	if h.started || h.closed {
		return
	}
	h.started = true
	h.mapMu.RLock()
	atomic.StoreUint32(h.shm.started(), 1)
	h.mapMu.RUnlock()
	if h.thread {
		close(h.startCh)
	} else if h.startW != nil {
		h.startW.Close() // EOF on every worker's start pipe
		h.startW = nil
	}
}

// SetAffinity pins worker idx to cpus with sched_setaffinity on its
// worker thread.
func (h *WorkloadHandle) SetAffinity(idx int, cpus []int) error {
	if idx < 0 || idx >= h.n {
		return fmt.Errorf("set affinity: worker %d out of range [0,%d)", idx, h.n)
	}
	if len(cpus) == 0 {
		return fmt.Errorf("set affinity of worker %d: empty cpu set", idx)
	}
	var set unix.CPUSet
	for _, c := range cpus {
		if c < 0 || c >= len(set)*64 {
			return fmt.Errorf("set affinity of worker %d: cpu %d out of range", idx, c)
		}
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(h.workers[idx].tid, &set); err != nil {
		return fmt.Errorf("set affinity of worker %d (tid %d) to %v: %w", idx, h.workers[idx].tid, cpus, err)
	}
	return nil
}

// Signal sends sig to worker idx (fault injection: SIGKILL a worker, or
// SIGSTOP/SIGCONT it). Thread workers cannot be signalled individually
// without affecting the whole process, so Signal fails for them.
func (h *WorkloadHandle) Signal(idx int, sig syscall.Signal) error {
	if idx < 0 || idx >= h.n {
		return fmt.Errorf("signal worker: %d out of range [0,%d)", idx, h.n)
	}
	if h.thread {
		return fmt.Errorf("signal worker %d: %w", idx, ErrThreadWorkers)
	}
	if err := h.workers[idx].proc.Signal(sig); err != nil {
		return fmt.Errorf("signal worker %d (pid %d) with %v: %w", idx, h.workers[idx].pid, sig, err)
	}
	return nil
}

// SnapshotIterations returns every worker's iteration count so far
// (relaxed reads of the shared counters). After Close it returns zeros.
func (h *WorkloadHandle) SnapshotIterations() []uint64 {
	out := make([]uint64, h.n)
	h.mapMu.RLock()
	defer h.mapMu.RUnlock()
	if h.shm == nil || h.shm.mem == nil {
		return out
	}
	for i := range out {
		out[i] = atomic.LoadUint64(h.shm.counter(i))
	}
	return out
}

// raiseStop sets the stop flag and wakes every blocked worker: futex
// waiters through FUTEX_WAKE, pipe readers with one byte per pipe.
func (h *WorkloadHandle) raiseStop() {
	h.mapMu.RLock()
	if h.shm != nil && h.shm.mem != nil {
		atomic.StoreUint32(h.shm.stop(), 1)
		h.shm.wakeAll()
	}
	h.mapMu.RUnlock()
	kick := []byte{0}
	for _, fd := range h.kickFds {
		unix.Write(fd, kick)
	}
	for _, fd := range h.kickEvFds {
		unix.Write(fd, eventKick[:])
	}
}

// StopAndCollect starts the workers if Start was not called, asks them to
// stop and returns one report per worker, in worker order. Every worker
// shares one deadline (SetStopTimeout, default 5 s); a process worker
// without a report by then is SIGKILLed, reaped and reported with
// Completed false and Exit.Kind ExitTimedOut. Workers that died earlier are
// reported as ExitExited or ExitSignaled. A second call returns the same
// reports; after Close without a prior StopAndCollect it returns nil.
func (h *WorkloadHandle) StopAndCollect() []spec.WorkerReport {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	if h.collected || h.closed {
		return slices.Clone(h.reports)
	}
	deadline := time.Now().Add(h.stopTimeout)
	// Never started: raise stop first so that the workers start and stop
	// at once instead of running until they notice.
	h.raiseStop()
	h.startLocked()
	reports := make([]spec.WorkerReport, h.n)
	if h.thread {
		var wg sync.WaitGroup
		for i, e := range h.workers {
			wg.Go(func() { reports[i] = collectThread(e, deadline) })
		}
		wg.Wait()
	} else {
		collectProcesses(h.workers, reports, deadline)
	}
	h.reports, h.collected = reports, true
	return slices.Clone(reports)
}

func collectThread(e *workerEntry, deadline time.Time) spec.WorkerReport {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case r := <-e.done:
		return r
	case <-timer.C:
		return spec.WorkerReport{Index: e.idx, TID: e.tid, Exit: spec.ExitInfo{Kind: spec.ExitTimedOut,
			Message: "thread worker ignored the stop request; threads cannot be killed and it keeps running"}}
	}
}

// collectProcesses fills reports for process workers in two passes. First
// every report pipe is read against the shared deadline, concurrently: the
// reads wait in the runtime's poller and hold no OS thread. A worker whose
// report is in, or that missed the deadline, is SIGKILLed at once: with its
// report written a worker has nothing left to do but exit, which can be
// slow (a race-enabled binary spends about a second in its exit path).
// Then the workers are reaped one after the other. By then nearly all are
// dead or dying, so each wait returns at once; a goroutine per worker
// blocked in waitid would instead hold an OS thread each (hundreds of
// thread creations for a large handle).
func collectProcesses(workers []*workerEntry, reports []spec.WorkerReport, deadline time.Time) {
	type read struct {
		got      bool
		timedOut bool
		err      error
	}
	reads := make([]read, len(workers))
	var wg sync.WaitGroup
	for i, e := range workers {
		wg.Go(func() {
			r := spec.WorkerReport{Index: e.idx, TID: e.tid}
			e.report.SetReadDeadline(deadline)
			typ, payload, err := readFrame(e.report)
			rd := read{err: err, timedOut: errors.Is(err, os.ErrDeadlineExceeded)}
			if err == nil && typ == frameReport {
				if got, derr := decodeReport(payload); derr == nil {
					r, rd.got = got, true
					r.Index = e.idx
				} else {
					r.Exit.Message = "decode report: " + derr.Error()
				}
			}
			if rd.timedOut || rd.got {
				e.proc.Kill()
			}
			reports[i], reads[i] = r, rd
		})
	}
	wg.Wait()
	for i, e := range workers {
		rd, r := reads[i], &reports[i]
		st, killed, werr := waitUntil(e.proc, deadline)
		if rd.got {
			continue
		}
		r.Completed = false
		switch {
		case werr != nil:
			r.Exit = spec.ExitInfo{Kind: spec.ExitWaitFailed, Message: werr.Error()}
		case rd.timedOut || killed && killedBySIGKILL(st):
			// killed alone is not enough: reaping is sequential, so a
			// worker that exited on its own before the deadline may only
			// be waited for after it.
			r.Exit = spec.ExitInfo{Kind: spec.ExitTimedOut, Signal: int(syscall.SIGKILL),
				Message: "no report before the stop deadline; killed with SIGKILL"}
		default:
			r.Exit = exitInfo(st)
			if r.Exit.Message == "" && rd.err != nil && !errors.Is(rd.err, io.EOF) {
				r.Exit.Message = "read report: " + rd.err.Error()
			}
		}
	}
}

// waitUntil reaps p, killing it if it has not exited by deadline.
func waitUntil(p *os.Process, deadline time.Time) (*os.ProcessState, bool, error) {
	type res struct {
		st  *os.ProcessState
		err error
	}
	ch := make(chan res, 1)
	go func() {
		st, err := p.Wait()
		livePIDs.Delete(p.Pid)
		ch <- res{st, err}
	}()
	timer := time.NewTimer(max(time.Until(deadline), 0))
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.st, false, r.err
	case <-timer.C:
		p.Kill()
		r := <-ch
		return r.st, true, r.err
	}
}

func killedBySIGKILL(st *os.ProcessState) bool {
	ws, ok := st.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func exitInfo(st *os.ProcessState) spec.ExitInfo {
	ws, ok := st.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return spec.ExitInfo{Kind: spec.ExitExited, Code: st.ExitCode(), Message: "exited without a report"}
	case ws.Signaled():
		return spec.ExitInfo{Kind: spec.ExitSignaled, Signal: int(ws.Signal()),
			Message: "killed by " + ws.Signal().String() + " before reporting"}
	default:
		return spec.ExitInfo{Kind: spec.ExitExited, Code: ws.ExitStatus(), Message: "exited without a report"}
	}
}

// Close kills every worker process that is still running, reaps it, closes
// the pipes and unmaps the shared memory. Thread workers are asked to stop
// and given the stop timeout to exit; a thread that ignores the request
// cannot be killed, and the memory it uses stays mapped. Close is
// idempotent and safe after StopAndCollect.
func (h *WorkloadHandle) Close() error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	threadsAlive := false
	if h.thread {
		if h.quitCh != nil {
			close(h.quitCh)
		}
		h.raiseStop()
		deadline := time.Now().Add(h.stopTimeout)
		for _, e := range h.workers {
			for !e.exited.Load() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if !e.exited.Load() {
				threadsAlive = true
			}
		}
	} else {
		// Kill them all, then reap one by one: the kills overlap the
		// exits, and no goroutine holds a thread in a blocking wait.
		for _, e := range h.workers {
			if e != nil && e.proc != nil {
				e.proc.Kill() // os.ErrProcessDone once reaped
			}
		}
		for _, e := range h.workers {
			if e != nil && e.proc != nil {
				e.proc.Wait()
				livePIDs.Delete(e.pid)
			}
		}
	}
	var errs []error
	for _, e := range h.workers {
		if e != nil && e.report != nil {
			e.report.Close()
		}
	}
	if h.startW != nil {
		h.startW.Close()
		h.startW = nil
	}
	if threadsAlive {
		return errors.New("close workload: a thread worker ignored the stop request; its memory stays mapped")
	}
	for _, fd := range h.pipes {
		unix.Close(fd)
	}
	h.pipes, h.kickFds, h.kickEvFds = nil, nil, nil
	h.mapMu.Lock()
	if err := h.shm.unmap(); err != nil {
		errs = append(errs, err)
	}
	h.mapMu.Unlock()
	if h.shmFile != nil {
		h.shmFile.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close workload: %w", err)
	}
	return nil
}

// readFrame reads one frame: u32 length (type + payload), type, payload.
func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n < 1 || n > 1<<30 {
		return 0, nil, fmt.Errorf("bad frame length %d", n)
	}
	payload := make([]byte, n-1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[4], payload, nil
}

// writeFrame writes one frame to a blocking fd.
func writeFrame(fd int, typ byte, payload []byte) error {
	b := make([]byte, 5+len(payload))
	binary.LittleEndian.PutUint32(b, uint32(1+len(payload)))
	b[4] = typ
	copy(b[5:], payload)
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		b = b[n:]
	}
	return nil
}
