package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fake returns a manager over a fake root of regular files whose writes go
// through fault (when not nil) and are logged.
type fakeRig struct {
	m     *Manager
	mu    sync.Mutex
	log   []string // "file=value", file relative to root
	sleep []time.Duration
	fault func(file, value string) error
}

func newFake(t *testing.T, opts ...Option) *fakeRig {
	t.Helper()
	root := filepath.Join(t.TempDir(), "scxvm")
	m, err := NewManager(root, append([]Option{WithoutFSCheck()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRig{m: m}
	real := m.write
	m.write = func(file, value string) error {
		rel, _ := filepath.Rel(root, file)
		r.mu.Lock()
		r.log = append(r.log, rel+"="+value)
		fault := r.fault
		r.mu.Unlock()
		if fault != nil {
			if err := fault(rel, value); err != nil {
				return &WriteError{File: file, Value: value, Err: err}
			}
		}
		return real(file, value)
	}
	m.sleep = func(d time.Duration) {
		r.mu.Lock()
		r.sleep = append(r.sleep, d)
		r.mu.Unlock()
	}
	return r
}

func (r *fakeRig) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewManagerFake(t *testing.T) {
	root := filepath.Join(t.TempDir(), "scxvm")
	m, err := NewManager(root, WithoutFSCheck())
	if err != nil {
		t.Fatal(err)
	}
	if !m.Plain() {
		t.Error("Plain() = false for a WithoutFSCheck manager")
	}
	if got := readFile(t, filepath.Join(root, "cgroup.subtree_control")); got != "+cpuset +cpu" {
		t.Errorf("subtree_control = %q", got)
	}
	if got := m.Controllers(); !slices.Equal(got, []string{"cpuset", "cpu"}) {
		t.Errorf("Controllers = %v", got)
	}
	if err := m.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root left behind: %v", err)
	}

	// Controllers already enabled are not written again; a missing
	// required controller is an error naming it.
	root = t.TempDir()
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset io memory\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("cpuset\n"), 0o644)
	m, err = NewManager(root, WithoutFSCheck())
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "cgroup.subtree_control")); got != "cpuset\n" {
		t.Errorf("subtree_control rewritten to %q", got)
	}
	if got := m.Controllers(); !slices.Equal(got, []string{"cpuset"}) {
		t.Errorf("Controllers = %v (cpu is not available)", got)
	}
	m.Cleanup()
	if _, err := os.Stat(root); err != nil {
		t.Errorf("Cleanup removed a root it did not create: %v", err)
	}
	_, err = NewManager(root, WithoutFSCheck(), WithControllers("cpu"))
	if err == nil || !strings.Contains(err.Error(), "cpu is not available") {
		t.Errorf("missing controller: %v", err)
	}
}

func TestNewManagerNotCgroup2(t *testing.T) {
	for _, root := range []string{t.TempDir(), filepath.Join(t.TempDir(), "a", "b")} {
		_, err := NewManager(root)
		if !errors.Is(err, ErrNoCgroup2) || !strings.Contains(err.Error(), "mount -t cgroup2") {
			t.Errorf("NewManager(%s) = %v, want ErrNoCgroup2 with the fix", root, err)
		}
	}
	// The host's /sys/fs/cgroup, when it is not cgroup2, says what it found.
	if _, err := NewManager("/sys/fs/cgroup/scxvm-never-created"); err != nil {
		if !errors.Is(err, ErrNoCgroup2) {
			t.Errorf("host: %v", err)
		}
		t.Logf("host: %v", err)
	} else {
		t.Log("host mounts cgroup2")
	}
}

func TestWrites(t *testing.T) {
	r := newFake(t)
	m := r.m
	r.writes()
	if err := m.Create("a"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		do   func() error
		file string
		want string
	}{
		{func() error { return m.SetCPUs("a", "1-2") }, "a/cpuset.cpus", "1-2"},
		{func() error { return m.SetMems("a", "0") }, "a/cpuset.mems", "0"},
		{func() error { return m.ClearCPUs("a") }, "a/cpuset.cpus", ""},
		{func() error { return m.MoveTask("a", 42) }, "a/cgroup.procs", "42"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, m.Path(s.file)); got != s.want {
			t.Errorf("%s = %q, want %q", s.file, got, s.want)
		}
	}
	if got := r.writes(); !slices.Equal(got, []string{"a/cpuset.cpus=1-2", "a/cpuset.mems=0", "a/cpuset.cpus=", "a/cgroup.procs=42"}) {
		t.Errorf("writes = %q", got)
	}
	if tasks, err := m.Tasks("a"); err != nil || !slices.Equal(tasks, []int{42}) {
		t.Errorf("Tasks = %v, %v", tasks, err)
	}

	// Nested cgroups get the controllers enabled in their parent.
	if err := m.Create("a/b"); err != nil {
		t.Fatal(err)
	}
	if got := r.writes(); !slices.Equal(got, []string{"a/cgroup.subtree_control=+cpuset +cpu"}) {
		t.Errorf("nested create writes = %q", got)
	}
	if m.Path("a/b") != filepath.Join(m.Root(), "a", "b") {
		t.Errorf("Path = %s", m.Path("a/b"))
	}
}

