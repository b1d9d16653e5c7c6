package workload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// sink keeps the results of opaque increments observable so that the
// compiler cannot drop the loops.
var sink atomic.Uint64

// worker runs one worker's loop on a locked OS thread.
type worker struct {
	spec     workerSpec
	t        spec.WorkType
	shm      *shm
	stop     *uint32
	deadline *int64 // run deadline (StartFor), CLOCK_MONOTONIC ns; 0: none
	resumed  int64  // clock reading of the last resume, for the checkpoint
	counter  *uint64
	group    int
	role     int // position in the group; 0 is the messenger / first mover
	gsize    int
	process  bool

	m       *meter
	x       uint64 // spin state
	iters   uint64
	units   uint64
	cpEvery uint64

	one   [1]byte
	ioFd  int
	ioBuf []byte
	cache []byte
	cidx  int

	region  []byte
	matrix  []float64
	vec     []float64
	out     []float64
	lastGen uint32

	startCPUs []int
	cpuset    unix.CPUSet
	niceVal   int
	niceMin   int
	policies  [5]policyStep
	npol      int
	polIdx    int
	param     schedParam
	waitTS    unix.Timespec
	sleepTS   unix.Timespec

	custom CustomFunc

	k        kindState // state of ktstr 0.5.2's kinds (worker_kinds_linux.go)
	degraded string    // WorkerReport.Degraded
}

type policyStep struct {
	policy, prio int
	ok           bool
}

type schedParam struct{ prio int32 }

func newWorker(ws workerSpec, s *shm, process bool) *worker {
	cfg := ws.Config.WithDefaults()
	ws.Config = cfg
	g := cfg.WorkType.GroupSize()
	w := &worker{
		spec: ws, t: cfg.WorkType, shm: s, process: process,
		stop: s.stop(), deadline: s.deadline(), counter: s.counter(ws.Index),
		group: ws.Index / g, role: ws.Index % g, gsize: g,
		ioFd: -1, cpEvery: 1, x: uint64(ws.Seed) | 1,
		waitTS: maxWaitTimespec,
	}
	switch w.t.Kind {
	case spec.CpuSpin, spec.CachePressure:
		w.cpEvery = 8
	}
	return w
}

func (w *worker) stopped() bool { return atomic.LoadUint32(w.stop) != 0 }

// pastDeadline reports whether the run deadline (StartFor) is set and now
// is past it.
func pastDeadline(deadline *int64, now int64) bool {
	dl := atomic.LoadInt64(deadline)
	return dl != 0 && now >= dl
}

// blocking reports whether the kind records resume latencies.
func (w *worker) blocking() bool {
	switch w.t.Kind {
	case spec.IoSync, spec.Bursty, spec.PipeIo, spec.FutexPingPong, spec.CachePipe, spec.FutexFanOut, spec.Sequence,
		spec.FanOutCompute, spec.MutexContention:
		return true
	}
	return w.addedBlocking()
}

