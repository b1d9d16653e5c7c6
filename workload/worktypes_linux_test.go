package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// addedKindsShort are ktstr 0.5.2's kinds as TestEveryKind runs them for
// 150 ms: small enough to make progress on a loaded 2-cpu host.
var addedKindsShort = map[spec.WorkKind]spec.WorkType{
	spec.IoSyncWrite:        {Kind: spec.IoSyncWrite, Blocks: 4},
	spec.IoRandRead:         {Kind: spec.IoRandRead, FileBytes: 256 << 10},
	spec.IoConvoy:           {Kind: spec.IoConvoy, FileBytes: 256 << 10, SyncEvery: 4},
	spec.AluHot:             {Kind: spec.AluHot},
	spec.SmtSiblingSpin:     {Kind: spec.SmtSiblingSpin},
	spec.IpcVariance:        {Kind: spec.IpcVariance, CacheBytes: 1 << 20},
	spec.IdleChurn:          {Kind: spec.IdleChurn, Burst: 2 * time.Millisecond, Sleep: 3 * time.Millisecond},
	spec.NumaMigrationChurn: {Kind: spec.NumaMigrationChurn, Period: 5 * time.Millisecond},
	spec.CgroupChurn:        {Kind: spec.CgroupChurn, Period: 5 * time.Millisecond},
	spec.AsymmetricWaker:    {Kind: spec.AsymmetricWaker},
	spec.WakeChain:          {Kind: spec.WakeChain, Depth: 3},
	spec.EpollStorm:         {Kind: spec.EpollStorm, Producers: 1, Consumers: 2, Sleep: 2 * time.Millisecond},
	spec.ThunderingHerd:     {Kind: spec.ThunderingHerd, Waiters: 3, Sleep: 2 * time.Millisecond},
	spec.NumaWorkingSetSweep: {Kind: spec.NumaWorkingSetSweep, RegionBytes: 1 << 20,
		Period: 10 * time.Millisecond},
	// A long hold on one cpu makes the high tier wait for the low one.
	spec.PriorityInversion:         {Kind: spec.PriorityInversion, HoldIters: 300_000, WorkIters: 20_000},
	spec.ProducerConsumerImbalance: {Kind: spec.ProducerConsumerImbalance, WorkIters: 200_000, QueueDepth: 8},
	spec.SignalStorm:               {Kind: spec.SignalStorm},
	spec.PreemptStorm:              {Kind: spec.PreemptStorm, CFSWorkers: 1},
	spec.RtStarvation:              {Kind: spec.RtStarvation, RTWorkers: 1, CFSWorkers: 1},
}

// checkAddedKind checks what is particular to an added kind's reports:
// that its waking roles recorded wake-up latencies and that it degraded
// only where this host lacks something.
func checkAddedKind(t *testing.T, wt spec.WorkType, reports []spec.WorkerReport) {
	t.Helper()
	if _, ok := addedKindsShort[wt.Kind]; !ok {
		return
	}
	lat := func(i int) uint64 { return reports[i].ResumeLatencyCount }
	wantLatency := func(i int, why string) {
		t.Helper()
		if i < len(reports) && lat(i) == 0 {
			t.Errorf("worker %d (%s) recorded no wake-up latency", i, why)
		}
	}
	for i, r := range reports {
		if r.Degraded != "" {
			t.Logf("worker %d degraded: %s", i, r.Degraded)
		}
	}
	switch wt.Kind {
	case spec.AsymmetricWaker:
		// The wakee sleeps between hand-offs only when the waker does not
		// preempt it on its own cpu, which is the scheduler's choice.
		wantLatency(0, "waker")
	case spec.SignalStorm:
		wantLatency(0, "waker")
		wantLatency(1, "wakee")
	case spec.WakeChain:
		for i := range reports {
			if i%wt.Depth != 0 {
				wantLatency(i, "chain stage")
			}
		}
	case spec.EpollStorm:
		var sum uint64
		for i := wt.Producers; i < len(reports); i++ {
			sum += lat(i)
		}
		if sum == 0 {
			t.Error("no EpollStorm consumer recorded a wake-up latency")
		}
	case spec.ThunderingHerd:
		for i := 1; i < len(reports); i++ {
			wantLatency(i, "herd waiter")
		}
		if !reports[0].IsMessenger {
			t.Error("the herd's waker does not report as messenger")
		}
	case spec.ProducerConsumerImbalance:
		for i := range wt.Producers {
			wantLatency(i, "producer pacing sleep")
		}
	case spec.PriorityInversion:
		if r := reports[1]; r.ResumeLatencyCount != 0 {
			t.Errorf("medium tier recorded %d lock latencies; it takes no lock", r.ResumeLatencyCount)
		}
		if lat(0)+lat(2) == 0 {
			t.Error("neither the high nor the low tier ever waited for the lock")
		}
		if unix.Geteuid() == 0 && reports[0].Degraded != "" {
			t.Errorf("root: high tier degraded: %s", reports[0].Degraded)
		}
		for _, r := range reports {
			if !slices.Equal(r.CPUsUsed, reports[0].CPUsUsed) || len(r.CPUsUsed) != 1 {
				t.Errorf("worker %d ran on %v, the group should share one cpu (worker 0: %v)", r.Index, r.CPUsUsed, reports[0].CPUsUsed)
			}
		}
	case spec.PreemptStorm:
		wantLatency(0, "real-time sleeper")
		if unix.Geteuid() == 0 && reports[0].Degraded != "" {
			t.Errorf("root: real-time worker degraded: %s", reports[0].Degraded)
		}
	case spec.RtStarvation:
		if unix.Geteuid() == 0 && reports[0].Degraded != "" {
			t.Errorf("root: real-time worker degraded: %s", reports[0].Degraded)
		}
	case spec.IdleChurn:
		wantLatency(0, "timer wake-up")
	case spec.IoSyncWrite, spec.IoRandRead, spec.IoConvoy:
		var st unix.Statfs_t
		memfs := unix.Statfs(os.TempDir(), &st) == nil && (st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC)
		if memfs != (reports[0].Degraded != "") {
			t.Errorf("TMPDIR on a memory fs %v, but degraded %q", memfs, reports[0].Degraded)
		}
		if memfs {
			wantLatency(0, "stand-in device wait")
		}
	case spec.SmtSiblingSpin:
		if threads, _ := os.ReadFile("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list"); !strings.ContainsAny(string(threads), ",-") && reports[0].Degraded == "" {
			t.Error("no SMT here, but the pair did not say it degraded")
		}
	case spec.NumaMigrationChurn, spec.NumaWorkingSetSweep:
		if _, err := os.Stat("/sys/devices/system/node/node1"); err != nil && reports[0].Degraded == "" {
			t.Error("one NUMA node here, but the worker did not say it degraded")
		}
	}
}

