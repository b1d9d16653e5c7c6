package workload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// The loops of the kinds ktstr 0.5.2 added (spec/worktypes.go says what
// each stresses). The hooks in worker_linux.go call setupAdded, beginAdded,
// iterateAdded, addedBlocking, releaseAdded and cleanupAdded; the loops
// live in worker_io_linux.go, worker_place_linux.go, worker_wake_linux.go
// and worker_prio_linux.go.

// kindState is what the added kinds keep between iterations.
type kindState struct {
	started bool  // the first iteration ran (WakeChain's first stage)
	next    int64 // time of the next periodic action (CLOCK_MONOTONIC ns; 0: at once)
	idx     int   // position in a rotation
	tier    int   // PriorityInversion tier; pcProducer/pcConsumer role
	tid     uint32

	// I/O kinds.
	ioRead    int    // fd reads go to (O_DIRECT when possible)
	ioBlock   []byte // one aligned 4 KiB block (mmap)
	ioBlocks  int64  // file_bytes / 4 KiB
	ioCursor  int64
	ioEmulate bool // no device behind the file: sleep instead

	// Placement kinds.
	rotation []unix.CPUSet // NumaMigrationChurn: allowed cpus of each node
	nodes    []int         // NumaWorkingSetSweep: the nodes to move through
	cgFds    []int         // CgroupChurn: cgroup.procs of each cgroup
	chase    []uint32      // IpcVariance: next line of the random cycle, at [line*16]

	// Wake kinds.
	epfd       int
	events     [1]unix.EpollEvent
	evBuf      [8]byte
	partnerPID int
	partnerTID int
	sigset     uint64
	siginfo    [128]byte
	zeroTS     unix.Timespec
	lockTS     unix.Timespec
}

// Roles of the grouped added kinds.
const (
	tierHigh   = 0
	tierMedium = 1
	tierLow    = 2
)

// eventKick is written to an EpollStorm eventfd on stop: a count large
// enough to wake every consumer.
var eventKick = func() (b [8]byte) {
	binary.LittleEndian.PutUint64(b[:], 1<<20)
	return b
}()

// degrade records what the worker could not do as configured
// (WorkerReport.Degraded).
func (w *worker) degrade(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(w.degraded, msg) {
		return
	}
	if w.degraded != "" {
		w.degraded += "; "
	}
	w.degraded += msg
}

// setupAdded prepares an added kind on the worker thread before the start
// signal; an error fails Spawn.
func (w *worker) setupAdded() error {
	w.k.epfd = -1
	w.k.ioRead = -1
	w.k.zeroTS = unix.Timespec{}
	t := w.t
	switch t.Kind {
	case spec.IoSyncWrite, spec.IoRandRead, spec.IoConvoy:
		return w.setupIO()
	case spec.IpcVariance:
		w.setupChase()
	case spec.IdleChurn:
		// The sleep's overshoot is then the scheduler's, not the timer
		// slack's (50 us by default).
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	case spec.CgroupChurn:
		return w.setupCgroupChurn()
	case spec.NumaWorkingSetSweep:
		return w.setupSweep()
	case spec.AsymmetricWaker:
		class := t.WakerClass
		if w.role == 1 {
			class = t.WakeeClass
		}
		w.setRolePolicy(class, t.RTPriority)
	case spec.EpollStorm:
		if w.role >= t.Producers {
			return w.setupEpoll()
		}
	case spec.SignalStorm:
		return w.setupSignals()
	case spec.PriorityInversion:
		return w.setupInversion()
	case spec.PreemptStorm:
		if w.role == 0 {
			w.setRolePolicy(spec.PolicyFIFO, t.RTPriority)
		}
	case spec.RtStarvation:
		if w.role < t.RTWorkers {
			w.setRolePolicy(spec.PolicyFIFO, t.RTPriority)
		}
	}
	return nil
}

// beginAdded runs on the worker thread after the start signal, once the
// worker sits in its final cgroup: placement that a cpuset change would
// undo is applied here.
func (w *worker) beginAdded() {
	switch w.t.Kind {
	case spec.SmtSiblingSpin:
		w.pinSMT()
	case spec.NumaMigrationChurn:
		w.loadNodeRotation()
	case spec.PriorityInversion:
		w.pinGroup()
	case spec.SignalStorm:
		w.loadPartner()
	}
}

