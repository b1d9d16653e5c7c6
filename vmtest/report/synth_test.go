package report

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

// synthResult makes a run result of one scenario with the given number
// of workers (in four cgroups), progress samples and latency samples and
// migrations per worker; with baseline, the scenario's EEVDF baseline
// follows it. The numbers are random but reproducible.
func synthResult(workers, samples, latencies, migrations int, baseline bool) *vmtest.Result {
	rng := rand.New(rand.NewPCG(1, 2))
	res := &vmtest.Result{
		Kernel:      vmtest.KernelInfo{Name: "debian", Release: "7.3.4+deb13-amd64"},
		Scheduler:   "scx_synth",
		Topology:    "1n1l8c1t",
		Accel:       "tcg",
		Transport:   "virtio-serial",
		Guest:       &vmtest.GuestInfo{CPUs: 8, LLCs: 1, NUMANodes: 1},
		BootToHello: 3 * time.Second,
		Passed:      true,
	}
	run := func(sched string, base bool) vmtest.ScenarioResult {
		period := 10 * time.Millisecond
		dur := time.Duration(samples) * period
		sr := vmtest.ScenarioResult{
			Name: "big", Scheduler: sched, Baseline: base, Passed: true,
			Duration: dur, Elapsed: dur + 2*time.Second,
			Timings: &vmtest.JobTimings{Setup: time.Second, Run: dur, Collect: 500 * time.Millisecond, Total: dur + 2*time.Second},
		}
		speed := make([]float64, workers)
		for w := range workers {
			cg := fmt.Sprintf("cg%d", w%4)
			speed[w] = 1000 + rng.Float64()*500
			rep := spec.WorkerReport{
				Index: w / 4, TID: 100 + w, Completed: true,
				CPUTimeNs: uint64(float64(dur) * (0.2 + rng.Float64()*0.05)), WallTimeNs: uint64(dur),
				MaxGapMs: uint64(20 + rng.IntN(100)), MaxGapAtMs: uint64(dur/time.Millisecond) / 2,
				SchedstatRunDelayNs: uint64(rng.IntN(1e9)), SchedstatRunCount: 1000,
				ResumeLatencyCount: uint64(latencies * 3),
			}
			for range latencies {
				rep.ResumeLatenciesNs = append(rep.ResumeLatenciesNs, uint64(rng.ExpFloat64()*50e3)+1000)
			}
			at := uint64(0)
			for range migrations {
				at += uint64(rng.Int64N(int64(2 * dur / time.Duration(migrations+1))))
				rep.Migrations = append(rep.Migrations, spec.Migration{AtNs: min(at, uint64(dur)), FromCPU: rng.IntN(8), ToCPU: rng.IntN(8)})
			}
			rep.MigrationCount = uint64(migrations)
			sr.Workers = append(sr.Workers, check.Worker{Cgroup: cg, Set: 0, Kind: spec.CpuSpin, Report: rep})
		}
		counts := make([]uint64, workers)
		for k := range samples {
			s := vmtest.ProgressSample{Elapsed: time.Duration(k+1) * period, Iterations: make([]uint64, workers), SchedState: "enabled"}
			for w := range workers {
				if k%500 != w%500 { // an occasional stall
					counts[w] += uint64(speed[w] * period.Seconds())
				}
				s.Iterations[w] = counts[w]
			}
			sr.Progress = append(sr.Progress, s)
		}
		for w := range workers {
			sr.Workers[w].Report.Iterations = counts[w]
		}
		if !base {
			sr.SchedEvents = []vmtest.SchedEvent{{Kind: "attached", At: 500 * time.Millisecond, Scheduler: "synth"}}
		}
		return sr
	}
	res.Scenarios = append(res.Scenarios, run("scx_synth", false))
	if baseline {
		res.Scenarios = append(res.Scenarios, run("none", true))
	}
	return res
}
