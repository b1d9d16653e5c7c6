package vmtest

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest/check"
)

// TestE2EStallWatch boots three guests at once. Under the "starve"
// fixture, which never runs kernel threads enqueued while the cpus are
// busy and leaves the kernel's watchdog at 30 s, the steady scenario must
// fail check no_stalled_task (and nothing else) with a kernel thread
// named, the stall must reach the host live, and the kernel must not have
// ejected the scheduler. Under the built-in fifo and under EEVDF, every
// catalogue scenario must pass: the watch must not fire.
func TestE2EStallWatch(t *testing.T) {
	starve := e2e(t, kernel.Debian)
	starve.Scheduler = spec.Scheduler{Name: spec.SchedulerStarve}
	var mu sync.Mutex
	var firstStall, ejected time.Duration
	var stallMsg string
	logf := starve.Logf
	starve.Progress = func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case e.Kind == EventStall && firstStall == 0 && strings.Contains(e.Message, "kernel thread"):
			firstStall, stallMsg = e.Elapsed, e.Message
			logf("live: %s", e.Message)
		case e.Kind == EventSched && e.SchedEvent != nil && e.SchedEvent.Kind == string(protocol.SchedEjected) && ejected == 0:
			ejected = e.Elapsed
			logf("live: %s", e.Message)
		}
	}
	fifo := e2e(t, kernel.Debian)
	fifo.Scenarios = Scenarios()
	fifo.ConsoleLog = filepath.Join(t.TempDir(), "console-fifo.log")
	eevdf := e2e(t, kernel.Debian)
	eevdf.Scheduler = spec.Scheduler{Name: spec.SchedulerNone}
	eevdf.Scenarios = Scenarios()
	eevdf.ConsoleLog = filepath.Join(t.TempDir(), "console-eevdf.log")

	names := []string{"starve", "fifo", "eevdf"}
	cfgs := []Config{starve, fifo, eevdf}
	results := make([]*Result, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = runE2E(t, cfg)
		}()
	}
	wg.Wait()

	t.Run("starve", func(t *testing.T) {
		res, err := results[0], errs[0]
		wantFailure(t, res, err, FailChecks, spec.CheckNoStalledTask, "kernel thread", "stayed runnable on cpu")
		mu.Lock()
		switch {
		case firstStall == 0:
			t.Errorf("no live stall event named a kernel thread")
		case ejected != 0:
			t.Errorf("the kernel's watchdog acted (%v after Run started; stall reported at %v)", ejected, firstStall)
		default:
			t.Logf("stall reported live %v after Run started: %s", firstStall.Round(time.Millisecond), stallMsg)
		}
		mu.Unlock()
		sr := res.Scenario("steady")
		if sr == nil {
			t.Fatalf("no steady result:\n%s", Explain(res, err))
		}
		for _, f := range sr.Failures {
			if f.Check != spec.CheckNoStalledTask {
				t.Errorf("another check failed under starve: %s", f)
			}
		}
		sw := sr.StallWatch
		if sw == nil || !sw.Final || len(sw.Waits) == 0 {
			t.Fatalf("stall watch: %+v", sw)
		}
		if w := sw.Waits[0]; w.PID <= 0 || w.Comm == "" || w.Waited <= spec.DefaultMaxRunnableWait {
			t.Errorf("longest wait %+v: want one over %v", w, spec.DefaultMaxRunnableWait)
		}
		for _, f := range sr.Failures {
			t.Logf("%s", f)
		}
		t.Logf("watch: %s", describeWatch(sw))
	})
	for i, name := range names[1:] {
		t.Run(name, func(t *testing.T) {
			res, err := results[i+1], errs[i+1]
			if err != nil {
				t.Errorf("%s", Explain(res, err))
			}
			if res == nil {
				return
			}
			if len(res.Scenarios) != len(Scenarios()) {
				t.Errorf("%d scenarios ran, want %d", len(res.Scenarios), len(Scenarios()))
			}
			for _, sr := range res.Scenarios {
				for _, f := range sr.Failures {
					if f.Check == spec.CheckNoStalledTask {
						t.Errorf("%s: the stall watch fired: %s", sr.Name, f)
					}
				}
				if sr.StallWatch == nil || !sr.StallWatch.Final || sr.StallWatch.Samples == 0 {
					t.Errorf("%s: no stall watch report: %+v", sr.Name, sr.StallWatch)
					continue
				}
				t.Logf("%-16s %s", sr.Name, describeWatch(sr.StallWatch))
			}
		})
	}
}

// describeWatch summarises a watch: its longest wait and its cost.
func describeWatch(sw *check.StallWatch) string {
	longest := "none above the floor"
	if len(sw.Waits) > 0 {
		w := sw.Waits[0]
		longest = fmt.Sprintf("%s[%d] %v", w.Comm, w.PID, w.Waited.Round(time.Millisecond))
	}
	var rt string
	if !sw.RealTime {
		rt = " (not real-time)"
	}
	return strings.TrimSpace(fmt.Sprintf("longest wait %s; %d samples of <= %d threads every %v, %.1f ms cpu per sample, %.1f%% of one cpu%s",
		longest, sw.Samples, sw.MaxTasks, sw.Interval, float64(sw.CPUTime.Microseconds())/1000/float64(max(sw.Samples, 1)), 100*sw.CPUShare(), rt))
}
