package workload

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

func TestReservoir(t *testing.T) {
	m := newMeter(42, true)
	total := spec.MaxLatencySamples + 50_000
	for i := range total {
		m.latency(int64(i))
	}
	var r spec.WorkerReport
	m.begin()
	m.finish(&r, false)
	if r.ResumeLatencyCount != uint64(total) || len(r.ResumeLatenciesNs) != spec.MaxLatencySamples {
		t.Fatalf("count %d len %d, want %d and %d", r.ResumeLatencyCount, len(r.ResumeLatenciesNs), total, spec.MaxLatencySamples)
	}
	late := 0 // samples from the part after the reservoir filled
	for _, v := range r.ResumeLatenciesNs {
		if v >= spec.MaxLatencySamples {
			late++
		}
	}
	// A uniform reservoir holds each of the 150,000 samples with the same
	// probability: a third of it (33,333) should be late samples.
	if late < 31_000 || late > 35_700 {
		t.Errorf("%d late samples in the reservoir, want about 33,333", late)
	}
	if allocs := testing.AllocsPerRun(1000, func() { m.latency(5); m.checkpoint(nanotime()) }); allocs != 0 {
		t.Errorf("latency+checkpoint allocate %v times", allocs)
	}
}

func TestCheckpointMigrations(t *testing.T) {
	m := newMeter(1, false)
	cpus := []int{0, 0, 3, 3, 1}
	i := 0
	m.getcpu = func() int { c := cpus[i%len(cpus)]; i++; return c }
	m.begin() // cpu 0
	base := m.startMono
	for _, at := range []int64{1e6, 2e6, 10e6, 11e6} {
		m.checkpoint(base + at)
	}
	var r spec.WorkerReport
	m.finish(&r, false)
	if r.MigrationCount != 2 || len(r.Migrations) != 2 {
		t.Fatalf("migrations %d %+v", r.MigrationCount, r.Migrations)
	}
	if got := r.Migrations[0]; got.FromCPU != 0 || got.ToCPU != 3 || got.AtNs != 2e6 {
		t.Errorf("first migration %+v", got)
	}
	if !slices.Equal(r.CPUsUsed, []int{0, 1, 3}) {
		t.Errorf("cpus_used %v", r.CPUsUsed)
	}
	if r.MaxGapMs != 8 || r.MaxGapCPU != 3 || r.MaxGapAtMs != 10 {
		t.Errorf("max gap %d ms on %d at %d ms", r.MaxGapMs, r.MaxGapCPU, r.MaxGapAtMs)
	}
}

func TestReadNumaMaps(t *testing.T) {
	p := filepath.Join(t.TempDir(), "numa_maps")
	data := "00400000 default file=/bin/x mapped=3 N0=3 kernelpagesize_kB=4\n" +
		"7f00 interleave:0-1 anon=10 dirty=10 N0=4 N1=6 kernelpagesize_kB=4\n" +
		"7f10 default stack anon=2 N3=2\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readNumaMaps(p); !slices.Equal(got, []uint64{7, 6, 0, 2}) {
		t.Errorf("readNumaMaps = %v", got)
	}
	if got := readNumaMaps(filepath.Join(t.TempDir(), "missing")); got != nil {
		t.Errorf("missing file: %v", got)
	}
}

// The loops must not allocate: a GC cycle in a worker is scheduler noise.
func TestLoopsDoNotAllocate(t *testing.T) {
	kinds := []spec.WorkType{
		{Kind: spec.CpuSpin}, {Kind: spec.YieldHeavy}, {Kind: spec.Mixed}, {Kind: spec.IoSync},
		{Kind: spec.Bursty, Burst: 100 * time.Microsecond, Sleep: 100 * time.Microsecond},
		{Kind: spec.CachePressure}, {Kind: spec.CacheYield}, {Kind: spec.ForkExit}, {Kind: spec.NiceSweep},
		{Kind: spec.AffinityChurn}, {Kind: spec.PolicyChurn}, {Kind: spec.PageFaultChurn},
		{Kind: spec.Sequence, Phases: []spec.Phase{{Kind: spec.PhaseSpin, Duration: 50 * time.Microsecond}, {Kind: spec.PhaseSleep, Duration: 50 * time.Microsecond}, {Kind: spec.PhaseYield, Duration: 20 * time.Microsecond}, {Kind: spec.PhaseIo, Duration: 20 * time.Microsecond}}},
	}
	for _, wt := range kinds {
		cfg := spec.WorkloadConfig{NumWorkers: 1, WorkType: wt}.WithDefaults()
		fd, s, err := createShm(layoutFor(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		var allocs float64
		done := make(chan error)
		go func() {
			// Policy, nice and affinity changes die with this thread.
			runtime.LockOSThread()
			w := newWorker(workerSpec{Config: cfg, PipeIn: -1, PipeOut: -1}, s, false)
			if err := w.setup(); err != nil {
				done <- err
				return
			}
			w.loadStartMask()
			w.m.begin()
			allocs = testing.AllocsPerRun(20, func() {
				w.iterate()
				w.m.checkpoint(nanotime())
			})
			w.cleanup()
			done <- nil
		}()
		if err := <-done; err != nil {
			t.Fatalf("%s: setup: %v", wt.Kind, err)
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocations per iteration", wt.Kind, allocs)
		}
		s.unmap()
		unix.Close(fd)
	}
}