// setup applies the configured placement and allocates everything the
// loop needs. It runs on the worker thread before the start signal.
func (w *worker) setup() error {
	cfg := w.spec.Config
	if len(w.spec.CPUs) > 0 {
		var set unix.CPUSet
		for _, c := range w.spec.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("affinity: sched_setaffinity %v: %w", w.spec.CPUs, err)
		}
	}
	if err := applyMemPolicy(cfg.MemPolicy); err != nil {
		return err
	}
	if cfg.Nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), cfg.Nice); err != nil {
			return fmt.Errorf("nice: setpriority %d: %w", cfg.Nice, err)
		}
	}
	if err := applyPolicy(0, cfg.SchedPolicy); err != nil {
		return err
	}
	t := w.t
	switch t.Kind {
	case spec.IoSync, spec.Sequence:
		if err := w.openIo(); err != nil {
			return err
		}
	case spec.CachePressure, spec.CacheYield, spec.CachePipe:
		w.cache = make([]byte, t.CacheBytes)
	case spec.FanOutCompute:
		n := 1
		for (n+1)*(n+1)*8 <= t.CacheBytes {
			n++
		}
		w.matrix = make([]float64, n*n)
		w.vec = make([]float64, n)
		w.out = make([]float64, n)
		for i := range w.matrix {
			w.matrix[i] = float64(i%7) * 0.25
		}
		for i := range w.vec {
			w.vec[i] = 1
		}
	case spec.PageFaultChurn:
		mem, err := unix.Mmap(-1, 0, t.RegionBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return fmt.Errorf("work_type.region_bytes: map %d bytes: %w", t.RegionBytes, err)
		}
		w.region = mem
	case spec.NiceSweep:
		w.niceMin = -20
	case spec.PolicyChurn:
		w.policies = [5]policyStep{
			{0 /* SCHED_OTHER */, 0, true}, {unix.SCHED_BATCH, 0, true}, {unix.SCHED_IDLE, 0, true},
			{unix.SCHED_FIFO, 1, true}, {unix.SCHED_RR, 1, true},
		}
		w.npol = 5
	case spec.Custom:
		w.custom = lookupCustom(t.CustomName)
		if w.custom == nil {
			return fmt.Errorf("work_type.custom_name: %q not registered in this process (register it in an init function)", t.CustomName)
		}
	default:
		if err := w.setupAdded(); err != nil {
			return err
		}
	}
	w.m = newMeter(uint64(w.spec.Seed)*0x9e3779b97f4a7c15+uint64(w.spec.Index), w.blocking())
	return nil
}

func (w *worker) openIo() error {
	dir := os.TempDir()
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		name := filepath.Join(dir, "scxvm-io-"+strconv.Itoa(os.Getpid())+"-"+strconv.Itoa(unix.Gettid()))
		fd, err = unix.Open(name, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("io file in %s: %w", dir, err)
		}
		unix.Unlink(name)
	}
	w.ioFd = fd
	w.ioBuf = make([]byte, ioWriteBytes)
	return nil
}

// cleanup releases what setup allocated.
func (w *worker) cleanup() {
	if w.ioFd >= 0 {
		unix.Close(w.ioFd)
		w.ioFd = -1
	}
	if w.region != nil {
		unix.Munmap(w.region)
		w.region = nil
	}
	if w.m != nil {
		w.m.release()
	}
	w.cleanupAdded()
}

// run is the measured loop. The caller has called setup and waited for the
// start signal.
func (w *worker) run() spec.WorkerReport {
	r := spec.WorkerReport{Index: w.spec.Index, TID: unix.Gettid()}
	switch w.t.Kind {
	case spec.FutexFanOut, spec.FanOutCompute, spec.ThunderingHerd:
		r.IsMessenger = w.role == 0
	}
	if w.t.Kind == spec.AffinityChurn {
		w.loadStartMask()
	}
	w.beginAdded()
	w.m.begin()
	if w.custom != nil {
		c := &CustomContext{index: w.spec.Index, stop: w.stop, deadline: w.deadline, counter: w.counter, cfg: w.spec.Config}
		w.custom(c)
		w.iters = atomic.LoadUint64(w.counter)
		w.units = c.units
	} else {
		w.loop()
	}
	w.m.finish(&r, w.process)
	r.Degraded = w.degraded
	r.Iterations = w.iters
	r.WorkUnits = w.units
	r.Completed = true
	sink.Add(w.x)
	w.cleanup()
	return r
}

func (w *worker) loop() {
	defer w.releasePartner()
	for !w.stopped() {
		if !w.iterate() {
			return
		}
		w.iters++
		atomic.StoreUint64(w.counter, w.iters)
		if w.iters%w.cpEvery == 0 {
			now := w.resumed // a blocking iteration read the clock as it resumed
			if now == 0 {
				now = nanotime()
			}
			w.resumed = 0
			w.m.checkpoint(now)
			if pastDeadline(w.deadline, now) {
				// Stop the whole handle, as StopAndCollect would, so
				// that the workers blocked now stop too.
				atomic.StoreUint32(w.stop, 1)
				w.shm.wakeAll()
				return
			}
		}
	}
}

