package stallwatch

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

// TestWatchFakeProc runs a watch over a proc tree where a kernel thread
// stays runnable with frozen counters: it must be announced once, after
// the threshold, and reported by Stop as still waiting.
func TestWatchFakeProc(t *testing.T) {
	root := fakeProc(t, map[string]string{
		"14/stat":      statLine(14, "kworker/0:1", 'R', pfKthread, 1, 1),
		"14/schedstat": "500 0 9\n",
		"16/stat":      statLine(16, "rcu_preempt", 'I', pfKthread, 1, 0),
		"16/schedstat": "7 0 1\n",
	})
	var mu sync.Mutex
	var stalls []protocol.TaskWait
	start := time.Now()
	w := Start(Config{
		ProcRoot: root, Interval: 10 * time.Millisecond, Threshold: 100 * time.Millisecond,
		NoRealTime: true,
		OnStall: func(tw protocol.TaskWait) {
			mu.Lock()
			defer mu.Unlock()
			stalls = append(stalls, tw)
		},
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(stalls)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // more samples: still one announcement
	waits, stats := w.Stop()
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if len(stalls) != 1 || stalls[0].PID != 14 || stalls[0].Comm != "kworker/0:1" || stalls[0].CPU != 1 || !stalls[0].Kthread {
		t.Fatalf("announced %+v, want kworker/0:1 once", stalls)
	}
	if d := stalls[0].Waited; d <= 100*time.Millisecond || d > elapsed {
		t.Errorf("announced after %v, want within (100ms, %v]", d, elapsed)
	}
	if len(waits) != 1 || waits[0].PID != 14 || !waits[0].Ongoing || waits[0].Waited < stalls[0].Waited {
		t.Errorf("Stop waits %+v", waits)
	}
	if stats.Error != "" || stats.Samples < 10 || stats.MaxTasks != 2 || stats.Watched <= 0 || stats.Interval != 10*time.Millisecond || stats.RealTime {
		t.Errorf("stats %+v", stats)
	}
	if w2, s2 := w.Stop(); len(w2) != len(waits) || s2 != stats {
		t.Errorf("second Stop differs: %+v %+v", w2, s2)
	}
}

// TestWatchLiveProc watches the machine's /proc briefly, at the
// real-time policy when the test may set it (root): it must sample, use
// some cpu time, and stop at once when asked.
func TestWatchLiveProc(t *testing.T) {
	w := Start(Config{Threshold: time.Hour, Interval: 20 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	_, stats := w.Stop()
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Stop took %v", d)
	}
	if stats.Error != "" || stats.Samples < 2 || stats.MaxTasks == 0 || stats.CPUTime <= 0 {
		t.Errorf("stats %+v", stats)
	}
	if os.Geteuid() == 0 && !stats.RealTime {
		t.Errorf("running as root, but the watch did not get SCHED_FIFO")
	}
	t.Logf("%d samples of up to %d threads, %v cpu in %v (%.2f%% of a cpu)", stats.Samples, stats.MaxTasks, stats.CPUTime, stats.Watched, 100*float64(stats.CPUTime)/float64(stats.Watched))
}

func TestWatchNoProc(t *testing.T) {
	w := Start(Config{ProcRoot: t.TempDir() + "/none", Threshold: time.Second})
	_, stats := w.Stop()
	if stats.Error == "" || stats.Samples != 0 {
		t.Errorf("stats %+v, want an error and no samples", stats)
	}
}

func TestIntervalFor(t *testing.T) {
	for _, tc := range []struct{ threshold, want time.Duration }{
		{2 * time.Second, 500 * time.Millisecond},
		{500 * time.Millisecond, 125 * time.Millisecond},
		{200 * time.Millisecond, MinInterval},
		{30 * time.Second, MaxInterval},
	} {
		if got := IntervalFor(tc.threshold); got != tc.want {
			t.Errorf("IntervalFor(%v) = %v, want %v", tc.threshold, got, tc.want)
		}
	}
}
