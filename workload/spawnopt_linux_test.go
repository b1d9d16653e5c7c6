package workload

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// privateCgroup2 mounts a cgroup2 hierarchy of its own in a temp dir (this
// host mounts cgroup v1 for its controllers, but a controller-less cgroup2
// hierarchy can always sit beside it) and returns a fresh child cgroup's
// directory and its path as /proc/PID/cgroup shows it. It needs root.
func privateCgroup2(t *testing.T) (dir, rel string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a cgroup2 hierarchy needs root")
	}
	mnt := t.TempDir()
	if err := unix.Mount("scxvm-test", mnt, "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount cgroup2 on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	// Only the mount's own root is known; a fresh child of the hierarchy
	// root where this process sits (usually the root itself).
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	base := "/"
	for _, l := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			base = p
		}
	}
	rel = filepath.Join(base, "scxvm-incgroup-"+filepath.Base(t.Name()))
	dir = filepath.Join(mnt, rel)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir, rel
}

func TestSpawnInCgroup(t *testing.T) {
	dir, rel := privateCgroup2(t)
	h, err := Spawn(spec.WorkloadConfig{NumWorkers: 3}, InCgroup(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(procs))
	for _, pid := range h.WorkerPIDs() {
		cg, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cg), "0::"+rel+"\n") {
			t.Errorf("worker %d: /proc/PID/cgroup %q lacks 0::%s", pid, cg, rel)
		}
		if !slices.Contains(got, strconv.Itoa(pid)) {
			t.Errorf("worker %d not in %s/cgroup.procs %v", pid, dir, got)
		}
	}
	if len(got) != h.Len() {
		t.Errorf("cgroup.procs holds %v, want exactly the %d workers", got, h.Len())
	}
	for _, r := range h.StopAndCollect() {
		if !r.Completed {
			t.Errorf("worker %d: %+v", r.Index, r.Exit)
		}
	}
	h.Close()
	if procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(procs) != 0 {
		t.Errorf("cgroup.procs after Close: %q", procs)
	}
}

func TestSpawnInCgroupErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  spec.WorkloadConfig
		dir  string
		want string
	}{
		{"threads", spec.WorkloadConfig{NumWorkers: 1, CloneMode: spec.CloneThread}, t.TempDir(), "cgroup.threads"},
		{"missing dir", spec.WorkloadConfig{NumWorkers: 1}, "/nonexistent/scxvm-cgroup", "open cgroup /nonexistent/scxvm-cgroup"},
		{"not a cgroup", spec.WorkloadConfig{NumWorkers: 1}, t.TempDir(), "in cgroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Spawn(tc.cfg, InCgroup(tc.dir))
			if err == nil {
				h.Close()
				t.Fatalf("Spawn succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}
}
