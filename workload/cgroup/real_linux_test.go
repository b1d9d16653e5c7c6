package cgroup

// Tests against a real cgroup v2 hierarchy: /sys/fs/cgroup when it is
// cgroup2, else SCXVM_CGROUP2_ROOT, else another cgroup2 mount of the
// host (systemd's hybrid layout has one in /sys/fs/cgroup/unified), else
// one mounted for the test. A hierarchy beside cgroup v1 offers no
// controllers; the cpuset checks then skip themselves.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// realRoot returns a fresh cgroup directory on a real cgroup2 hierarchy
// and the options that fit it (the controllers it offers), or skips.
func realRoot(t *testing.T) (string, []Option) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: real cgroup tests need root")
	}
	hier := os.Getenv("SCXVM_CGROUP2_ROOT")
	if hier == "" {
		hier = cgroup2Mount(t)
	}
	b, err := os.ReadFile(filepath.Join(hier, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	var opts []Option
	if !slices.Contains(strings.Fields(string(b)), "cpuset") {
		t.Logf("%s offers no cpuset controller (%q): cpuset checks skipped", hier, strings.TrimSpace(string(b)))
		opts = append(opts, WithControllers())
	}
	return filepath.Join(hier, fmt.Sprintf("scxvm-test-%d-%s", os.Getpid(), t.Name())), opts
}

// cgroup2Mount returns /sys/fs/cgroup when it is a cgroup2 mount, else
// another cgroup2 mount point from /proc/self/mounts, else a cgroup2
// hierarchy it mounts in a temp dir for the test.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "/sys/fs/cgroup"
	}
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for l := range strings.Lines(string(b)) {
			if f := strings.Fields(l); len(f) >= 3 && f[2] == "cgroup2" {
				return f[1]
			}
		}
	}
	mnt := t.TempDir()
	if err := unix.Mount("scxvm-test", mnt, "cgroup2", 0, ""); err != nil {
		t.Fatalf("no cgroup2 hierarchy, and mounting one on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	t.Logf("no cgroup2 mount on the host: mounted one on %s", mnt)
	return mnt
}

func hasCpuset(m *Manager) bool { return slices.Contains(m.Controllers(), "cpuset") }

// cgroupOf returns the cgroup2 path of a task from /proc/PID/cgroup.
func cgroupOf(t *testing.T, procFile string) string {
	t.Helper()
	b, err := os.ReadFile(procFile)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	t.Fatalf("%s has no cgroup2 line:\n%s", procFile, b)
	return ""
}

func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func TestRealLifecycle(t *testing.T) {
	root, opts := realRoot(t)
	m, err := NewManager(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if m.Plain() {
		t.Error("Plain() = true on cgroup2")
	}
	defer func() {
		if err := m.Cleanup(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(root); !os.IsNotExist(err) {
			t.Errorf("root %s left behind: %v", root, err)
		}
	}()
	sleep := startSleep(t)
	pid := sleep.Process.Pid

	if err := m.Create("a"); err != nil {
		t.Fatal(err)
	}
	if hasCpuset(m) {
		eff, err := os.ReadFile(filepath.Join(root, "cpuset.cpus.effective"))
		if err != nil {
			t.Fatal(err)
		}
		first := strings.FieldsFunc(strings.TrimSpace(string(eff)), func(r rune) bool { return r == ',' || r == '-' })[0]
		if err := m.SetCPUs("a", first); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(m.Path("a/cpuset.cpus.effective")); strings.TrimSpace(string(got)) != first {
			t.Errorf("cpuset.cpus.effective = %q, want %q", got, first)
		}
		if err := m.ClearCPUs("a"); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.MoveTask("a", pid); err != nil {
		t.Fatal(err)
	}
	if tasks, err := m.Tasks("a"); err != nil || !slices.Equal(tasks, []int{pid}) {
		t.Fatalf("Tasks = %v, %v; want [%d]", tasks, err, pid)
	}
	if got := cgroupOf(t, fmt.Sprintf("/proc/%d/cgroup", pid)); !strings.HasSuffix(got, "/"+filepath.Base(root)+"/a") {
		t.Errorf("sleep is in %s", got)
	}
	// A task that exited is not an error.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if err := m.MoveTask("a", gone.Process.Pid); err != nil {
		t.Errorf("moving an exited task: %v", err)
	}
	// Remove drains first.
	if err := m.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if got := cgroupOf(t, fmt.Sprintf("/proc/%d/cgroup", pid)); got != "/" {
		t.Errorf("after Remove, sleep is in %s, want the hierarchy root", got)
	}
}

func TestRealGroupAndCleanup(t *testing.T) {
	root, opts := realRoot(t)
	m, err := NewManager(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sleep := startSleep(t)
	g := m.NewGroup()
	for _, n := range []string{"x", "y"} {
		if err := g.Add(n, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Create("z/nested"); err != nil {
		t.Fatal(err)
	}
	if err := m.MoveTask("z/nested", sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"x", "y"} {
		if _, err := os.Stat(m.Path(n)); !os.IsNotExist(err) {
			t.Errorf("%s left after Close: %v", n, err)
		}
	}
	start := time.Now()
	if err := m.Cleanup(); err != nil {
		t.Fatal(err)
	}
	t.Logf("cleanup with a populated nested cgroup took %v", time.Since(start))
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("root left after Cleanup: %v", err)
	}
}

func TestRealThreads(t *testing.T) {
	root, opts := realRoot(t)
	home := cgroupOf(t, "/proc/self/cgroup")
	m, err := NewManager(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Cleanup(); err != nil {
			t.Error(err)
		}
		// Put the test process back where it was.
		hier := os.Getenv("SCXVM_CGROUP2_ROOT")
		if hier == "" {
			hier = "/sys/fs/cgroup"
		}
		os.WriteFile(filepath.Join(hier, home, "cgroup.procs"), []byte(fmt.Sprint(os.Getpid())), 0)
	}()
	if err := m.Create("t"); err != nil {
		t.Fatal(err)
	}
	tidc, release := make(chan int), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tidc <- unix.Gettid()
		<-release
	}()
	tid := <-tidc
	defer close(release)
	if err := m.MoveThreads("t", []int{tid}); err != nil {
		t.Fatal(err)
	}
	if typ, _ := os.ReadFile(m.Path("t/cgroup.type")); strings.TrimSpace(string(typ)) != "threaded" {
		t.Errorf("cgroup.type = %q", typ)
	}
	if th, err := m.Threads("t"); err != nil || !slices.Equal(th, []int{tid}) {
		t.Errorf("Threads = %v, %v; want [%d]", th, err, tid)
	}
	if got := cgroupOf(t, fmt.Sprintf("/proc/self/task/%d/cgroup", tid)); !strings.HasSuffix(got, "/t") {
		t.Errorf("thread is in %s", got)
	}
}
