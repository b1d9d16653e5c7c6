package workload

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/proctest"
	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

func init() {
	// Registered in init so that process workers (re-executions of this
	// test binary) know them too.
	RegisterCustom("test-progress", func(c *CustomContext) {
		for !c.Stopped() {
			for range 1000 {
				sink.Add(1)
			}
			c.Progress(1000)
		}
	})
	// Worker 0 ignores the stop request; the others honour it.
	RegisterCustom("test-ignore-stop", func(c *CustomContext) {
		for c.Index() == 0 || !c.Stopped() {
			c.Progress(1)
			time.Sleep(time.Millisecond)
		}
	})
}

// runFor spawns cfg, runs it for d and returns the reports.
func runFor(t *testing.T, cfg spec.WorkloadConfig, d time.Duration) []spec.WorkerReport {
	t.Helper()
	h, err := Spawn(cfg)
	if err != nil {
		t.Fatalf("Spawn(%+v): %v", cfg, err)
	}
	defer func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	h.Start()
	time.Sleep(d)
	return h.StopAndCollect()
}

// runUntilProgress runs the workers for at least d and then until every
// worker that may not starve has finished a few iterations, for at most
// 30 s: on a loaded host (the race detector, go test running packages in
// parallel, guests booting beside it) a worker can be held off the cpu
// for longer than any fixed run, and a test of a kind's behaviour must
// not fail on that.
func runUntilProgress(t *testing.T, cfg spec.WorkloadConfig, d time.Duration, mayStarve func(i int) bool) []spec.WorkerReport {
	t.Helper()
	h, err := Spawn(cfg)
	if err != nil {
		t.Fatalf("Spawn(%+v): %v", cfg, err)
	}
	defer func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	h.Start()
	time.Sleep(d)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		behind := false
		for i, n := range h.SnapshotIterations() {
			if n < 3 && !mayStarve(i) {
				behind = true
			}
		}
		if !behind {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return h.StopAndCollect()
}

func TestEveryKind(t *testing.T) {
	short := map[spec.WorkKind]spec.WorkType{
		spec.Bursty:        {Kind: spec.Bursty, Burst: 5 * time.Millisecond, Sleep: 5 * time.Millisecond},
		spec.Sequence:      {Kind: spec.Sequence, Phases: []spec.Phase{{Kind: spec.PhaseSpin, Duration: 3 * time.Millisecond}, {Kind: spec.PhaseSleep, Duration: 2 * time.Millisecond}, {Kind: spec.PhaseYield, Duration: time.Millisecond}, {Kind: spec.PhaseIo, Duration: time.Millisecond}}},
		spec.Custom:        {Kind: spec.Custom, CustomName: "test-progress"},
		spec.FanOutCompute: {Kind: spec.FanOutCompute, FanOut: 2, CacheBytes: 32 << 10, Ops: 2},
		spec.FutexFanOut:   {Kind: spec.FutexFanOut, FanOut: 2},
		// A long hold makes the contenders wait even on a loaded host.
		spec.MutexContention: {Kind: spec.MutexContention, Contenders: 3, HoldIters: 200_000},
	}
	for k, wt := range addedKindsShort {
		short[k] = wt
	}
	threadKinds := []spec.WorkKind{spec.CpuSpin, spec.PipeIo, spec.FutexPingPong, spec.FutexFanOut, spec.ForkExit, spec.MutexContention, spec.AffinityChurn, spec.PolicyChurn, spec.IoSync, spec.Custom}
	for k := range addedKindsShort {
		if k.ThreadCapable() {
			threadKinds = append(threadKinds, k)
		}
	}
	for _, mode := range []spec.CloneMode{spec.CloneProcess, spec.CloneThread} {
		for _, kind := range spec.WorkKinds() {
			if mode == spec.CloneThread && !slices.Contains(threadKinds, kind) {
				continue
			}
			if kind == spec.CgroupChurn {
				continue // needs cgroups: TestCgroupChurn
			}
			t.Run(string(kind)+"/"+modeName(mode), func(t *testing.T) {
				wt, ok := short[kind]
				if !ok {
					wt = spec.WorkType{Kind: kind}
				}
				n := max(wt.GroupSize(), 2)
				if n%wt.GroupSize() != 0 {
					n = wt.GroupSize()
				}
				run := 150 * time.Millisecond
				if kind == spec.PriorityInversion {
					// Its low tier's 300,000-iteration hold alone can
					// outlast 150 ms under -race on a loaded host.
					run = 600 * time.Millisecond
				}
				reports := runUntilProgress(t, spec.WorkloadConfig{NumWorkers: n, WorkType: wt, CloneMode: mode}, run,
					func(i int) bool { return mayStarve(wt.WithDefaults(), i) })
				if len(reports) != n {
					t.Fatalf("got %d reports, want %d", len(reports), n)
				}
				var latencies uint64
				for i, r := range reports {
					if !r.Completed {
						t.Errorf("worker %d: not completed: %+v", i, r.Exit)
						continue
					}
					if r.Index != i || r.TID <= 0 {
						t.Errorf("worker %d: index %d tid %d", i, r.Index, r.TID)
					}
					if mayStarve(wt.WithDefaults(), i) && r.Iterations == 0 {
						t.Logf("worker %d starved, as this kind may on a loaded host", i)
						continue
					}
					if r.Iterations == 0 || r.WorkUnits == 0 {
						t.Errorf("worker %d: no progress: iterations %d units %d", i, r.Iterations, r.WorkUnits)
					}
					if r.WallTimeNs == 0 || r.CPUTimeNs == 0 || r.WallTimeNs < r.OffCPUNs {
						t.Errorf("worker %d: times wall %d cpu %d off %d", i, r.WallTimeNs, r.CPUTimeNs, r.OffCPUNs)
					}
					if kind != spec.Custom && len(r.CPUsUsed) == 0 {
						t.Errorf("worker %d: no cpus_used", i)
					}
					if int(r.ResumeLatencyCount) < len(r.ResumeLatenciesNs) {
						t.Errorf("worker %d: %d samples > count %d", i, len(r.ResumeLatenciesNs), r.ResumeLatencyCount)
					}
					latencies += r.ResumeLatencyCount
					if (kind == spec.FutexFanOut || kind == spec.FanOutCompute || kind == spec.ThunderingHerd) != r.IsMessenger && i == 0 {
						t.Errorf("worker 0: is_messenger %v", r.IsMessenger)
					}
				}
				w := &worker{t: wt.WithDefaults()}
				if w.blocking() && latencies == 0 {
					t.Errorf("blocking kind %s recorded no resume latency", kind)
				}
				checkAddedKind(t, wt.WithDefaults(), reports)
			})
		}
	}
}

func TestStuckWorkerTimesOut(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 3, WorkType: spec.WorkType{Kind: spec.Custom, CustomName: "test-ignore-stop"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetStopTimeout(time.Second)
	h.Start()
	time.Sleep(50 * time.Millisecond)
	begin := time.Now()
	reports := h.StopAndCollect()
	took := time.Since(begin)
	if took < time.Second || took > 1500*time.Millisecond {
		t.Errorf("StopAndCollect took %v, want about the 1 s deadline", took)
	}
	if r := reports[0]; r.Completed || r.Exit.Kind != spec.ExitTimedOut || r.Exit.Signal != int(syscall.SIGKILL) {
		t.Errorf("stuck worker: completed %v exit %+v, want timed_out/SIGKILL", r.Completed, r.Exit)
	}
	for _, r := range reports[1:] {
		if !r.Completed || r.Iterations == 0 {
			t.Errorf("worker %d: completed %v iterations %d exit %+v", r.Index, r.Completed, r.Iterations, r.Exit)
		}
	}
}

func TestKilledWorker(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.Start()
	time.Sleep(30 * time.Millisecond)
	if err := h.Signal(1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	reports := h.StopAndCollect()
	if r := reports[1]; r.Completed || r.Exit.Kind != spec.ExitSignaled || r.Exit.Signal != int(syscall.SIGKILL) {
		t.Errorf("killed worker: completed %v exit %+v, want signaled/9", r.Completed, r.Exit)
	}
	for _, i := range []int{0, 2} {
		if r := reports[i]; !r.Completed || r.Iterations == 0 {
			t.Errorf("worker %d: completed %v iterations %d", i, r.Completed, r.Iterations)
		}
	}
	if err := h.Signal(0, syscall.SIGKILL); err == nil {
		t.Error("Signal after StopAndCollect: no error for a reaped worker")
	}
}

func TestCloseAfterPanic(t *testing.T) {
	for _, mode := range []spec.CloneMode{spec.CloneProcess, spec.CloneThread} {
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Fatalf("recover: %v", r)
				}
			}()
			h, err := Spawn(spec.WorkloadConfig{NumWorkers: 4, WorkType: spec.WorkType{Kind: spec.PipeIo}, CloneMode: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			h.Start()
			time.Sleep(20 * time.Millisecond)
			panic("boom")
		}()
		if kids := proctest.Children(os.Getpid()); len(kids) != 0 {
			t.Errorf("%q: children left after Close: %v", mode, kids)
		}
		if m := memfdMapped(); m != "" {
			t.Errorf("%q: memfd still mapped after Close: %s", mode, m)
		}
	}
}

func TestCloseBeforeStart(t *testing.T) {
	for _, mode := range []spec.CloneMode{spec.CloneProcess, spec.CloneThread} {
		h, err := Spawn(spec.WorkloadConfig{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.FutexPingPong}, CloneMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Errorf("%q: Close: %v", mode, err)
		}
		if err := h.Close(); err != nil {
			t.Errorf("%q: second Close: %v", mode, err)
		}
		if kids := proctest.Children(os.Getpid()); len(kids) != 0 {
			t.Errorf("%q: children left: %v", mode, kids)
		}
		if got := h.SnapshotIterations(); len(got) != 2 {
			t.Errorf("SnapshotIterations after Close: %v", got)
		}
	}
}

func TestStopAndCollectAutoStartsAndRepeats(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	first := h.StopAndCollect() // never started
	for _, r := range first {
		if !r.Completed {
			t.Errorf("worker %d: not completed: %+v", r.Index, r.Exit)
		}
	}
	h.Start() // after stop: no effect
	if again := h.StopAndCollect(); len(again) != 2 || again[0].TID != first[0].TID {
		t.Errorf("second StopAndCollect: %+v", again)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotMonotonic(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.Mixed}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := h.SnapshotIterations(); got[0] != 0 || got[1] != 0 {
		t.Errorf("before Start: %v", got)
	}
	h.Start()
	prev := h.SnapshotIterations()
	for range 10 {
		time.Sleep(10 * time.Millisecond)
		cur := h.SnapshotIterations()
		for i := range cur {
			if cur[i] < prev[i] {
				t.Errorf("worker %d: counter went back %d -> %d", i, prev[i], cur[i])
			}
		}
		prev = cur
	}
	reports := h.StopAndCollect()
	for i, r := range reports {
		if prev[i] == 0 || r.Iterations < prev[i] {
			t.Errorf("worker %d: last snapshot %d, report %d", i, prev[i], r.Iterations)
		}
	}
}

func schedGetscheduler(tid int) int {
	r, _, _ := unix.RawSyscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	return int(r)
}

func cpusOf(t *testing.T, tid int) []int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil {
		t.Fatal(err)
	}
	var out []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

func TestPlacementApplied(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Log("not root: fifo and negative nice are not tested")
	}
	tests := []struct {
		name   string
		cfg    spec.WorkloadConfig
		policy int
		cpus   []int
		nice   int
	}{
		{"batch-cpu0", spec.WorkloadConfig{SchedPolicy: spec.SchedPolicy{Class: spec.PolicyBatch}, Affinity: spec.Affinity{Kind: spec.AffinityFixed, CPUs: []int{0}}, Nice: 5}, unix.SCHED_BATCH, []int{0}, 5},
		{"idle-single1", spec.WorkloadConfig{SchedPolicy: spec.SchedPolicy{Class: spec.PolicyIdle}, Affinity: spec.Affinity{Kind: spec.AffinitySingle, CPU: 1}}, unix.SCHED_IDLE, []int{1}, 0},
		// Real-time spinners stay on cpu 0 so that cpu 1 runs the test.
		{"fifo", spec.WorkloadConfig{SchedPolicy: spec.SchedPolicy{Class: spec.PolicyFIFO, Priority: 10}, Affinity: spec.Affinity{Kind: spec.AffinityFixed, CPUs: []int{0}}, Nice: -3}, unix.SCHED_FIFO, []int{0}, -3},
		{"rr", spec.WorkloadConfig{SchedPolicy: spec.SchedPolicy{Class: spec.PolicyRoundRobin, Priority: 1}, Affinity: spec.Affinity{Kind: spec.AffinitySingle, CPU: 0}}, unix.SCHED_RR, []int{0}, 0},
	}
	for _, tt := range tests {
		for _, mode := range []spec.CloneMode{spec.CloneProcess, spec.CloneThread} {
			t.Run(tt.name+"/"+modeName(mode), func(t *testing.T) {
				if (tt.policy == unix.SCHED_FIFO || tt.policy == unix.SCHED_RR || tt.nice < 0) && unix.Geteuid() != 0 {
					t.Skip("SKIP (loud): fifo/rr/negative nice need root or CAP_SYS_NICE; run the tests as root")
				}
				cfg := tt.cfg
				cfg.NumWorkers, cfg.CloneMode = 2, mode
				h, err := Spawn(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				for _, tid := range h.WorkerTIDs() {
					if got := schedGetscheduler(tid); got != tt.policy {
						t.Errorf("tid %d: policy %d, want %d", tid, got, tt.policy)
					}
					if tt.cpus != nil && !slices.Equal(cpusOf(t, tid), tt.cpus) {
						t.Errorf("tid %d: cpus %v, want %v", tid, cpusOf(t, tid), tt.cpus)
					}
					prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
					if err != nil {
						t.Fatal(err)
					}
					if got := 20 - prio; got != tt.nice {
						t.Errorf("tid %d: nice %d, want %d", tid, got, tt.nice)
					}
				}
				if err := h.SetAffinity(1, []int{0}); err != nil {
					t.Fatal(err)
				}
				if got := cpusOf(t, h.WorkerTIDs()[1]); !slices.Equal(got, []int{0}) {
					t.Errorf("after SetAffinity: %v", got)
				}
				h.Start()
				time.Sleep(30 * time.Millisecond)
				for _, r := range h.StopAndCollect() {
					want := tt.cpus
					if r.Index == 1 {
						want = []int{0}
					}
					if want != nil && !slices.Equal(r.CPUsUsed, want) {
						t.Errorf("worker %d ran on %v, want %v", r.Index, r.CPUsUsed, want)
					}
				}
			})
		}
	}
}

func TestRandomAffinity(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 4, Affinity: spec.Affinity{Kind: spec.AffinityRandom, From: []int{0, 1}, Count: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, pid := range h.WorkerPIDs() {
		if got := cpusOf(t, pid); len(got) != 1 || got[0] > 1 {
			t.Errorf("pid %d: cpus %v, want one of [0 1]", pid, got)
		}
	}
}

func TestThreadWorkersIdentity(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 2, CloneMode: spec.CloneThread})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.WorkerPIDsForCgroupProcs(); !errors.Is(err, ErrThreadWorkers) {
		t.Errorf("WorkerPIDsForCgroupProcs: %v, want ErrThreadWorkers", err)
	}
	pid := unix.Getpid()
	tids := h.WorkerTIDs()
	for i, p := range h.WorkerPIDs() {
		if p != pid || tids[i] == pid || tids[i] <= 0 {
			t.Errorf("worker %d: pid %d tid %d (process %d)", i, p, tids[i], pid)
		}
	}
	if err := h.Signal(0, syscall.SIGSTOP); !errors.Is(err, ErrThreadWorkers) {
		t.Errorf("Signal on a thread worker: %v", err)
	}
	reports := h.StopAndCollect()
	for i, r := range reports {
		if r.TID != tids[i] {
			t.Errorf("worker %d: report tid %d, WorkerTIDs %d", i, r.TID, tids[i])
		}
	}
}

func TestProcessWorkersIdentity(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	pids, err := h.WorkerPIDsForCgroupProcs()
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !IsWorker(pid) {
			t.Errorf("IsWorker(%d) = false for a live worker", pid)
		}
	}
	defer func() {
		for _, pid := range pids {
			if IsWorker(pid) {
				t.Errorf("IsWorker(%d) = true after StopAndCollect", pid)
			}
		}
	}()
	if !slices.Equal(pids, h.WorkerTIDs()) || !slices.Equal(pids, h.WorkerPIDs()) {
		t.Errorf("pids %v tids %v", pids, h.WorkerTIDs())
	}
	for i, r := range h.StopAndCollect() {
		if r.TID != pids[i] {
			t.Errorf("worker %d: report tid %d, pid %d (loop not on the main thread?)", i, r.TID, pids[i])
		}
	}
}

func TestSpawnRejectsInvalidConfig(t *testing.T) {
	_, err := Spawn(spec.WorkloadConfig{NumWorkers: 3, WorkType: spec.WorkType{Kind: spec.PipeIo}})
	var ce *spec.ValidationError
	if !errors.As(err, &ce) {
		t.Fatalf("Spawn: %v, want a *spec.ValidationError", err)
	}
	if kids := proctest.Children(os.Getpid()); len(kids) != 0 {
		t.Errorf("children after a failed Spawn: %v", kids)
	}
	_, err = Spawn(spec.WorkloadConfig{NumWorkers: 1, WorkType: spec.WorkType{Kind: spec.Custom, CustomName: "nope"}})
	if !errors.As(err, &ce) || ce.Path != "work_type.custom_name" || !strings.Contains(err.Error(), "test-progress") {
		t.Errorf("Spawn of an unregistered custom function: %v, want an error listing the registered ones", err)
	}
}

func TestSetupFailureFailsSpawn(t *testing.T) {
	// cpu 1000 passes validation but does not exist here:
	// sched_setaffinity fails in the worker.
	for _, mode := range []spec.CloneMode{spec.CloneProcess, spec.CloneThread} {
		_, err := Spawn(spec.WorkloadConfig{NumWorkers: 2, CloneMode: mode, Affinity: spec.Affinity{Kind: spec.AffinitySingle, CPU: 1000}})
		if err == nil {
			t.Fatalf("%q: Spawn with affinity cpu 1000 succeeded", mode)
		}
		t.Logf("%q: %v", mode, err)
		if kids := proctest.Children(os.Getpid()); len(kids) != 0 {
			t.Errorf("children after a failed Spawn: %v", kids)
		}
	}
}

func modeName(m spec.CloneMode) string {
	if m == spec.CloneProcess {
		return "process"
	}
	return string(m)
}

// Thread workers end their OS threads; process workers of another handle
// must survive that (PR_SET_PDEATHSIG follows the forking thread).
func TestThreadExitDoesNotKillProcessWorkers(t *testing.T) {
	for range 3 {
		hp, err := Spawn(spec.WorkloadConfig{NumWorkers: 2})
		if err != nil {
			t.Fatal(err)
		}
		ht, err := Spawn(spec.WorkloadConfig{NumWorkers: 4, CloneMode: spec.CloneThread})
		if err != nil {
			hp.Close()
			t.Fatal(err)
		}
		ht.StopAndCollect()
		if err := ht.Close(); err != nil {
			t.Error(err)
		}
		time.Sleep(20 * time.Millisecond)
		for _, r := range hp.StopAndCollect() {
			if !r.Completed {
				t.Errorf("process worker %d died with the thread workers: %+v", r.Index, r.Exit)
			}
		}
		hp.Close()
	}
}

func TestPanickingWorker(t *testing.T) {
	for _, mode := range []spec.CloneMode{spec.CloneProcess, spec.CloneThread} {
		reports := runFor(t, spec.WorkloadConfig{NumWorkers: 2, CloneMode: mode,
			WorkType: spec.WorkType{Kind: spec.Custom, CustomName: "test-panic"}}, 20*time.Millisecond)
		if r := reports[1]; r.Completed || r.Exit.Kind != spec.ExitExited || r.Exit.Code != 2 {
			t.Errorf("%s: panicking worker: completed %v exit %+v", modeName(mode), r.Completed, r.Exit)
		}
		if r := reports[0]; !r.Completed {
			t.Errorf("%s: worker 0: %+v", modeName(mode), r.Exit)
		}
	}
}

func init() {
	RegisterCustom("test-panic", func(c *CustomContext) {
		if c.Index() == 1 {
			panic("test-panic worker")
		}
		for !c.Stopped() {
			c.Progress(1)
			time.Sleep(time.Millisecond)
		}
	})
}

func TestSpawnRefusesInUnconvertedChild(t *testing.T) {
	t.Setenv(envWorker, "AAAA")
	if _, err := Spawn(spec.WorkloadConfig{NumWorkers: 1}); err == nil || !strings.Contains(err.Error(), "RunWorkerIfChild") {
		t.Errorf("Spawn in a worker child: %v, want an error naming RunWorkerIfChild", err)
	}
}

// Blocked workers must see the stop quickly: sleeps wake every 100 ms,
// futex and pipe waiters are woken by the handle.
func TestStopReachesBlockedWorkers(t *testing.T) {
	tests := []struct {
		name string
		cfg  spec.WorkloadConfig
		kill int // worker to SIGKILL first (-1: none), leaving its partner blocked
	}{
		{"long sleep", spec.WorkloadConfig{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.Bursty, Burst: time.Millisecond, Sleep: 10 * time.Second}}, -1},
		{"pipe partner dead", spec.WorkloadConfig{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.PipeIo}}, 0},
		{"futex partner dead", spec.WorkloadConfig{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.FutexPingPong}}, 1},
		{"fan-out messenger dead", spec.WorkloadConfig{NumWorkers: 3, WorkType: spec.WorkType{Kind: spec.FutexFanOut, FanOut: 2}}, 0},
		{"thread pipe", spec.WorkloadConfig{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.PipeIo}, CloneMode: spec.CloneThread}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Spawn(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			h.Start()
			time.Sleep(30 * time.Millisecond)
			if tt.kill >= 0 {
				if err := h.Signal(tt.kill, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				time.Sleep(30 * time.Millisecond)
			}
			begin := time.Now()
			reports := h.StopAndCollect()
			if took := time.Since(begin); took > 500*time.Millisecond {
				t.Errorf("StopAndCollect took %v", took)
			}
			for i, r := range reports {
				if i == tt.kill {
					continue
				}
				if !r.Completed {
					t.Errorf("worker %d: %+v", i, r.Exit)
				}
			}
		})
	}
}

