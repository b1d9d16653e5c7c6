package compare

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

// Sizes of a generated catalogue result. A real 2-s scenario under TCG
// records up to 2,000 wake-up latencies per waking worker and 100
// migrations per worker (vmtest/report/testdata/compare.json); under KVM
// a ping-pong worker takes several times more samples. Here every worker
// but the pure spinners records 2,000 (the TCG maximum), in each of
// 3 repetitions under the scheduler and 3 under a baseline: 6 times a
// real catalogue run.
const (
	benchRepeat     = 3
	benchLatencies  = 2_000
	benchMigrations = 100
)

// spinners take no wake-up latencies.
var spinners = map[spec.WorkKind]bool{spec.CpuSpin: true, spec.AluHot: true, spec.SmtSiblingSpin: true, spec.IpcVariance: true, spec.YieldHeavy: true}

// catalogueResult generates the result of `scxvm run --repeat 3
// --compare none` over the whole built-in catalogue: every scenario with
// its cgroups and workers, three repetitions under the scheduler and
// three under the baseline.
func catalogueResult(tb testing.TB, seed uint64) []byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	res := &vmtest.Result{Kernel: vmtest.KernelInfo{Name: "debian", Release: "7.3.4"}, Scheduler: "scx_simple", Compare: "none",
		Topology: "1n1l2c1t", Accel: "tcg", Repeat: benchRepeat, Passed: true}
	for _, sc := range vmtest.Scenarios() {
		for rep := range benchRepeat {
			for _, baseline := range []bool{false, true} {
				sr := vmtest.ScenarioResult{Name: sc.Name, Scheduler: "scx_simple", Baseline: baseline, Repeat: rep, Passed: true,
					Duration: sc.RunTime(), Elapsed: sc.RunTime() + 300*time.Millisecond, Checks: sc.Checks}
				if baseline {
					sr.Scheduler = "none"
				}
				for set, cg := range sc.Cgroups {
					for _, wl := range cg.Workloads {
						for i := range wl.NumWorkers {
							rep := spec.WorkerReport{Index: i, TID: 100 + i, Completed: true, WorkUnits: r.Uint64N(1e9), Iterations: r.Uint64N(1e6),
								CPUTimeNs: r.Uint64N(2e9), WallTimeNs: 2e9, MaxGapMs: r.Uint64N(50), SchedstatRunDelayNs: r.Uint64N(1e9), SchedstatRunCount: 1 + r.Uint64N(1e5),
								ResumeLatencyCount: benchLatencies}
							for range benchLatencies * b2i(!spinners[wl.WorkType.Kind]) {
								rep.ResumeLatenciesNs = append(rep.ResumeLatenciesNs, 1000+r.Uint64N(1e6))
							}
							for m := range benchMigrations {
								rep.Migrations = append(rep.Migrations, spec.Migration{AtNs: uint64(m) * 1e7, FromCPU: m % 2, ToCPU: (m + 1) % 2})
							}
							sr.Workers = append(sr.Workers, check.Worker{Cgroup: cg.Name, Set: set, Kind: wl.WorkType.Kind, Report: rep})
						}
					}
				}
				for s := range 20 {
					p := vmtest.ProgressSample{Elapsed: time.Duration(s) * 100 * time.Millisecond, Rates: map[string]float64{}}
					for range sr.Workers {
						p.Iterations = append(p.Iterations, r.Uint64N(1e6))
					}
					sr.Progress = append(sr.Progress, p)
				}
				res.Scenarios = append(res.Scenarios, sr)
			}
		}
	}
	res.Summary = vmtest.Summarize(res)
	data, err := json.Marshal(res)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func decode(tb testing.TB, data []byte) *vmtest.Result {
	var res vmtest.Result
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&res); err != nil {
		tb.Fatal(err)
	}
	return &res
}

// BenchmarkCompareCatalogue is `scxvm compare` on two results of the full
// catalogue: both files decoded, then compared. Target: under 1 s per op.
// BenchmarkDecodeCatalogue, decoding alone, is its floor.
func BenchmarkCompareCatalogue(b *testing.B) {
	old, new := catalogueResult(b, 1), catalogueResult(b, 2)
	b.SetBytes(int64(len(old) + len(new)))
	for b.Loop() {
		if _, err := Compare(decode(b, old), decode(b, new), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCatalogue decodes the two results of
// BenchmarkCompareCatalogue without comparing them.
func BenchmarkDecodeCatalogue(b *testing.B) {
	old, new := catalogueResult(b, 1), catalogueResult(b, 2)
	b.SetBytes(int64(len(old) + len(new)))
	for b.Loop() {
		decode(b, old)
		decode(b, new)
	}
}

// BenchmarkCompareOnly is Compare on decoded results.
func BenchmarkCompareOnly(b *testing.B) {
	old, new := decode(b, catalogueResult(b, 1)), decode(b, catalogueResult(b, 2))
	for b.Loop() {
		if _, err := Compare(old, new, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