// addedBlocking reports whether the worker records resume latencies.
func (w *worker) addedBlocking() bool {
	t := w.t
	switch t.Kind {
	case spec.IoSyncWrite, spec.IoRandRead, spec.IoConvoy:
		return w.k.ioEmulate
	case spec.IdleChurn, spec.AsymmetricWaker, spec.WakeChain, spec.EpollStorm, spec.ThunderingHerd,
		spec.ProducerConsumerImbalance, spec.SignalStorm:
		return true
	case spec.PriorityInversion:
		return w.k.tier != tierMedium
	case spec.PreemptStorm:
		return w.role == 0
	}
	return false
}

// iterateAdded runs one outer iteration of an added kind; false means it
// was cut short by stop.
func (w *worker) iterateAdded() bool {
	t := &w.t
	switch t.Kind {
	case spec.IoSyncWrite:
		return w.ioSyncWrite()
	case spec.IoRandRead:
		return w.ioRandRead()
	case spec.IoConvoy:
		return w.ioConvoy()
	case spec.AluHot:
		w.aluHot(t.SpinIters)
	case spec.SmtSiblingSpin:
		w.pauseSpin(t.SpinIters)
	case spec.IpcVariance:
		w.aluHot(t.HotIters)
		w.chaseLines(t.ColdIters)
	case spec.IdleChurn:
		if !w.spinFor(int64(t.Burst)) {
			return false
		}
		return w.sleep(int64(t.Sleep))
	case spec.NumaMigrationChurn:
		w.spin(t.SpinIters)
		w.nodeStep()
	case spec.CgroupChurn:
		w.spin(t.SpinIters)
		w.cgroupStep()
	case spec.NumaWorkingSetSweep:
		w.sweepStep()
	case spec.AsymmetricWaker:
		if w.role == 0 {
			w.spin(t.BurstIters)
			w.futexHandOff()
			return w.futexAwaitTurn()
		}
		if !w.futexAwaitTurn() {
			return false
		}
		w.units++
		w.futexHandOff()
	case spec.WakeChain:
		return w.wakeChain()
	case spec.EpollStorm:
		if w.role < t.Producers {
			return w.epollProduce()
		}
		return w.epollConsume()
	case spec.ThunderingHerd:
		if w.role == 0 {
			return w.herdWake()
		}
		return w.herdWait()
	case spec.PriorityInversion:
		return w.inversionRound()
	case spec.ProducerConsumerImbalance:
		if w.role < t.Producers {
			return w.pcProduce()
		}
		return w.pcConsume()
	case spec.SignalStorm:
		return w.signalRound()
	case spec.PreemptStorm:
		if w.role == 0 {
			w.spin(t.BurstIters)
			return w.sleep(int64(t.Sleep))
		}
		w.spin(spinUnitsPerCpuSpinIter)
	case spec.RtStarvation:
		w.spin(t.BurstIters)
	}
	return true
}

// releaseAdded wakes the partners of an added kind when the loop ends;
// true means it did, so the pipe byte of releasePartner is not needed.
func (w *worker) releaseAdded() bool {
	if w.t.Kind == spec.EpollStorm {
		w.syscall(unix.SYS_WRITE, uintptr(w.spec.PipeOut), uintptr(unsafe.Pointer(&eventKick[0])), 8)
		return true
	}
	return false
}

// cleanupAdded releases what setupAdded allocated.
func (w *worker) cleanupAdded() {
	if w.k.ioRead >= 0 && w.k.ioRead != w.ioFd {
		unix.Close(w.k.ioRead)
	}
	w.k.ioRead = -1
	if w.k.ioBlock != nil {
		unix.Munmap(w.k.ioBlock)
		w.k.ioBlock = nil
	}
	if w.k.epfd >= 0 {
		unix.Close(w.k.epfd)
		w.k.epfd = -1
	}
	for _, fd := range w.k.cgFds {
		unix.Close(fd)
	}
	w.k.cgFds = nil
}

// setRolePolicy applies a role's scheduling class to the calling thread.
// A real-time class the system refuses (no CAP_SYS_NICE or RLIMIT_RTPRIO)
// becomes SCHED_OTHER at nice -20, or 0 where that is refused too, and
// the worker says so in its report.
func (w *worker) setRolePolicy(class spec.PolicyClass, prio int) {
	p := spec.SchedPolicy{Class: class}
	if class == spec.PolicyFIFO || class == spec.PolicyRoundRobin {
		p.Priority = prio
	}
	err := applyPolicy(0, p)
	if err == nil {
		return
	}
	if p.Priority == 0 {
		w.degrade("%v; runs normal instead", err)
		return
	}
	nice := -20
	if unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice) != nil {
		nice = 0
	}
	w.degrade("%s %d refused (%v): runs normal at nice %d instead", class, prio, errors.Unwrap(err), nice)
}