// resume reads the clock when a blocking iteration resumes, for its
// latency sample, and keeps the reading for the iteration's checkpoint:
// on a ping-pong round trip of a few microseconds a third clock read
// shows.
func (w *worker) resume() int64 {
	w.resumed = nanotime()
	return w.resumed
}

// releasePartner writes a byte to the pair partner's pipe when the loop
// ends, so that a partner blocked in read(2) sees the stop without waiting
// for StopAndCollect's kick (the handle holds the write ends too: no EOF).
func (w *worker) releasePartner() {
	if w.spec.PipeOut >= 0 && !w.releaseAdded() {
		w.syscall(unix.SYS_WRITE, uintptr(w.spec.PipeOut), uintptr(unsafe.Pointer(&w.one[0])), 1)
	}
}

// iterate runs one outer iteration; false means it was cut short by stop.
func (w *worker) iterate() bool {
	t := &w.t
	switch t.Kind {
	case spec.CpuSpin:
		w.spin(spinUnitsPerCpuSpinIter)
	case spec.YieldHeavy:
		w.spin(1)
		schedYield()
	case spec.Mixed:
		w.spin(spinUnitsPerCpuSpinIter)
		schedYield()
	case spec.IoSync:
		w.ioOnce()
		return w.sleep(int64(ioSleep))
	case spec.Bursty:
		if !w.spinFor(int64(t.Burst)) {
			return false
		}
		return w.sleep(int64(t.Sleep))
	case spec.PipeIo:
		return w.pipeExchange(t.BurstIters)
	case spec.CachePipe:
		w.cacheWalk(1024)
		return w.pipeExchange(t.BurstIters)
	case spec.FutexPingPong:
		return w.futexPingPong()
	case spec.CachePressure:
		w.cacheWalk(1024)
	case spec.CacheYield:
		w.cacheWalk(1024)
		schedYield()
	case spec.FutexFanOut:
		if w.role == 0 {
			return w.fanOutMessenger()
		}
		return w.fanOutReceiver()
	case spec.Sequence:
		return w.sequence()
	case spec.ForkExit:
		return w.forkExit()
	case spec.NiceSweep:
		w.spin(spinUnitsPerNiceSweep)
		w.niceStep()
		schedYield()
	case spec.AffinityChurn:
		w.spin(t.SpinIters)
		w.affinityStep()
		schedYield()
	case spec.PolicyChurn:
		w.spin(t.SpinIters)
		w.policyStep()
		schedYield()
	case spec.FanOutCompute:
		if w.role == 0 {
			return w.computeMessenger()
		}
		return w.computeReceiver()
	case spec.PageFaultChurn:
		w.pageFaults()
	case spec.MutexContention:
		return w.mutexRound()
	default:
		return w.iterateAdded()
	}
	return true
}

// spin does n opaque increments.
func (w *worker) spin(n int) {
	x := w.x
	for i := range n {
		x += uint64(i) | 1 // one dependent add per increment
	}
	w.x = x
	w.units += uint64(n)
}

// spinFor spins for d ns, checkpointing every 1024 increments.
func (w *worker) spinFor(d int64) bool {
	end := nanotime() + d
	for {
		w.spin(1024)
		now := nanotime()
		w.m.checkpoint(now)
		if now >= end {
			return true
		}
		if w.stopped() {
			return false
		}
	}
}

// sleep sleeps d ns in chunks of at most 100 ms (to notice stop), records
// the overshoot as a resume latency and credits the intended pause to the
// gap measurement.
func (w *worker) sleep(d int64) bool {
	start := nanotime()
	end := start + d
	now := start
	for now < end {
		if w.stopped() {
			return false
		}
		w.sleepTS = unix.NsecToTimespec(min(end-now, int64(maxSleepChunk)))
		w.syscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&w.sleepTS)), 0, 0)
		now = nanotime()
	}
	w.m.latency(now - end)
	w.m.credit(d)
	return true
}

