package workload

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// WakeChain, EpollStorm, ThunderingHerd, ProducerConsumerImbalance and
// SignalStorm: the added wake-up patterns. Each wakee records, when it had
// to sleep, the time from the stamp its waker wrote just before issuing the
// wake-up to the moment it ran again.

// futex(2) operations beyond futexWaitOp and futexWakeOp.
const (
	futexWaitBitsetOp = 9
	futexWakeBitsetOp = 10
	futexLockPIOp     = 6
	futexUnlockPIOp   = 7
)

// chainBit is the FUTEX_*_BITSET bit of WakeChain stage s.
func chainBit(s int) uintptr { return 1 << (s % 32) }

// wakeChain is one hop of a WakeChain stage: wait for the token (stage 0
// holds it first), spin, pass it on.
func (w *worker) wakeChain() bool {
	if w.role != 0 || w.k.started {
		if !w.chainWait() {
			return false
		}
	}
	w.k.started = true
	w.spin(w.t.WorkIters)
	next := (w.role + 1) % w.gsize
	atomic.StoreInt64(w.shm.groupStamp(w.group), nanotime())
	if w.t.Wake == spec.WakeFutex {
		word := w.shm.groupWord(w.group)
		atomic.StoreUint32(word, uint32(next))
		w.sys6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWakeBitsetOp, 1<<30, 0, 0, chainBit(next))
		return true
	}
	return w.sendByte()
}

// chainWait blocks until this stage holds the token and records the
// hop's wake-up latency.
func (w *worker) chainWait() bool {
	if w.t.Wake == spec.WakeFutex {
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
			// The bitset wait's timeout is absolute (CLOCK_MONOTONIC).
			w.k.lockTS = unix.NsecToTimespec(nanotime() + int64(maxSleepChunk))
			w.sys6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWaitBitsetOp, uintptr(v),
				uintptr(unsafe.Pointer(&w.k.lockTS)), 0, chainBit(w.role))
		}
		if waited {
			w.m.latency(w.resume() - atomic.LoadInt64(w.shm.groupStamp(w.group)))
		}
		return true
	}
	if !w.recvByte() || w.stopped() {
		return false
	}
	w.m.latency(w.resume() - atomic.LoadInt64(w.shm.groupStamp(w.group)))
	return true
}

// setupEpoll gives an EpollStorm consumer its own epoll instance on the
// group's eventfd, with EPOLLEXCLUSIVE: an event wakes one consumer.
func (w *worker) setupEpoll() error {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("work_type: EpollStorm: epoll_create1: %w", err)
	}
	w.k.epfd = fd
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(w.spec.PipeIn)}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, w.spec.PipeIn, &ev); err != nil {
		return fmt.Errorf("work_type: EpollStorm: epoll_ctl: %w", err)
	}
	return nil
}

// epollProduce writes a burst of events, then sleeps. The first write
// after the queue ran empty stamps the time (see epollConsume).
func (w *worker) epollProduce() bool {
	stamp := w.shm.groupStamp(w.group)
	w.k.evBuf = [8]byte{1}
	for range w.t.EventsPerBurst {
		atomic.CompareAndSwapInt64(stamp, 0, nanotime())
		w.syscall(unix.SYS_WRITE, uintptr(w.spec.PipeOut), uintptr(unsafe.Pointer(&w.k.evBuf[0])), 8)
	}
	w.units += uint64(w.t.EventsPerBurst)
	return w.sleep(int64(w.t.Sleep))
}