func TestBadNames(t *testing.T) {
	m := newFake(t).m
	for _, name := range []string{"", "/a", "a/../b", "..", "a/", "./a", "a//b"} {
		if err := m.Create(name); err == nil {
			t.Errorf("Create(%q) succeeded", name)
		}
		if err := m.SetCPUs(name, "0"); err == nil {
			t.Errorf("SetCPUs(%q) succeeded", name)
		}
	}
}

func TestMoveTasksFaults(t *testing.T) {
	busy := func(n int) func(string, string) error {
		return func(file, value string) error {
			if n > 0 {
				n--
				return syscall.EBUSY
			}
			return nil
		}
	}
	tests := []struct {
		name      string
		fault     func(file, value string) error
		pids      []int
		wantErr   error
		wantSleep int
		wantLog   []string
	}{
		{"busy twice", busy(2), []int{7}, nil, 2, []string{"a/cgroup.procs=7", "a/cgroup.procs=7", "a/cgroup.procs=7"}},
		{"busy forever", busy(100), []int{7}, syscall.EBUSY, 3, []string{"a/cgroup.procs=7", "a/cgroup.procs=7", "a/cgroup.procs=7", "a/cgroup.procs=7"}},
		{"gone", func(file, value string) error {
			if value == "8" {
				return syscall.ESRCH
			}
			return nil
		}, []int{7, 8, 9}, nil, 0, []string{"a/cgroup.procs=7", "a/cgroup.procs=8", "a/cgroup.procs=9"}},
		{"invalid", func(file, value string) error { return syscall.EINVAL }, []int{7, 8}, syscall.EINVAL, 0, []string{"a/cgroup.procs=7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFake(t)
			if err := r.m.Create("a"); err != nil {
				t.Fatal(err)
			}
			r.writes()
			r.fault = tt.fault
			err := r.m.MoveTasks("a", tt.pids)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("MoveTasks = %v, want %v", err, tt.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), "cgroup.procs") || !strings.Contains(err.Error(), `"7"`)) {
				t.Errorf("error %q does not name the file and value", err)
			}
			if got := r.writes(); !slices.Equal(got, tt.wantLog) {
				t.Errorf("writes = %q, want %q", got, tt.wantLog)
			}
			if len(r.sleep) != tt.wantSleep || slices.ContainsFunc(r.sleep, func(d time.Duration) bool { return d != 100*time.Millisecond }) {
				t.Errorf("sleeps = %v, want %d x 100ms", r.sleep, tt.wantSleep)
			}
		})
	}
}

func TestMoveThreads(t *testing.T) {
	r := newFake(t)
	m := r.m
	if err := m.Create("t"); err != nil {
		t.Fatal(err)
	}
	r.writes()
	if err := m.MoveThreads("t", []int{100, 101}); err != nil {
		t.Fatal(err)
	}
	if err := m.MoveThreads("t", []int{102}); err != nil {
		t.Fatal(err)
	}
	want := []string{"t/cgroup.type=threaded", "t/cgroup.threads=100", "t/cgroup.threads=101", "t/cgroup.threads=102"}
	if got := r.writes(); !slices.Equal(got, want) {
		t.Errorf("writes = %q, want %q", got, want)
	}
	if err := m.MoveToRoot(5); err != nil {
		t.Fatal(err)
	}
	if got := r.writes(); !slices.Equal(got, []string{"cgroup.procs=5"}) {
		t.Errorf("MoveToRoot writes = %q", got)
	}
}