func (w *worker) ioOnce() {
	for i := range ioWritesPerIteration {
		w.ioBuf[0] = byte(w.x)
		unix.Pwrite(w.ioFd, w.ioBuf, int64(i*ioWriteBytes))
	}
	unix.Fdatasync(w.ioFd)
	w.units += ioWritesPerIteration
}

func (w *worker) cacheWalk(n int) {
	buf := w.cache
	i, stride := w.cidx, w.t.Stride
	for range n {
		buf[i]++
		i += stride
		if i >= len(buf) {
			i -= len(buf)
		}
	}
	w.cidx = i
	w.units += uint64(n)
}

// pipeExchange spins, then does one round trip with the partner: role 0
// writes first. Both partners spin at the same time, so a round trip costs
// one spin plus two pipe hops.
func (w *worker) pipeExchange(burst int) bool {
	w.spin(burst)
	if w.role == 0 {
		if !w.pipeSend() {
			return false
		}
		return w.pipeRecv()
	}
	if !w.pipeRecv() {
		return false
	}
	return w.pipeSend()
}

func (w *worker) pipeSend() bool {
	if !w.spec.NoLatency {
		atomic.StoreInt64(w.shm.pipeStamp(w.group, 1-w.role), nanotime())
	}
	return w.sendByte()
}

// sendByte writes one byte to the partner pipe, again after EINTR; false
// means the partner is gone.
func (w *worker) sendByte() bool {
	for {
		n, e := w.syscall(unix.SYS_WRITE, uintptr(w.spec.PipeOut), uintptr(unsafe.Pointer(&w.one[0])), 1)
		if n == 1 {
			return true
		}
		if e != unix.EINTR {
			return false
		}
	}
}

// recvByte reads one byte from the partner pipe, blocking, again after
// EINTR; false means EOF or an error (the partner is gone).
func (w *worker) recvByte() bool {
	for {
		n, e := w.syscall(unix.SYS_READ, uintptr(w.spec.PipeIn), uintptr(unsafe.Pointer(&w.one[0])), 1)
		if n == 1 {
			return true
		}
		if e != unix.EINTR {
			return false
		}
	}
}

// pipeRecv blocks in read(2). Stop is seen at once because the handle
// writes a byte into every partner pipe after raising the stop flag.
func (w *worker) pipeRecv() bool {
	if !w.recvByte() || w.stopped() {
		return false
	}
	if !w.spec.NoLatency {
		w.m.latency(w.resume() - atomic.LoadInt64(w.shm.pipeStamp(w.group, w.role)))
	}
	return true
}

// waitWord waits until *addr != cur or stop; true if it had to block.
func (w *worker) waitWhile(addr *uint32, cur uint32) (waited, ok bool) {
	for atomic.LoadUint32(addr) == cur {
		if w.stopped() {
			return waited, false
		}
		waited = true
		w.futexWait(addr, cur, &w.waitTS)
	}
	return waited, true
}

// futexPingPong mirrors pipeExchange with a shared turn word: role 0
// spins, hands the turn to role 1 (store + FUTEX_WAKE) and waits for it to
// come back; role 1 spins, waits for its turn and hands it back. Both spin
// at the same time, so a round trip costs one spin plus two hand-offs.
func (w *worker) futexPingPong() bool {
	w.spin(w.t.SpinIters)
	if w.role == 0 {
		w.futexHandOff()
		return w.futexAwaitTurn()
	}
	if !w.futexAwaitTurn() {
		return false
	}
	w.futexHandOff()
	return true
}

func (w *worker) futexHandOff() {
	word := w.shm.groupWord(w.group)
	if !w.spec.NoLatency {
		atomic.StoreInt64(w.shm.groupStamp(w.group), nanotime())
	}
	atomic.StoreUint32(word, uint32(1-w.role))
	w.futexWake(word, 1)
}