// epollConsume takes one event, sleeping in epoll_wait while there is
// none, and spins. A consumer that finds the queue empty clears the stamp
// before it sleeps, so that the next write stamps the wake-up it issues.
func (w *worker) epollConsume() bool {
	stamp := w.shm.groupStamp(w.group)
	slept := false
	for {
		n, e := w.syscall(unix.SYS_READ, uintptr(w.spec.PipeIn), uintptr(unsafe.Pointer(&w.k.evBuf[0])), 8)
		if n == 8 {
			break
		}
		if e != unix.EAGAIN && e != unix.EINTR {
			return false
		}
		if w.stopped() {
			return false
		}
		// The queue was empty: the next write issues the wake-up. (A
		// write racing with this store loses its sample, nothing more.)
		atomic.StoreInt64(stamp, 0)
		slept = true
		w.sys6(unix.SYS_EPOLL_PWAIT, uintptr(w.k.epfd), uintptr(unsafe.Pointer(&w.k.events[0])), 1,
			uintptr(maxSleepChunk.Milliseconds()), 0, 0)
	}
	if slept {
		if s := atomic.SwapInt64(stamp, 0); s != 0 {
			w.m.latency(w.resume() - s)
		}
	}
	if w.stopped() {
		return false
	}
	w.spin(w.t.SpinIters)
	return true
}

// herdWake is the ThunderingHerd waker: wait until every waiter is about
// to park, give them the pause to do so, then wake them all at once.
func (w *worker) herdWake() bool {
	ack, gen := w.shm.groupAck(w.group), w.shm.groupWord(w.group)
	waiters := uint32(w.gsize - 1)
	for {
		a := atomic.LoadUint32(ack)
		if a >= waiters {
			break
		}
		if w.stopped() {
			return false
		}
		w.futexWait(ack, a, &w.waitTS)
	}
	atomic.StoreUint32(ack, 0)
	if !w.sleep(int64(w.t.Sleep)) {
		return false
	}
	atomic.StoreInt64(w.shm.groupStamp(w.group), nanotime())
	atomic.AddUint32(gen, 1)
	w.futexWake(gen, 1<<30)
	w.units++
	return true
}

// herdWait is a ThunderingHerd waiter: announce it parks, wait for the
// broadcast (recording the latency), spin.
func (w *worker) herdWait() bool {
	ack := w.shm.groupAck(w.group)
	if atomic.AddUint32(ack, 1) == uint32(w.gsize-1) {
		w.futexWake(ack, 1)
	}
	if !w.awaitGeneration() {
		return false
	}
	w.spin(w.t.SpinIters)
	return true
}

// The ProducerConsumerImbalance queue: a futex lock (group word), the
// push and pop counts as futex words (word 2 and 3), head and tail (u64
// slots 0 and 1) and the stamped items in the following lines.

func (w *worker) pcLock() bool {
	word := w.shm.groupWord(w.group)
	if atomic.CompareAndSwapUint32(word, 0, 1) {
		return true
	}
	for atomic.SwapUint32(word, 2) != 0 {
		if w.stopped() {
			return false
		}
		w.futexWait(word, 2, &w.waitTS)
	}
	return true
}

func (w *worker) pcUnlock() {
	word := w.shm.groupWord(w.group)
	if atomic.AddUint32(word, ^uint32(0)) != 0 {
		atomic.StoreUint32(word, 0)
		w.futexWake(word, 1)
	}
}

// pcProduce paces itself to rate items per second, then pushes one
// stamped item, blocking while the queue is full.
func (w *worker) pcProduce() bool {
	period := int64(1e9) / int64(w.t.Rate)
	now := nanotime()
	switch {
	case w.k.next == 0 || now-w.k.next > 10*period:
		w.k.next = now // start, or fell far behind (blocked on a full queue): no catch-up burst
	case now < w.k.next:
		if !w.sleep(w.k.next - now) {
			return false
		}
	}
	w.k.next += period
	head, tail := w.shm.groupSlot64(w.group, 0), w.shm.groupSlot64(w.group, 1)
	pushed, popped := w.shm.groupWord2(w.group), w.shm.groupWord3(w.group)
	depth := uint64(w.t.QueueDepth)
	for {
		if !w.pcLock() {
			return false
		}
		h, t := atomic.LoadUint64(head), atomic.LoadUint64(tail)
		if t-h < depth {
			atomic.StoreInt64(w.shm.groupRing(w.group, int(t%depth)), nanotime())
			atomic.StoreUint64(tail, t+1)
			atomic.AddUint32(pushed, 1)
			w.pcUnlock()
			w.futexWake(pushed, 1)
			w.units++
			return true
		}
		seq := atomic.LoadUint32(popped)
		w.pcUnlock()
		if w.stopped() {
			return false
		}
		w.futexWait(popped, seq, &w.waitTS)
	}
}