func TestCleanupOrder(t *testing.T) {
	r := newFake(t)
	m := r.m
	for _, n := range []string{"a", "b", "a/c"} {
		if err := m.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	// One task in each cgroup: the drain order shows the removal order.
	for i, n := range []string{"a", "b", "a/c"} {
		if err := m.MoveTask(n, 10*(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	r.writes()
	if err := m.Cleanup(); err != nil {
		t.Fatal(err)
	}
	want := []string{"cgroup.procs=30", "cgroup.procs=20", "cgroup.procs=10"}
	if got := r.writes(); !slices.Equal(got, want) {
		t.Errorf("drain writes = %q, want %q (newest first)", got, want)
	}
	if _, err := os.Stat(m.Root()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root still there after Cleanup: %v", err)
	}
	if err := m.Cleanup(); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

func TestRemove(t *testing.T) {
	r := newFake(t)
	m := r.m
	if err := m.Create("a/b"); err != nil {
		t.Fatal(err)
	}
	m.MoveTask("a/b", 5)
	r.writes()
	if err := m.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if got := r.writes(); !slices.Equal(got, []string{"cgroup.procs=5"}) {
		t.Errorf("writes = %q: a/b not drained", got)
	}
	if _, err := os.Stat(m.Path("a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a still there: %v", err)
	}
	if err := m.Remove("a"); err != nil {
		t.Errorf("Remove of a removed cgroup: %v", err)
	}
	// A failing drain keeps the cgroup and reports the write.
	m.Create("d")
	m.MoveTask("d", 6)
	r.fault = func(file, value string) error { return syscall.EINVAL }
	if err := m.Remove("d"); err == nil || !strings.Contains(err.Error(), "drain d") {
		t.Errorf("Remove with failing drain = %v", err)
	}
	if _, err := os.Stat(m.Path("d")); err != nil {
		t.Errorf("d removed despite failed drain: %v", err)
	}
}

func TestWriteTimeout(t *testing.T) {
	r := newFake(t, WithTimeout(100*time.Millisecond))
	m := r.m
	if err := m.Create("a"); err != nil {
		t.Fatal(err)
	}
	fifo := m.Path("a/cpuset.cpus")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := m.SetCPUs("a", "1")
	elapsed := time.Since(start)
	var we *WriteError
	if !errors.As(err, &we) || !we.TimedOut || we.Value != "1" || we.File != fifo {
		t.Fatalf("SetCPUs on a blocking file = %v, want a timed-out WriteError", err)
	}
	if !strings.Contains(err.Error(), "timed out after 100ms") {
		t.Errorf("error %q", err)
	}
	if elapsed < 100*time.Millisecond || elapsed > time.Second {
		t.Errorf("timed out after %v, want ~100ms", elapsed)
	}
	// Unblock the abandoned write so its goroutine ends.
	f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	f.Close()
}

func TestGroup(t *testing.T) {
	r := newFake(t)
	m := r.m
	g := m.NewGroup()
	if err := g.Add("a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := g.Add("b", ""); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, m.Path("a/cpuset.cpus")); got != "1" {
		t.Errorf("a cpus = %q", got)
	}
	// A failed Add leaves nothing behind.
	r.fault = func(file, value string) error {
		if file == "c/cpuset.cpus" {
			return syscall.EINVAL
		}
		return nil
	}
	if err := g.Add("c", "99"); err == nil || !strings.Contains(err.Error(), `write "99" to `) {
		t.Errorf("Add with bad cpus = %v", err)
	}
	if _, err := os.Stat(m.Path("c")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed Add left c: %v", err)
	}
	if got := g.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Names = %v", got)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := os.Stat(m.Path(n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Close: %v", n, err)
		}
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := g.Add("d", ""); err == nil {
		t.Error("Add after Close succeeded")
	}
}

func TestGroupPanicPath(t *testing.T) {
	m := newFake(t).m
	func() {
		defer func() { recover() }()
		g := m.NewGroup()
		defer g.Close()
		if err := g.Add("x", "0-1"); err != nil {
			t.Fatal(err)
		}
		panic("scenario blew up")
	}()
	if _, err := os.Stat(m.Path("x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup left after a panic: %v", err)
	}
}

func TestWriteErrorMessage(t *testing.T) {
	m := newFake(t).m
	err := m.SetCPUs("missing/deeper", "3")
	if err == nil {
		t.Fatal("write into a missing cgroup succeeded")
	}
	want := fmt.Sprintf(`write "3" to %s: `, m.Path("missing/deeper/cpuset.cpus"))
	if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("error %q, want prefix %q and ENOENT", err, want)
	}
}

func TestDrainTarget(t *testing.T) {
	target := t.TempDir()
	r := newFake(t, WithDrainTarget(target))
	m := r.m
	if err := m.Create("a"); err != nil {
		t.Fatal(err)
	}
	m.MoveTasks("a", []int{3})
	if err := m.Drain("a"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(target, "cgroup.procs")); got != "3" {
		t.Errorf("drain target got %q", got)
	}
}