// futexAwaitTurn waits until the turn word names this worker.
func (w *worker) futexAwaitTurn() bool {
	word := w.shm.groupWord(w.group)
	me := uint32(w.role)
	waited := false
	for {
		v := atomic.LoadUint32(word)
		if v == me {
			break
		}
		if w.stopped() {
			return false
		}
		waited = true
		w.futexWait(word, v, &w.waitTS)
	}
	if waited && !w.spec.NoLatency {
		w.m.latency(w.resume() - atomic.LoadInt64(w.shm.groupStamp(w.group)))
	}
	return true
}

func (w *worker) fanOutMessenger() bool {
	gen, ack := w.shm.groupWord(w.group), w.shm.groupAck(w.group)
	fan := uint32(w.gsize - 1)
	w.spin(w.t.SpinIters)
	atomic.StoreUint32(ack, 0)
	atomic.StoreInt64(w.shm.groupStamp(w.group), nanotime())
	atomic.AddUint32(gen, 1)
	w.futexWake(gen, int(fan))
	for {
		a := atomic.LoadUint32(ack)
		if a >= fan {
			return true
		}
		if w.stopped() {
			return false
		}
		w.futexWait(ack, a, &w.waitTS)
	}
}

// awaitGeneration blocks until the group's generation word moves past the
// last one this receiver saw, records the wake latency against the
// messenger's stamp when it had to wait, and reports false on stop.
func (w *worker) awaitGeneration() bool {
	gen := w.shm.groupWord(w.group)
	waited, ok := w.waitWhile(gen, w.lastGen)
	if !ok {
		return false
	}
	if waited {
		w.m.latency(w.resume() - atomic.LoadInt64(w.shm.groupStamp(w.group)))
	}
	w.lastGen = atomic.LoadUint32(gen)
	return true
}

func (w *worker) fanOutReceiver() bool {
	if !w.awaitGeneration() {
		return false
	}
	w.spin(w.t.SpinIters)
	ack := w.shm.groupAck(w.group)
	if atomic.AddUint32(ack, 1) == uint32(w.gsize-1) {
		w.futexWake(ack, 1)
	}
	return true
}

func (w *worker) computeMessenger() bool {
	gen := w.shm.groupWord(w.group)
	atomic.StoreInt64(w.shm.groupStamp(w.group), nanotime())
	atomic.AddUint32(gen, 1)
	w.futexWake(gen, w.gsize-1)
	w.units++
	return w.sleep(int64(w.t.Sleep))
}

func (w *worker) computeReceiver() bool {
	if !w.awaitGeneration() {
		return false
	}
	n := len(w.vec)
	for range w.t.Ops {
		for i := range n {
			row := w.matrix[i*n : (i+1)*n]
			var s float64
			for j, v := range row {
				s += v * w.vec[j]
			}
			w.out[i] = s * (1.0 / float64(n))
		}
		w.vec, w.out = w.out, w.vec
	}
	w.x += uint64(w.vec[0])
	w.units += uint64(w.t.Ops)
	return true
}

// mutexRound: work, lock (CAS, else FUTEX_WAIT), hold, unlock + wake.
// The word is 0 unlocked, 1 locked, 2 locked with waiters.
func (w *worker) mutexRound() bool {
	word := w.shm.groupWord(w.group)
	w.spin(w.t.WorkIters)
	if !atomic.CompareAndSwapUint32(word, 0, 1) {
		waited := false
		for atomic.SwapUint32(word, 2) != 0 {
			if w.stopped() {
				return false
			}
			waited = true
			w.futexWait(word, 2, &w.waitTS)
		}
		if waited {
			w.m.latency(w.resume() - atomic.LoadInt64(w.shm.groupStamp(w.group)))
		}
	}
	w.spin(w.t.HoldIters)
	if atomic.AddUint32(word, ^uint32(0)) != 0 {
		atomic.StoreUint32(word, 0)
		atomic.StoreInt64(w.shm.groupStamp(w.group), nanotime())
		w.futexWake(word, 1)
	}
	return true
}

