package workload

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// spawnRun is how long the spawn benchmarks let the workers run, as a
// caller does between Start and StopAndCollect. They start with StartFor:
// with plain Start the caller's sleep returns late, behind every worker
// that Start woke (about 400 ms late with 256 spinning workers on 2 cpus,
// the kernel's fair share, not the handle's cost). The figure against the
// target is the wall time minus spawnRun; the late wake-up counts in it.
const spawnRun = 10 * time.Millisecond

func benchSpawnStop(b *testing.B, n int) {
	var ru0, ru1, rc0, rc1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc0)
	ops := 0
	var totalNs, spawnNs, lateNs, stopNs, floorNs time.Duration
	for b.Loop() {
		ops++
		t0 := time.Now()
		h, err := Spawn(spec.WorkloadConfig{NumWorkers: n})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		h.StartFor(spawnRun)
		time.Sleep(spawnRun)
		t2 := time.Now()
		reports := h.StopAndCollect()
		h.Close()
		t3 := time.Now()
		totalNs += t3.Sub(t0)
		spawnNs += t1.Sub(t0)
		lateNs += t2.Sub(t1) - spawnRun
		stopNs += t3.Sub(t2)
		for _, r := range reports {
			if !r.Completed {
				b.Fatalf("worker %d: %+v", r.Index, r.Exit)
			}
		}
		b.StopTimer()
		floorNs += execFloor(b, n)
		b.StartTimer()
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc1)
	cpu := func(a, b syscall.Rusage) float64 {
		return float64(b.Utime.Nano() + b.Stime.Nano() - a.Utime.Nano() - a.Stime.Nano())
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / float64(ops) }
	overhead := ms(totalNs) - ms(spawnRun*time.Duration(ops))
	b.ReportMetric(overhead, "overhead-ms/op")
	b.ReportMetric(ms(spawnNs), "spawn-ms/op")
	// How late the caller's sleep returned: waiting for a cpu while the
	// workers stop at their deadline.
	b.ReportMetric(ms(lateNs), "late-wake-ms/op")
	b.ReportMetric(ms(stopNs), "stop-ms/op")
	// The floor, measured in the same run: n re-executions of this binary
	// that exit in the workload package's init, started as Spawn starts
	// workers. No design that re-executes the binary per worker goes
	// below it.
	b.ReportMetric(ms(floorNs), "exec-floor-ms/op")
	b.ReportMetric(overhead/ms(floorNs), "x-floor")
	// CPU time (the children's includes the floor runs) is less sensitive
	// than wall time to other load on the host.
	b.ReportMetric(cpu(ru0, ru1)/1e6/float64(ops), "parent-cpu-ms/op")
	b.ReportMetric(cpu(rc0, rc1)/1e6/float64(2*ops*n), "child-cpu-ms/proc")
}

// execFloor starts n re-executions of this binary that exit at once (in
// the workload package's init, like a worker's start-up without its
// work), with the spawner threads and in-flight limit Spawn uses, and
// returns the wall time until all are reaped.
func execFloor(b *testing.B, n int) time.Duration {
	env := append(childEnv(), envForkExit+"=1")
	t0 := time.Now()
	inflight := make(chan struct{}, spawnInflight())
	errs := make(chan error, n)
	for range n {
		inflight <- struct{}{}
		spawnThreads() <- func() {
			p, err := os.StartProcess("/proc/self/exe", []string{os.Args[0]}, &os.ProcAttr{Env: env})
			if err != nil {
				<-inflight
				errs <- err
				return
			}
			go func() {
				_, err := p.Wait()
				<-inflight
				errs <- err
			}()
		}
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatalf("exec floor: %v", err)
		}
	}
	return time.Since(t0)
}

// BenchmarkSpawnStop64 measures Spawn + Start + StopAndCollect + Close of
// 64 CpuSpin process workers (target < 150 ms, overhead-ms/op).
func BenchmarkSpawnStop64(b *testing.B) { benchSpawnStop(b, 64) }

// BenchmarkSpawnStop256 is the same with 256 workers (target < 500 ms).
func BenchmarkSpawnStop256(b *testing.B) { benchSpawnStop(b, 256) }

var perfOpsRe = regexp.MustCompile(`(?m)^\s*([0-9]+)\s+ops/sec`)

