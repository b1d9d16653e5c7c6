package workload

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// PriorityInversion: three tiers around one lock.

// Nice values of the tiers (high, medium, low), with the privilege for
// negative nice and without.
var (
	inversionNice       = [3]int{-10, 0, 10}
	inversionNiceNoPriv = [3]int{0, 10, 19}
)

// setupInversion gives the worker its tier and the tier's priority.
func (w *worker) setupInversion() error {
	t := w.t
	switch {
	case w.role < t.High:
		w.k.tier = tierHigh
	case w.role < t.High+t.Medium:
		w.k.tier = tierMedium
	default:
		w.k.tier = tierLow
	}
	w.k.tid = uint32(unix.Gettid())
	if t.RTPriority > 0 {
		prio := t.RTPriority + 2 - w.k.tier
		err := applyPolicy(0, spec.SchedPolicy{Class: spec.PolicyFIFO, Priority: prio})
		if err == nil {
			return nil
		}
		w.degrade("fifo %d refused (%v): nice tiers instead", prio, err)
	}
	nice := inversionNice[w.k.tier]
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice); err != nil {
		nice = inversionNiceNoPriv[w.k.tier]
		if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice); err != nil {
			return fmt.Errorf("work_type: PriorityInversion: setpriority %d: %w", nice, err)
		}
		w.degrade("nice -10 refused: tiers run at nice 0, 10 and 19")
	}
	return nil
}

// pinGroup puts a group with an inherited affinity on one cpu, the
// group's place among the allowed ones, so that its tiers compete.
func (w *worker) pinGroup() {
	if len(w.spec.CPUs) > 0 {
		return
	}
	cpus := startMask()
	if len(cpus) == 0 {
		return
	}
	if err := pinTo(cpus[w.group%len(cpus)]); err != nil {
		w.degrade("pin the group to cpu %d: %v", cpus[w.group%len(cpus)], err)
	}
}

// inversionRound: medium spins; high and low spin, take the lock, hold it,
// release it.
func (w *worker) inversionRound() bool {
	if w.k.tier == tierMedium {
		w.spin(w.t.WorkIters)
		return true
	}
	if !w.t.PI {
		return w.mutexRound()
	}
	w.spin(w.t.WorkIters)
	if !w.lockPI() {
		return false
	}
	w.spin(w.t.HoldIters)
	w.unlockPI()
	return true
}

// lockPI takes the group's priority-inheriting futex: the word holds the
// owner's tid; contention goes to FUTEX_LOCK_PI, which boosts the owner to
// the waiter's priority. Its timeout is absolute CLOCK_REALTIME.
func (w *worker) lockPI() bool {
	word := w.shm.groupWord(w.group)
	if atomic.CompareAndSwapUint32(word, 0, w.k.tid) {
		return true
	}
	for {
		if w.stopped() {
			return false
		}
		var now unix.Timespec
		unix.ClockGettime(unix.CLOCK_REALTIME, &now)
		w.k.lockTS = unix.NsecToTimespec(now.Nano() + int64(maxSleepChunk))
		_, e := w.sys6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexLockPIOp, 0,
			uintptr(unsafe.Pointer(&w.k.lockTS)), 0, 0)
		switch e {
		case 0:
			w.m.latency(w.resume() - atomic.LoadInt64(w.shm.groupStamp(w.group)))
			return true
		case unix.ETIMEDOUT, unix.EINTR, unix.EAGAIN:
		case unix.ESRCH:
			// The owner died (killed): its tid stays in the word.
			if o := atomic.LoadUint32(word); o&0x3fffffff != 0 && unix.Kill(int(o&0x3fffffff), 0) == unix.ESRCH {
				atomic.CompareAndSwapUint32(word, o, 0)
			}
			w.sleepTS = unix.NsecToTimespec(int64(time.Millisecond))
			w.syscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&w.sleepTS)), 0, 0)
		default:
			return false
		}
	}
}

// unlockPI releases the lock; with waiters the kernel hands it to the top
// one.
func (w *worker) unlockPI() {
	word := w.shm.groupWord(w.group)
	atomic.StoreInt64(w.shm.groupStamp(w.group), nanotime())
	if atomic.CompareAndSwapUint32(word, w.k.tid, 0) {
		return
	}
	w.sys6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexUnlockPIOp, 0, 0, 0, 0)
}
