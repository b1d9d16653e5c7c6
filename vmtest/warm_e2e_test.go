package vmtest

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// TestWarmStart boots a machine of its own cold (saving its snapshot),
// then restores it, and checks that warm and cold runs give the same
// verdicts: a pass (with a scheduler binary that reaches the guest over
// the channel) and an ejection. Then it damages the snapshot: the run
// falls back to a cold boot with a note and passes.
func TestWarmStart(t *testing.T) {
	base := e2e(t, kernel.Debian)
	// A kernel argument of its own makes a machine of its own: the
	// first run cannot find a snapshot of another test.
	base.KernelArgs = []string{fmt.Sprintf("scxvm.test=warm-%d", time.Now().UnixNano())}
	base.Scenarios = []spec.Scenario{faultScenario("steady", 2*time.Second, []spec.WorkloadConfig{spin(2)})}
	var snapshot string
	t.Cleanup(func() {
		if snapshot != "" {
			os.Remove(snapshot)
		}
	})
	run := func(t *testing.T, cold bool, sched spec.Scheduler, want string) *Result {
		t.Helper()
		cfg := base
		cfg.Cold, cfg.Scheduler = cold, sched
		res, err := Run(t.Context(), cfg)
		if res == nil {
			t.Fatalf("run: %v", err)
		}
		t.Logf("%s start (%s), hello after %v, wall %v, snapshot %+v", res.Start, res.StartNote, res.BootToHello, res.Wall, res.Snapshot)
		if res.Start != want {
			t.Errorf("start %q (%s), want %q", res.Start, res.StartNote, want)
		}
		var f *Failure
		if err != nil && !errors.As(err, &f) {
			t.Fatalf("run: %v", err)
		}
		return res
	}
	pass := func(t *testing.T, res *Result) {
		t.Helper()
		if !res.Passed {
			t.Errorf("failed: %v", res.Failure)
		}
	}

	first := run(t, false, spec.Scheduler{}, host.StartCold)
	pass(t, first)
	if first.Snapshot == nil || !first.Snapshot.Saved || first.Snapshot.Size == 0 {
		t.Fatalf("the first run saved no snapshot: %+v (%s)", first.Snapshot, first.StartNote)
	}
	snapshot = first.Snapshot.Path
	// A single-node guest's snapshot is its memory image, mostly holes,
	// then QEMU's stream.
	mem := int64(base.GuestMemoryMB()) << 20
	if fi, err := os.Stat(snapshot); err != nil || fi.Size() <= mem || first.Snapshot.Size >= mem/2 {
		t.Errorf("snapshot %v (%v): want a memory image of %d bytes, mostly holes, and a stream; disk usage %d", fi, err, mem, first.Snapshot.Size)
	}
	sum := fileSum(t, snapshot)

	t.Run("pass", func(t *testing.T) {
		res := run(t, false, spec.Scheduler{Path: exampleScheduler(t, kernel.Debian, "scx_simple")}, host.StartWarm)
		pass(t, res)
		if res.Snapshot == nil || res.Snapshot.Path != snapshot || res.Snapshot.Files == 0 {
			t.Errorf("snapshot %+v, want %s restored and the scheduler sent", res.Snapshot, snapshot)
		}
		if res.Guest == nil || res.Guest.Cmdline != first.Guest.Cmdline {
			t.Errorf("guest %+v, want the first run's", res.Guest)
		}
		// The restored guest maps the image privately: its writes
		// never reach the file another run restores from.
		if got := fileSum(t, snapshot); got != sum {
			t.Errorf("the snapshot changed during a warm run (crc %08x, was %08x)", got, sum)
		}
	})

	t.Run("ejection", func(t *testing.T) {
		errSched := spec.Scheduler{Name: spec.SchedulerError}
		warm := run(t, false, errSched, host.StartWarm)
		cold := run(t, true, errSched, host.StartCold)
		if cold.StartNote == "" || warm.Snapshot == nil {
			t.Errorf("cold note %q, warm snapshot %+v", cold.StartNote, warm.Snapshot)
		}
		for _, r := range []*Result{warm, cold} {
			if r.Failure == nil || r.Failure.Kind != FailEjected || !strings.Contains(r.Failure.Message, `"scxvm_error"`) {
				t.Errorf("%s: failure %+v, want the ejection of scxvm_error", r.Start, r.Failure)
			}
		}
		if warm.Failure != nil && cold.Failure != nil && warm.Failure.Message != cold.Failure.Message {
			t.Errorf("warm and cold differ:\nwarm %s\ncold %s", warm.Failure.Message, cold.Failure.Message)
		}
	})

	t.Run("damaged", func(t *testing.T) {
		f, err := os.OpenFile(snapshot, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(make([]byte, 4096), mem) // no longer a migration stream
		f.Close()
		res := run(t, false, spec.Scheduler{}, host.StartCold)
		pass(t, res)
		if !strings.Contains(res.StartNote, "failed to restore and was deleted") {
			t.Errorf("note %q, want the failed restore", res.StartNote)
		}
		if res.Snapshot == nil || !res.Snapshot.Saved {
			t.Errorf("snapshot %+v, want a new one saved", res.Snapshot)
		} else {
			snapshot = res.Snapshot.Path
		}
		if again := run(t, false, spec.Scheduler{}, host.StartWarm); !again.Passed {
			t.Errorf("restore of the new snapshot: %v", again.Failure)
		}
	})
}

// fileSum returns the CRC-32C of a file's contents.
func fileSum(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum32()
}

// TestWarmStartVsock restores over vsock: a first run boots and saves,
// then two runs restore that snapshot at once. Each restored guest takes
// a fresh CID (the saved one may be held by another VM) and the host
// dials its parked agent, whose connection the restore reset; both must
// start warm and pass.
func TestWarmStartVsock(t *testing.T) {
	if err := host.ProbeVsock(); err != nil {
		testenv.Hardware(t, testenv.VhostVsock, "%v", err)
	}
	base := e2e(t, kernel.Debian)
	base.Transport = protocol.TransportVsock
	base.KernelArgs = []string{fmt.Sprintf("scxvm.test=warm-vsock-%d", time.Now().UnixNano())}
	base.Scenarios = []spec.Scenario{faultScenario("steady", 2*time.Second, []spec.WorkloadConfig{spin(2)})}
	var snapshot string
	t.Cleanup(func() {
		if snapshot != "" {
			os.Remove(snapshot)
		}
	})
	run := func(name string) (*Result, error) {
		cfg := base
		cfg.ConsoleLog = filepath.Join(t.TempDir(), name+".log")
		return Run(t.Context(), cfg)
	}
	check := func(name string, res *Result, err error, want string) {
		t.Helper()
		if res == nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %s start (%s), transport %s, hello after %v, snapshot %+v", name, res.Start, res.StartNote, res.Transport, res.BootToHello, res.Snapshot)
		if err != nil || !res.Passed {
			t.Errorf("%s: %v (%v)", name, err, res.Failure)
		}
		if res.Start != want || res.Transport != protocol.TransportVsock {
			t.Errorf("%s: start %q over %s (%s), want %q over vsock", name, res.Start, res.Transport, res.StartNote, want)
		}
	}
	first, err := run("first")
	check("first", first, err, host.StartCold)
	if first.Snapshot == nil || !first.Snapshot.Saved {
		t.Fatalf("the first run saved no snapshot: %+v (%s)", first.Snapshot, first.StartNote)
	}
	snapshot = first.Snapshot.Path

	var wg sync.WaitGroup
	res := make([]*Result, 2)
	errs := make([]error, 2)
	for i := range res {
		wg.Go(func() { res[i], errs[i] = run(fmt.Sprintf("restored-%d", i)) })
	}
	wg.Wait()
	for i := range res {
		check(fmt.Sprintf("restored-%d", i), res[i], errs[i], host.StartWarm)
	}
}