// pcConsume pops one item, blocking while the queue is empty, and works on
// it. A consumer that slept records the latency from the item's push.
func (w *worker) pcConsume() bool {
	head, tail := w.shm.groupSlot64(w.group, 0), w.shm.groupSlot64(w.group, 1)
	pushed, popped := w.shm.groupWord2(w.group), w.shm.groupWord3(w.group)
	depth := uint64(w.t.QueueDepth)
	slept := false
	for {
		if !w.pcLock() {
			return false
		}
		h, t := atomic.LoadUint64(head), atomic.LoadUint64(tail)
		if h < t {
			stamp := atomic.LoadInt64(w.shm.groupRing(w.group, int(h%depth)))
			atomic.StoreUint64(head, h+1)
			atomic.AddUint32(popped, 1)
			w.pcUnlock()
			w.futexWake(popped, 1)
			if slept {
				w.m.latency(w.resume() - stamp)
			}
			break
		}
		seq := atomic.LoadUint32(pushed)
		w.pcUnlock()
		if w.stopped() {
			return false
		}
		slept = true
		w.futexWait(pushed, seq, &w.waitTS)
	}
	w.spin(w.t.WorkIters)
	return true
}

// stormSignal is SignalStorm's signal: a real-time signal (queued, one
// wake-up each), blocked in the workers, which take it with sigtimedwait,
// so that no handler runs. The Go runtime leaves it alone.
const stormSignal = 40

// setupSignals blocks the storm signal on the worker thread and publishes
// the thread's ids for the partner (group slots 2*role, 2*role+1).
func (w *worker) setupSignals() error {
	w.k.sigset = 1 << (stormSignal - 1)
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&w.k.sigset)), 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("work_type: SignalStorm: block signal %d: %w", stormSignal, e)
	}
	atomic.StoreUint32(w.shm.groupSlot32(w.group, 2*w.role), uint32(unix.Getpid()))
	atomic.StoreUint32(w.shm.groupSlot32(w.group, 2*w.role+1), uint32(unix.Gettid()))
	return nil
}

// loadPartner reads the partner's ids (both set up before the start).
func (w *worker) loadPartner() {
	p := 1 - w.role
	w.k.partnerPID = int(atomic.LoadUint32(w.shm.groupSlot32(w.group, 2*p)))
	w.k.partnerTID = int(atomic.LoadUint32(w.shm.groupSlot32(w.group, 2*p+1)))
}

// sigwait takes one storm signal, waiting at most ts; false when none came.
func (w *worker) sigwait(ts *unix.Timespec) bool {
	r, _ := w.sys6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&w.k.sigset)), uintptr(unsafe.Pointer(&w.k.siginfo[0])),
		uintptr(unsafe.Pointer(ts)), 8, 0, 0)
	return int(r) == stormSignal
}

// signalRound spins, fires the signals at the partner, then waits for
// one of the partner's and drains the others.
func (w *worker) signalRound() bool {
	w.spin(w.t.WorkIters)
	atomic.StoreInt64(w.shm.pipeStamp(w.group, 1-w.role), nanotime())
	for range w.t.Signals {
		_, e := w.sys6(unix.SYS_TGKILL, uintptr(w.k.partnerPID), uintptr(w.k.partnerTID), stormSignal, 0, 0, 0)
		if e == unix.ESRCH {
			return !w.stopped() // partner gone
		}
	}
	w.units += uint64(w.t.Signals)
	if !w.sigwait(&w.k.zeroTS) {
		for {
			if w.stopped() {
				return false
			}
			if w.sigwait(&w.waitTS) {
				w.m.latency(w.resume() - atomic.LoadInt64(w.shm.pipeStamp(w.group, w.role)))
				break
			}
		}
	}
	for w.sigwait(&w.k.zeroTS) {
	}
	return true
}