func (w *worker) sequence() bool {
	for _, p := range w.t.Phases {
		d := int64(p.Duration)
		switch p.Kind {
		case spec.PhaseSpin:
			if !w.spinFor(d) {
				return false
			}
		case spec.PhaseSleep:
			if !w.sleep(d) {
				return false
			}
		case spec.PhaseYield, spec.PhaseIo:
			end := nanotime() + d
			for {
				if p.Kind == spec.PhaseYield {
					w.units++
					schedYield()
				} else {
					w.ioOnce()
				}
				now := nanotime()
				w.m.checkpoint(now)
				if now >= end {
					break
				}
				if w.stopped() {
					return false
				}
			}
		}
	}
	return true
}

func (w *worker) forkExit() bool {
	var pid int
	if haveVforkExit {
		p, errno := vforkExit()
		if errno != 0 {
			return !w.stopped()
		}
		pid = int(p)
	} else {
		p, err := forkExecExit()
		if err != nil {
			return !w.stopped()
		}
		pid = p
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == nil || !errors.Is(err, unix.EINTR) {
			break
		}
	}
	w.units++
	return true
}

func (w *worker) niceStep() {
	w.niceVal++
	if w.niceVal > 19 || w.niceVal < w.niceMin {
		w.niceVal = w.niceMin
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, w.niceVal); err != nil && w.niceVal < 0 {
		// Unprivileged: negative nice is not allowed; sweep 0..19.
		w.niceMin = 0
	}
}

// loadStartMask records the cpus AffinityChurn moves among: the mask at
// start (after any SetAffinity by the handle).
func (w *worker) loadStartMask() {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return
	}
	w.startCPUs = w.startCPUs[:0]
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			w.startCPUs = append(w.startCPUs, c)
		}
	}
}

func (w *worker) affinityStep() {
	if len(w.startCPUs) == 0 {
		return
	}
	c := w.startCPUs[w.m.rand()%uint64(len(w.startCPUs))]
	w.cpuset.Zero()
	w.cpuset.Set(c)
	unix.RawSyscall(unix.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(w.cpuset), uintptr(unsafe.Pointer(&w.cpuset)))
}

func (w *worker) policyStep() {
	for range w.npol {
		w.polIdx = (w.polIdx + 1) % w.npol
		p := &w.policies[w.polIdx]
		if !p.ok {
			continue
		}
		w.param.prio = int32(p.prio)
		_, _, e := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, uintptr(p.policy), uintptr(unsafe.Pointer(&w.param)))
		if e == unix.EPERM {
			p.ok = false
			continue
		}
		w.units++
		return
	}
}

func (w *worker) pageFaults() {
	pages := len(w.region) / unix.Getpagesize()
	page := unix.Getpagesize()
	for range w.t.Touches {
		i := int(w.m.rand() % uint64(pages))
		w.region[i*page] = byte(w.x)
		w.spin(w.t.SpinIters)
	}
	unix.Madvise(w.region, unix.MADV_DONTNEED)
	w.units += uint64(w.t.Touches)
}

// waitStartFd blocks until the handle starts the workers; false means the
// handle went away or did not start within DefaultStartTimeout. Unlike the
// loop, it uses a non-raw system call: the runtime then parks the P, and
// sysmon, seeing nothing to do, sleeps instead of polling every 20-10000 us
// (about 1 ms of cpu per worker otherwise).
func waitStartFd(fd int, s *shm) bool {
	deadline := nanotime() + int64(DefaultStartTimeout)
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	for {
		left := deadline - nanotime()
		if left <= 0 {
			return false
		}
		ts := unix.NsecToTimespec(min(left, int64(time.Second)))
		n, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1,
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e != 0 && e != unix.EINTR {
			return false
		}
		if e == 0 && n > 0 {
			// EOF: the handle closed its end. Started tells Start from death.
			return atomic.LoadUint32(s.started()) != 0
		}
	}
}

