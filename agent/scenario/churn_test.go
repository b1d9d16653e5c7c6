package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/workload/cgroup"
	"golang.org/x/sys/unix"
)

// TestCgroupChurnSiblings runs a CgroupChurn workload on a real cgroup2
// hierarchy: the runner creates the siblings next to the workload's
// cgroup, the workers move through them, and cleanup removes them.
func TestCgroupChurnSiblings(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Prereq(t, "CgroupChurn moves workers between cgroups: run the tests as root")
	}
	root := ""
	for _, c := range []string{os.Getenv("SCXVM_CGROUP2_ROOT"), "/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if c != "" && unix.Statfs(c, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			root = c
			break
		}
	}
	if root == "" {
		testenv.Prereq(t, "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified (set SCXVM_CGROUP2_ROOT)")
	}
	name := fmt.Sprintf("scxvm-churn-%d", os.Getpid())
	var mu sync.Mutex
	seen := map[string]bool{}
	cfg := Config{
		CgroupParent:  root,
		Name:          name,
		CgroupOptions: []cgroup.Option{cgroup.WithControllers()},
		Interval:      20 * time.Millisecond,
		Hooks: Hooks{Logf: t.Logf, Progress: func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			for _, w := range p.Workers {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", w.PID))
				for line := range strings.Lines(string(b)) {
					if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
						seen[filepath.Base(p)] = true
					}
				}
			}
		}},
	}
	// Progress lists the workers only when they change: sample their
	// cgroups from a goroutine too.
	sc := spec.Scenario{
		Name:     "churn",
		Duration: 400 * time.Millisecond,
		Cgroups: []spec.Cgroup{{Name: "a", Workloads: []spec.WorkloadConfig{{NumWorkers: 2,
			WorkType: spec.WorkType{Kind: spec.CgroupChurn, Period: 5 * time.Millisecond, Groups: 2}}}}},
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ents, _ := os.ReadDir(filepath.Join(root, name))
			for _, e := range ents {
				if b, err := os.ReadFile(filepath.Join(root, name, e.Name(), "cgroup.procs")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
					mu.Lock()
					seen[e.Name()] = true
					mu.Unlock()
				}
			}
		}
	})
	res, err := Run(context.Background(), sc, cfg)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, r := range res.Reports {
		if r.Cgroup != "a" || !r.Report.Completed || r.Report.Iterations == 0 || r.Report.Degraded != "" {
			t.Errorf("report: cgroup %q completed %v iterations %d degraded %q", r.Cgroup, r.Report.Completed, r.Report.Iterations, r.Report.Degraded)
		}
	}
	for _, want := range []string{"a", "a~churn1", "a~churn2"} {
		if !seen[want] {
			t.Errorf("no worker seen in cgroup %s (seen: %v)", want, seen)
		}
	}
	if _, err := os.Stat(filepath.Join(root, name)); !os.IsNotExist(err) {
		t.Errorf("job cgroup left behind: %v", err)
	}
}
