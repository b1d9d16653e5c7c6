package workload

import (
	"bytes"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func benchSpawnStop(b *testing.B, n int) {
	var ru0, ru1, rc0, rc1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc0)
	ops := 0
	var spawnNs, stopNs time.Duration
	var loopNs uint64
	for b.Loop() {
		ops++
		t0 := time.Now()
		h, err := Spawn(WorkloadConfig{NumWorkers: n})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		h.Start()
		reports := h.StopAndCollect()
		h.Close()
		spawnNs += t1.Sub(t0)
		stopNs += time.Since(t1)
		for _, r := range reports {
			if !r.Completed {
				b.Fatalf("worker %d: %+v", r.Index, r.Exit)
			}
			loopNs += r.CPUTimeNs
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc1)
	cpu := func(a, b syscall.Rusage) float64 {
		return float64(b.Utime.Nano() + b.Stime.Nano() - a.Utime.Nano() - a.Stime.Nano())
	}
	// CPU time is less sensitive than wall time to other load on the host.
	b.ReportMetric(cpu(ru0, ru1)/1e6/float64(ops), "parent-cpu-ms/op")
	b.ReportMetric(cpu(rc0, rc1)/1e6/float64(ops*n), "cpu-ms/worker")
	// Of which spinning in the loop: Start wakes every worker at once and
	// the woken herd preempts the caller, so the workers spin until it
	// gets a cpu again to raise the stop flag (a benchmark artefact: a
	// caller that sleeps between Start and StopAndCollect wakes first).
	b.ReportMetric(float64(loopNs)/1e6/float64(ops*n), "loop-cpu-ms/worker")
	// Where the wall time goes: Spawn, and Start + StopAndCollect + Close.
	b.ReportMetric(float64(spawnNs)/1e6/float64(ops), "spawn-ms/op")
	b.ReportMetric(float64(stopNs)/1e6/float64(ops), "stop-ms/op")
}

// BenchmarkSpawnStop64 measures Spawn + Start + StopAndCollect + Close of
// 64 CpuSpin process workers (target < 150 ms).
func BenchmarkSpawnStop64(b *testing.B) { benchSpawnStop(b, 64) }

// BenchmarkSpawnStop256 is the same with 256 workers (target < 500 ms).
func BenchmarkSpawnStop256(b *testing.B) { benchSpawnStop(b, 256) }

var perfOpsRe = regexp.MustCompile(`(?m)^\s*([0-9]+)\s+ops/sec`)

// perfPipe runs `perf bench sched pipe -l loops` and returns its ops/sec
// (one op is one round trip), or 0 when perf is unavailable.
func perfPipe(b *testing.B, loops int) float64 {
	b.Helper()
	path, err := exec.LookPath("perf")
	if err != nil {
		b.Log("SKIP perf baseline: perf not in PATH (install linux-perf)")
		return 0
	}
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
// median of the per-pair ratios.
func benchPair(b *testing.B, wt WorkType) {
	var ratios []float64
	var trips, ns, perfSum float64
	for b.Loop() {
		perf := perfPipe(b, 4000)
		h, err := Spawn(WorkloadConfig{NumWorkers: 2, WorkType: wt})
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
func BenchmarkPipeIo(b *testing.B) { benchPair(b, WorkType{Kind: PipeIo}) }

// BenchmarkFutexPingPong compares FutexPingPong round trips with perf
// bench sched pipe.
func BenchmarkFutexPingPong(b *testing.B) { benchPair(b, WorkType{Kind: FutexPingPong}) }

// BenchmarkPipeIoNoSpin is PipeIo with a 1-increment burst: its ratio to
// perf is the harness's own overhead on the pipe path.
func BenchmarkPipeIoNoSpin(b *testing.B) { benchPair(b, WorkType{Kind: PipeIo, BurstIters: 1}) }

// BenchmarkFutexPingPongNoSpin is FutexPingPong with a 1-increment spin.
func BenchmarkFutexPingPongNoSpin(b *testing.B) {
	benchPair(b, WorkType{Kind: FutexPingPong, SpinIters: 1})
}

// BenchmarkSpin1024 is the cost of the default 1024-increment burst, which
// PipeIo and FutexPingPong put on the critical path of every round trip.
func BenchmarkSpin1024(b *testing.B) {
	w := &worker{}
	for b.Loop() {
		w.spin(1024)
	}
}