// sys6 makes a six-argument system call from the loop (raw for process
// workers, see syscall).
func (w *worker) sys6(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, unix.Errno) {
	var r uintptr
	var e unix.Errno
	if w.process {
		r, _, e = unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
	} else {
		r, _, e = unix.Syscall6(trap, a1, a2, a3, a4, a5, a6)
	}
	return r, e
}

// groupSlot32 is the u32 slot i (0-3) of the group's kind-specific area
// (@40..@55); groupSlot64 the u64 slot i (0-2) at @40, @48, @56.
func (s *shm) groupSlot32(g, i int) *uint32 { return s.u32(s.groupBase(g) + 40 + 4*i) }
func (s *shm) groupSlot64(g, i int) *uint64 { return s.u64(s.groupBase(g) + 40 + 8*i) }
func (s *shm) groupWord2(g int) *uint32     { return s.u32(s.groupBase(g) + 32) }
func (s *shm) groupWord3(g int) *uint32     { return s.u32(s.groupBase(g) + 36) }

// groupRing is slot i of a group's queue, in the lines after its first.
func (s *shm) groupRing(g, i int) *int64 { return s.i64(s.groupBase(g) + lineSize + 8*i) }

// groupLines is the shared-memory lines each group of t needs.
func groupLines(t spec.WorkType) int {
	if t.Kind == spec.ProducerConsumerImbalance {
		return 1 + (t.QueueDepth*8+lineSize-1)/lineSize
	}
	return 1
}

// layoutOf is the shared-memory layout of cfg (defaults applied).
func layoutOf(cfg spec.WorkloadConfig) layout {
	t := cfg.WorkType
	return layoutLines(cfg.NumWorkers, t.GroupSize(), groupLines(t))
}

// checkKindOptions checks that the spawn options give an added kind what
// it needs.
func checkKindOptions(cfg spec.WorkloadConfig, o spawnOptions) error {
	if cfg.WorkType.Kind == spec.CgroupChurn && len(o.churnCgroups) < 2 {
		return fmt.Errorf("CgroupChurn needs the cgroups to move between: pass workload.ChurnCgroups(own, sibling, ...) with at least two cgroup v2 directories (the guest agent creates work_type.groups siblings itself); got %d", len(o.churnCgroups))
	}
	return nil
}

// kindFds creates the file descriptors the added kinds share within a
// group: WakeChain's pipe ring (stage i reads pipe i and writes pipe i+1)
// and EpollStorm's eventfd.
func (h *WorkloadHandle) kindFds(specs []workerSpec) error {
	t := h.cfg.WorkType
	g := t.GroupSize()
	switch {
	case t.Kind == spec.WakeChain && t.Wake == spec.WakePipe:
		for base := 0; base < h.n; base += g {
			ring := make([][2]int, g)
			for i := range ring {
				if err := unix.Pipe2(ring[i][:], unix.O_CLOEXEC); err != nil {
					return fmt.Errorf("wake chain pipe: %w", err)
				}
				h.pipes = append(h.pipes, ring[i][0], ring[i][1])
				h.kickFds = append(h.kickFds, ring[i][1])
			}
			for i := range g {
				specs[base+i].PipeIn, specs[base+i].PipeOut = ring[i][0], ring[(i+1)%g][1]
			}
		}
	case t.Kind == spec.EpollStorm:
		for base := 0; base < h.n; base += g {
			fd, err := unix.Eventfd(0, unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				return fmt.Errorf("epoll storm eventfd: %w", err)
			}
			h.pipes = append(h.pipes, fd)
			h.kickEvFds = append(h.kickEvFds, fd)
			for i := range g {
				specs[base+i].PipeIn, specs[base+i].PipeOut = fd, fd
			}
		}
	}
	return nil
}

// startMask returns the calling thread's allowed cpus.
func startMask() []int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return nil
	}
	var out []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// pinTo sets the calling thread's affinity to cpus.
func pinTo(cpus ...int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return unix.SchedSetaffinity(0, &set)
}