// A sleeping process worker must not be woken by the Go runtime (no
// preemption signals): a 300 ms sleep is three 100 ms chunks.
func TestNoRuntimeWakeups(t *testing.T) {
	reports := runFor(t, spec.WorkloadConfig{NumWorkers: 1, WorkType: spec.WorkType{Kind: spec.Bursty, Burst: time.Millisecond, Sleep: 300 * time.Millisecond}}, 250*time.Millisecond)
	r := reports[0]
	if !r.Completed {
		t.Fatalf("%+v", r.Exit)
	}
	if r.VoluntaryCtxSwitches > 8 {
		t.Errorf("%d voluntary context switches in a 300 ms sleep, want <= 8 (runtime noise?)", r.VoluntaryCtxSwitches)
	}
}

func init() {
	// Worker 0 ignores the stop request, worker 1 exits with code 3 at
	// once, the others honour the stop.
	RegisterCustom("test-stuck-and-exit", func(c *CustomContext) {
		if c.Index() == 1 {
			unix.Exit(3)
		}
		for c.Index() == 0 || !c.Stopped() {
			c.Progress(1)
			time.Sleep(time.Millisecond)
		}
	})
}

// Workers are reaped one after the other once the reports are in: a
// worker that exited by itself long before the deadline must not be
// classified as timed out because it is only reaped after a stuck one.
func TestExitClassificationAfterDeadline(t *testing.T) {
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 3, WorkType: spec.WorkType{Kind: spec.Custom, CustomName: "test-stuck-and-exit"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetStopTimeout(300 * time.Millisecond)
	h.Start()
	time.Sleep(30 * time.Millisecond)
	reports := h.StopAndCollect()
	if r := reports[0]; r.Completed || r.Exit.Kind != spec.ExitTimedOut {
		t.Errorf("stuck worker: completed %v exit %+v, want timed_out", r.Completed, r.Exit)
	}
	if r := reports[1]; r.Completed || r.Exit.Kind != spec.ExitExited || r.Exit.Code != 3 {
		t.Errorf("exited worker: completed %v exit %+v, want exited/3", r.Completed, r.Exit)
	}
	if r := reports[2]; !r.Completed {
		t.Errorf("worker 2: %+v", r.Exit)
	}
}

func TestChildEnv(t *testing.T) {
	t.Setenv("GODEBUG", "gctrace=0")
	t.Setenv("GOMAXPROCS", "7")
	t.Setenv(envWorker, "stale")
	env := childEnv()
	want := []string{"GOMAXPROCS=1", "GOGC=off",
		"GODEBUG=gctrace=0,asyncpreemptoff=1,updatemaxprocs=0,decoratemappings=0,memprofilerate=0"}
	for _, kv := range want {
		if !slices.Contains(env, kv) {
			t.Errorf("child environment lacks %q", kv)
		}
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == envWorker || kv == "GOMAXPROCS=7" {
			t.Errorf("child environment keeps %q", kv)
		}
	}
}

// TestThreadWorkersGetAProcEach checks that thread workers raise GOMAXPROCS
// by one each while they live, so that the kernel, not the Go scheduler,
// decides which spinning thread runs, and that it drops back afterwards.
func TestThreadWorkersGetAProcEach(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 4, CloneMode: spec.CloneThread})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := runtime.GOMAXPROCS(0); got != 5 {
		t.Errorf("GOMAXPROCS with 4 thread workers = %d, want 5", got)
	}
	h.Start()
	time.Sleep(200 * time.Millisecond)
	reports := h.StopAndCollect()
	for _, r := range reports {
		if !r.Completed || r.Iterations == 0 {
			t.Errorf("worker %d: completed %v, %d iterations", r.Index, r.Completed, r.Iterations)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS after the workers exited = %d, want 1", got)
	}
}