// applyPolicy sets the scheduling policy of tid (0: the calling thread).
func applyPolicy(tid int, p spec.SchedPolicy) error {
	var policy int
	switch p.Class {
	case spec.PolicyNormal:
		return nil
	case spec.PolicyBatch:
		policy = unix.SCHED_BATCH
	case spec.PolicyIdle:
		policy = unix.SCHED_IDLE
	case spec.PolicyFIFO:
		policy = unix.SCHED_FIFO
	case spec.PolicyRoundRobin:
		policy = unix.SCHED_RR
	default:
		return fmt.Errorf("sched_policy.class: %q unknown", p.Class)
	}
	param := schedParam{prio: int32(p.Priority)}
	_, _, e := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(policy), uintptr(unsafe.Pointer(&param)))
	if e != 0 {
		hint := ""
		if e == unix.EPERM {
			hint = " (fifo and rr need CAP_SYS_NICE or RLIMIT_RTPRIO)"
		}
		return fmt.Errorf("sched_policy: sched_setscheduler %s prio %d: %w%s", p.Class, p.Priority, e, hint)
	}
	return nil
}

// applyMemPolicy calls set_mempolicy for the calling thread.
func applyMemPolicy(m spec.MemPolicy) error {
	var mode uintptr
	switch m.Mode {
	case spec.MemDefault:
		return nil
	case spec.MemBind:
		mode = unix.MPOL_BIND
	case spec.MemPreferred:
		mode = unix.MPOL_PREFERRED
	case spec.MemInterleave:
		mode = unix.MPOL_INTERLEAVE
	case spec.MemLocal:
		mode = unix.MPOL_LOCAL
	case spec.MemPreferredMany:
		mode = 5 // MPOL_PREFERRED_MANY
	case spec.MemWeightedInterleave:
		mode = 6 // MPOL_WEIGHTED_INTERLEAVE
	}
	for _, f := range m.Flags {
		switch f {
		case spec.MemFlagStaticNodes:
			mode |= unix.MPOL_F_STATIC_NODES
		case spec.MemFlagRelativeNodes:
			mode |= unix.MPOL_F_RELATIVE_NODES
		case spec.MemFlagNumaBalancing:
			mode |= unix.MPOL_F_NUMA_BALANCING
		}
	}
	var mask []uint64
	for _, n := range m.Nodes {
		for len(mask) <= n/64 {
			mask = append(mask, 0)
		}
		mask[n/64] |= 1 << (n % 64)
	}
	var ptr, maxnode uintptr
	if len(mask) > 0 {
		ptr = uintptr(unsafe.Pointer(&mask[0]))
		maxnode = uintptr(len(mask)*64 + 1)
	}
	_, _, e := unix.Syscall(unix.SYS_SET_MEMPOLICY, mode, ptr, maxnode)
	if e != 0 {
		return fmt.Errorf("mem_policy: set_mempolicy %s %v: %w", m.Mode, m.Nodes, e)
	}
	return nil
}

// syscall makes a system call from the loop. Process workers use raw
// system calls: no runtime bookkeeping, and sysmon does not hand the P
// away (and spin up) while the worker blocks; nothing else runs in the
// worker process, and its GC is off. Thread workers share the caller's
// runtime and must let it stop the world, so they use Syscall.
func (w *worker) syscall(trap, a1, a2, a3 uintptr) (uintptr, unix.Errno) {
	var r uintptr
	var e unix.Errno
	if w.process {
		r, _, e = unix.RawSyscall(trap, a1, a2, a3)
	} else {
		r, _, e = unix.Syscall(trap, a1, a2, a3)
	}
	return r, e
}

func (w *worker) syscall6(trap, a1, a2, a3, a4 uintptr) {
	if w.process {
		unix.RawSyscall6(trap, a1, a2, a3, a4, 0, 0)
	} else {
		unix.Syscall6(trap, a1, a2, a3, a4, 0, 0)
	}
}

// futexWait blocks while *addr == val, at most w.waitTS (100 ms).
func (w *worker) futexWait(addr *uint32, val uint32, ts *unix.Timespec) {
	w.syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val), uintptr(unsafe.Pointer(ts)))
}

// futexWake wakes up to n waiters on addr.
func (w *worker) futexWake(addr *uint32, n int) {
	w.syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(n), 0)
}