// mayStarve reports whether worker i of wt may make no progress in a
// short run by design: RtStarvation's normal workers, which live off what
// the real-time ones leave, on a host that others load too.
func mayStarve(wt spec.WorkType, i int) bool {
	return wt.Kind == spec.RtStarvation && i%wt.GroupSize() >= wt.RTWorkers
}

// cgroup2Root returns a cgroup2 mount to test in, or ends the test.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Prereq(t, "CgroupChurn moves workers between cgroups: run the tests as root")
	}
	cands := []string{os.Getenv("SCXVM_CGROUP2_ROOT"), "/sys/fs/cgroup", "/sys/fs/cgroup/unified"}
	for _, c := range cands {
		var st unix.Statfs_t
		if c != "" && unix.Statfs(c, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return c
		}
	}
	testenv.Prereq(t, "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified (set SCXVM_CGROUP2_ROOT)")
	return ""
}

// cgroupPath returns the cgroup2 path of pid ("0::" line).
func cgroupPath(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	return ""
}

func TestCgroupChurn(t *testing.T) {
	root := cgroup2Root(t)
	base := filepath.Join(root, fmt.Sprintf("scxvm-churn-%d", os.Getpid()))
	dirs := []string{filepath.Join(base, "home"), filepath.Join(base, "home~churn1"), filepath.Join(base, "home~churn2")}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range append(dirs, base) {
			os.Remove(d)
		}
	})
	cfg := spec.WorkloadConfig{NumWorkers: 2, WorkType: addedKindsShort[spec.CgroupChurn]}
	if _, err := Spawn(cfg, InCgroup(dirs[0])); err == nil || !strings.Contains(err.Error(), "ChurnCgroups") {
		t.Fatalf("Spawn without ChurnCgroups: %v, want an error naming ChurnCgroups", err)
	}
	h, err := Spawn(cfg, InCgroup(dirs[0]), ChurnCgroups(dirs...))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.Start()
	seen := map[string]bool{}
	for range 40 {
		for _, pid := range h.WorkerPIDs() {
			seen[cgroupPath(pid)] = true
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, r := range h.StopAndCollect() {
		if !r.Completed || r.Iterations == 0 || r.Degraded != "" {
			t.Errorf("worker %d: completed %v, %d iterations, degraded %q: %+v", i, r.Completed, r.Iterations, r.Degraded, r.Exit)
		}
	}
	delete(seen, "")
	if len(seen) < 2 {
		t.Errorf("workers seen in cgroups %v, want them moving between %d", seen, len(dirs))
	}
	t.Logf("workers seen in %d cgroups: %v", len(seen), seen)
}