// StartFor's deadline stops the workers without StopAndCollect: their
// counters freeze shortly after it, and the reported wall time ends there.
func TestStartForStopsOnTime(t *testing.T) {
	const deadline = 50 * time.Millisecond
	for _, tc := range []struct {
		name string
		cfg  spec.WorkloadConfig
	}{
		{"process spec.CpuSpin", spec.WorkloadConfig{NumWorkers: 2}},
		{"thread spec.CpuSpin", spec.WorkloadConfig{NumWorkers: 2, CloneMode: spec.CloneThread}},
		{"process spec.PipeIo", spec.WorkloadConfig{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.PipeIo}}},
		{"process spec.Custom", spec.WorkloadConfig{NumWorkers: 1, WorkType: spec.WorkType{Kind: spec.Custom, CustomName: "test-progress"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Spawn(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			h.StartFor(deadline)
			time.Sleep(deadline + 250*time.Millisecond)
			before := h.SnapshotIterations()
			time.Sleep(100 * time.Millisecond)
			after := h.SnapshotIterations()
			if !slices.Equal(before, after) {
				t.Errorf("iterations still rising 250 ms after the deadline: %v -> %v", before, after)
			}
			for _, r := range h.StopAndCollect() {
				if !r.Completed || r.Iterations == 0 {
					t.Errorf("worker %d: completed %v, %d iterations: %+v", r.Index, r.Completed, r.Iterations, r.Exit)
				}
				if wall := time.Duration(r.WallTimeNs); wall < deadline/2 || wall > deadline+200*time.Millisecond {
					t.Errorf("worker %d ran %v, want about %v", r.Index, wall, deadline)
				}
			}
		})
	}
}