// perfPipe runs `perf bench sched pipe -l loops` on cpu and returns its
// ops/sec (one op is one round trip), or 0 when perf is unavailable.
func perfPipe(b *testing.B, loops, cpu int) float64 {
	b.Helper()
	path, err := exec.LookPath("perf")
	if err != nil {
		b.Log("SKIP perf baseline: perf not in PATH (install linux-perf)")
		return 0
	}
	// A child inherits the affinity of the thread that forks it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		b.Fatal(err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		b.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	out, err := exec.Command(path, "bench", "sched", "pipe", "-l", strconv.Itoa(loops)).CombinedOutput()
	if err != nil {
		b.Logf("perf bench sched pipe: %v: %s", err, bytes.TrimSpace(out))
		return 0
	}
	m := perfOpsRe.FindSubmatch(out)
	if m == nil {
		b.Logf("perf bench sched pipe: no ops/sec in %q", out)
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// benchPair runs a 2-worker ping-pong kind and `perf bench sched pipe`
// alternately (200 ms each, so both see the same machine load) and reports
// round trips per second, perf's ops/sec (one op is a round trip) and the
// median of the per-pair ratios. Both run on one cpu: unpinned, each pair
// lands on one cpu or two by chance, and in a VM the two differ by an
// order of magnitude (a cross-cpu wake-up is an IPI, a VM exit), which
// would decide the ratio instead of the code under test.
func benchPair(b *testing.B, wt spec.WorkType) {
	cpu := runtime.NumCPU() - 1
	var ratios []float64
	var trips, ns, perfSum float64
	for b.Loop() {
		perf := perfPipe(b, 20000, cpu)
		h, err := Spawn(spec.WorkloadConfig{NumWorkers: 2, WorkType: wt, Affinity: spec.Affinity{Kind: spec.AffinityFixed, CPUs: []int{cpu}}})
		if err != nil {
			b.Fatal(err)
		}
		h.Start()
		time.Sleep(200 * time.Millisecond)
		reports := h.StopAndCollect()
		h.Close()
		r := reports[0]
		if !r.Completed {
			b.Fatalf("worker 0: %+v", r.Exit)
		}
		rate := float64(r.Iterations) / (float64(r.WallTimeNs) / 1e9)
		trips += float64(r.Iterations)
		ns += float64(r.WallTimeNs)
		if perf > 0 {
			perfSum += perf
			ratios = append(ratios, rate/perf)
		}
	}
	b.ReportMetric(trips/(ns/1e9), "roundtrips/s")
	if len(ratios) > 0 {
		slices.Sort(ratios)
		b.ReportMetric(perfSum/float64(len(ratios)), "perf-pipe-ops/s")
		b.ReportMetric(ratios[len(ratios)/2], "x-perf")
	}
}

// BenchmarkPipeIo compares PipeIo round trips with perf bench sched pipe.
func BenchmarkPipeIo(b *testing.B) { benchPair(b, spec.WorkType{Kind: spec.PipeIo}) }

// BenchmarkFutexPingPong compares FutexPingPong round trips with perf
// bench sched pipe.
func BenchmarkFutexPingPong(b *testing.B) { benchPair(b, spec.WorkType{Kind: spec.FutexPingPong}) }

// BenchmarkPipeIoNoSpin is PipeIo with a 1-increment burst: its ratio to
// perf is the harness's own overhead on the pipe path.
func BenchmarkPipeIoNoSpin(b *testing.B) {
	benchPair(b, spec.WorkType{Kind: spec.PipeIo, BurstIters: 1})
}

// BenchmarkFutexPingPongNoSpin is FutexPingPong with a 1-increment spin.
func BenchmarkFutexPingPongNoSpin(b *testing.B) {
	benchPair(b, spec.WorkType{Kind: spec.FutexPingPong, SpinIters: 1})
}

// BenchmarkSpin1024 is the cost of the default 1024-increment burst, which
// PipeIo and FutexPingPong put on the critical path of every round trip.
func BenchmarkSpin1024(b *testing.B) {
	w := &worker{}
	for b.Loop() {
		w.spin(1024)
	}
}

// roundTrips runs a 2-worker ping-pong kind on one cpu for d and returns
// its round trips per second and worker 0's report.
func roundTrips(b *testing.B, wt spec.WorkType, cpu int, d time.Duration, opts ...SpawnOption) (float64, spec.WorkerReport) {
	b.Helper()
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 2, WorkType: wt, Affinity: spec.Affinity{Kind: spec.AffinityFixed, CPUs: []int{cpu}}}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	h.Start()
	time.Sleep(d)
	reports := h.StopAndCollect()
	h.Close()
	r := reports[0]
	if !r.Completed {
		b.Fatalf("worker 0: %+v", r.Exit)
	}
	return float64(r.Iterations) / (float64(r.WallTimeNs) / 1e9), r
}

// benchLatencyCost measures what wake-up latency measurement costs a
// ping-pong kind: it runs the kind with measurement (a clock read and a
// stamp per hand-off, a sample per wake-up) and without, alternately
// (200 ms each, on one cpu, so both see the same load), and reports both
// rates and the median of the per-pair ratios measured/unmeasured (the
// target is >= 0.95).
func benchLatencyCost(b *testing.B, wt spec.WorkType) {
	cpu := runtime.NumCPU() - 1
	var ratios []float64
	var with, without float64
	n := 0
	for b.Loop() {
		on, r := roundTrips(b, wt, cpu, 200*time.Millisecond)
		if r.ResumeLatencyCount == 0 {
			b.Fatalf("measured run took no latency samples: %+v", r)
		}
		off, r := roundTrips(b, wt, cpu, 200*time.Millisecond, withoutLatency())
		if r.ResumeLatencyCount != 0 {
			b.Fatalf("unmeasured run took %d latency samples", r.ResumeLatencyCount)
		}
		with, without, n = with+on, without+off, n+1
		if off > 0 {
			ratios = append(ratios, on/off)
		}
	}
	b.ReportMetric(with/float64(n), "measured-roundtrips/s")
	b.ReportMetric(without/float64(n), "unmeasured-roundtrips/s")
	if len(ratios) > 0 {
		slices.Sort(ratios)
		b.ReportMetric(ratios[len(ratios)/2], "x-unmeasured")
	}
}

// BenchmarkPipeIoLatencyCost is PipeIo's round-trip rate with wake-up
// latency measurement over its rate without.
func BenchmarkPipeIoLatencyCost(b *testing.B) { benchLatencyCost(b, spec.WorkType{Kind: spec.PipeIo}) }

// BenchmarkFutexPingPongLatencyCost is FutexPingPong's round-trip rate
// with wake-up latency measurement over its rate without.
func BenchmarkFutexPingPongLatencyCost(b *testing.B) {
	benchLatencyCost(b, spec.WorkType{Kind: spec.FutexPingPong})
}

// BenchmarkLatencySample is what one wake-up costs the measurement: the
// waker's clock read and stamp, the wakee's clock read, load and sample.
func BenchmarkLatencySample(b *testing.B) {
	m := newMeter(1, true)
	var stamp int64
	for b.Loop() {
		atomic.StoreInt64(&stamp, nanotime())
		m.latency(nanotime() - atomic.LoadInt64(&stamp))
	}
}
