package stallwatch

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/protocol"
)

// Sampling periods: IntervalFor picks one within these bounds.
const (
	MinInterval = 100 * time.Millisecond
	MaxInterval = time.Second
)

// IntervalFor returns the sampling period for a threshold: a quarter of
// it, within MinInterval and MaxInterval. A sample of the ~90 threads of
// an idle guest costs about 0.4 ms natively but 10-40 ms of guest time
// under TCG on a busy host, and the watch preempts workers while it runs:
// at an eighth of the default threshold it pushed the fairness spread of
// the oversubscribed scenario under fifo over its limit in 3 runs of 3.
func IntervalFor(threshold time.Duration) time.Duration {
	return min(max(threshold/4, MinInterval), MaxInterval)
}

// Config tunes a watch. Threshold is required.
type Config struct {
	// ProcRoot is the proc file system; default "/proc". It is ignored
	// when Sampler is set.
	ProcRoot string
	// Sampler, when set, is used (and left open) instead of a new one:
	// a sampler kept from job to job has the files of the guest's long
	// lived threads open already.
	Sampler *Sampler
	// Interval is the sampling period; default IntervalFor(Threshold).
	Interval time.Duration
	// Threshold is the wait after which OnStall is called.
	Threshold time.Duration
	// Floor is the shortest wait kept for Stop's list; default a quarter
	// of Threshold.
	Floor time.Duration
	// Start is the origin of TaskWait.At; default when Start is called.
	Start time.Time
	// NoRealTime keeps the watch at the normal policy (tests on a host).
	NoRealTime bool
	// OnStall, when not nil, is called on the watch's thread the first
	// time a thread's wait exceeds Threshold.
	OnStall func(protocol.TaskWait)
}

// Watch is a running stall watch.
type Watch struct {
	cfg   Config
	wake  int // write end of the pipe the watch polls
	done  chan struct{}
	once  sync.Once
	waits []protocol.TaskWait
	stats protocol.WatchStats
}

// Start starts a watch on its own thread. It does not fail: a watch that
// cannot run says why in its stats' Error.
func Start(cfg Config) *Watch {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = IntervalFor(cfg.Threshold)
	}
	if cfg.Floor <= 0 {
		cfg.Floor = cfg.Threshold / 4
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	w := &Watch{cfg: cfg, wake: -1, done: make(chan struct{})}
	w.stats.Interval = cfg.Interval
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		w.stats.Error = fmt.Sprintf("stall watch: pipe: %v", err)
		close(w.done)
		return w
	}
	w.wake = p[1]
	go w.run(p[0])
	return w
}

// Stop takes a last sample, ends the watch and returns the longest waits
// (longest first, at most protocol.MaxRunnableWaits, each at least the
// floor) and the watch's statistics. It is idempotent.
func (w *Watch) Stop() ([]protocol.TaskWait, protocol.WatchStats) {
	w.once.Do(func() {
		if w.wake >= 0 {
			unix.Write(w.wake, []byte{1})
		}
		<-w.done
		if w.wake >= 0 {
			unix.Close(w.wake)
		}
	})
	return w.waits, w.stats
}

// run is the watch's thread. It never unlocks the thread, so the thread
// and its real-time policy end with the goroutine.
func (w *Watch) run(wakeFd int) {
	runtime.LockOSThread()
	defer close(w.done)
	defer unix.Close(wakeFd)
	if !w.cfg.NoRealTime {
		// Priority 1: above every sched_ext and fair task, below every
		// other real-time task.
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
		w.stats.RealTime = unix.SchedSetAttr(0, &attr, 0) == nil
	}
	cpu0 := threadCPUTime()
	t0 := time.Now()
	s := w.cfg.Sampler
	if s == nil {
		s = NewSampler(w.cfg.ProcRoot)
		defer s.Close()
	}
	s.Self = unix.Gettid()
	tr := NewTracker(w.cfg.Start, w.cfg.Threshold, w.cfg.Floor)
	var tasks []Task
	for stop := false; ; {
		now := time.Now()
		var n int
		var err error
		tasks, n, err = s.Sample(tasks[:0])
		if err != nil {
			w.stats.Error = fmt.Sprintf("stall watch: %v", err)
			break
		}
		w.stats.Samples++
		w.stats.MaxTasks = max(w.stats.MaxTasks, n)
		w.stats.MaxSample = max(w.stats.MaxSample, time.Since(now))
		for _, tw := range tr.Observe(now, tasks) {
			if w.cfg.OnStall != nil {
				w.cfg.OnStall(tw)
			}
		}
		if stop {
			break
		}
		stop, err = sleep(wakeFd, now.Add(w.cfg.Interval))
		if err != nil {
			w.stats.Error = fmt.Sprintf("stall watch: %v", err)
			break
		}
	}
	w.waits = tr.Waits(protocol.MaxRunnableWaits)
	w.stats.Watched = time.Since(t0)
	w.stats.CPUTime = threadCPUTime() - cpu0
}

// sleep waits until deadline or until the wake pipe is written (then it
// returns true), with a system call that needs no other thread of the Go
// runtime.
func sleep(fd int, deadline time.Time) (bool, error) {
	for {
		d := time.Until(deadline)
		if d <= 0 {
			return false, nil
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int((d+time.Millisecond-1)/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll: %w", err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

// threadCPUTime is the calling thread's cpu time.
func threadCPUTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
