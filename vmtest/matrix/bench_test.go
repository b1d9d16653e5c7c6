package matrix

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/vmtest"
)

// BenchmarkJobs runs 24 cells (fifo, scx_simple and scx_central on steady
// and pingpong, the four tcg topologies, 1 s scenarios: 4 boots of 6
// cells) under TCG with Jobs 1, then with Jobs 2, and reports both wall
// times and their ratio. It boots guests for several minutes, so it runs
// only with SCXVM_BENCH_MATRIX=1. no_timer_check: on a host loaded enough
// (load average 15 on 2 cpus) the kernel's early IO-APIC timer check
// failed in a TCG guest ("IO-APIC + timer doesn't work!" panic) and took
// a whole boot's cells with it.
func BenchmarkJobs(b *testing.B) {
	if os.Getenv("SCXVM_BENCH_MATRIX") == "" {
		b.Skip("SKIP: boots 8 guests for several minutes; set SCXVM_BENCH_MATRIX=1")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testenv.Prereq(b, "qemu-system-x86_64 not in PATH (run `make deps`)")
	}
	cache := kernel.DefaultCacheDir()
	s := &Spec{
		Kernels:    []string{kernel.Debian},
		Schedulers: []SchedulerEntry{ParseSchedulerEntry("fifo"), ParseSchedulerEntry("scx_simple"), ParseSchedulerEntry("scx_central")},
		Scenarios:  []string{"steady", "pingpong"},
		Topologies: []string{PresetsTCG},
		Duration:   time.Second,
	}
	plan, err := s.Plan(cache)
	if err != nil {
		testenv.Prereq(b, "%v", err)
	}
	if len(plan.Cells) != 24 {
		b.Fatalf("%d cells, want 24", len(plan.Cells))
	}
	agent, err := vmtest.BuildAgent(b.Context(), testenv.CheckoutDir(filepath.Join(cache, "agent")))
	if err != nil {
		b.Fatalf("build agent: %v", err)
	}
	b.Setenv("TMPDIR", b.TempDir())
	wall := map[int]time.Duration{}
	for b.Loop() {
		for _, jobs := range []int{1, 2} {
			start := time.Now()
			rep, err := RunPlan(b.Context(), plan, Selection{}, Config{Jobs: jobs, Base: vmtest.Config{Agent: agent, Accel: "tcg", KernelArgs: []string{"no_timer_check"}}})
			if err != nil {
				b.Fatal(err)
			}
			wall[jobs] += time.Since(start)
			n := rep.Count()
			b.Logf("jobs %d: %v, %d passed, %d failed, %d errors, %d boots", jobs, time.Since(start).Round(time.Second), n[ClassPass], n[ClassFail], n[ClassError], len(rep.Boots))
		}
	}
	b.ReportMetric(wall[1].Seconds()/float64(b.N), "s_jobs1")
	b.ReportMetric(wall[2].Seconds()/float64(b.N), "s_jobs2")
	b.ReportMetric(wall[1].Seconds()/wall[2].Seconds(), "speedup")
}
