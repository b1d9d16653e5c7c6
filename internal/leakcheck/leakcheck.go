// Package leakcheck is the one TestMain check of packages whose tests
// start processes or VMs: it fails the run when the tests left anything
// behind, on every path: child processes (a QEMU, a worker), file
// descriptors, cgroups, and files in the temporary directory.
package leakcheck

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/internal/proctest"
)

// M is what Main needs of *testing.M.
type M interface{ Run() int }

// Func adapts a function that runs the tests (and sets up around them) to
// M.
type Func func() int

// Run calls f.
func (f Func) Run() int { return f() }

// Option adjusts Main.
type Option func(*options)

type options struct {
	cleanup []func()
	checks  []func() string
	grace   time.Duration
}

// Cleanup runs f after the tests and before the checks: for what a
// package's TestMain set up itself (a shared image directory).
func Cleanup(f func()) Option { return func(o *options) { o.cleanup = append(o.cleanup, f) } }

// Check adds a package's own check, run after the others: it returns a
// description of what leaked, or "".
func Check(f func() string) Option { return func(o *options) { o.checks = append(o.checks, f) } }

// Main runs the tests with a private temporary directory ($TMPDIR, which
// child processes inherit), then checks that no child process is alive or
// unreaped (after a short grace period for reaping goroutines), that every
// file descriptor opened during the run is closed again (the runtime's
// anon inodes aside), that no cgroup named scxvm* appeared, and that the
// temporary directory is empty. It prints what leaked and returns the exit
// code for os.Exit: m's own, or 1 on a leak.
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
func Main(m M, opts ...Option) int {
	var o options
	o.grace = 2 * time.Second
	for _, opt := range opts {
		opt(&o)
	}
	tmp, err := os.MkdirTemp("", "leakcheck-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "leakcheck: %v\n", err)
		return 1
	}
	oldTmp, hadTmp := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", tmp)
	fds, cgroups := openFDs(), scxvmCgroups()

	code := m.Run()

	for _, f := range o.cleanup {
		f()
	}
	if hadTmp {
		os.Setenv("TMPDIR", oldTmp)
	} else {
		os.Unsetenv("TMPDIR")
	}
	if code != 0 {
		os.RemoveAll(tmp)
		return code // the failure says enough; leaks after a failure are noise
	}
	var leaks []string
	deadline := time.Now().Add(o.grace)
	for kids := children(); len(kids) > 0; kids = children() {
		if time.Now().After(deadline) {
			leaks = append(leaks, "child processes: "+strings.Join(kids, "; "))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l := newFDs(fds, openFDs()); len(l) > 0 {
		leaks = append(leaks, "file descriptors: "+strings.Join(l, ", "))
	}
	if l := added(cgroups, scxvmCgroups()); len(l) > 0 {
		leaks = append(leaks, "cgroups: "+strings.Join(l, ", "))
	}
	if l := leftIn(tmp); len(l) > 0 {
		leaks = append(leaks, "temporary files: "+strings.Join(l, ", "))
	}
	for _, c := range o.checks {
		if l := c(); l != "" {
			leaks = append(leaks, l)
		}
	}
	os.RemoveAll(tmp)
	return report(os.Stderr, leaks)
}

func report(w io.Writer, leaks []string) int {
	if len(leaks) == 0 {
		return 0
	}
	for _, l := range leaks {
		fmt.Fprintf(w, "FAIL: leaked %s\n", l)
	}
	return 1
}

// children lists this process's children, zombies included, as
// "PID (comm) state".
func children() []string {
	var out []string
	for _, p := range proctest.Children(os.Getpid()) {
		out = append(out, fmt.Sprintf("%d (%s) %c", p.PID, p.Comm, p.State))
	}
	return out
}

func openFDs() map[string]string {
	ents, _ := os.ReadDir("/proc/self/fd")
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds[e.Name()] = target
	}
	return fds
}

// newFDs lists descriptors open now that were not before, except the
// runtime's anon inodes (epoll, eventfd, pidfd) and the one ReadDir used.
func newFDs(before, after map[string]string) []string {
	var out []string
	for fd, target := range after {
		if before[fd] == target || strings.HasPrefix(target, "anon_inode:") {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc/self/fd", fd)); err != nil {
			continue
		}
		out = append(out, fd+" -> "+target)
	}
	slices.Sort(out)
	return out
}

// scxvmCgroups lists the cgroup directories named scxvm* up to three
// levels below /sys/fs/cgroup (v2, or the v1 hierarchies).
func scxvmCgroups() []string {
	var out []string
	for _, pat := range []string{"/sys/fs/cgroup/scxvm*", "/sys/fs/cgroup/*/scxvm*", "/sys/fs/cgroup/*/*/scxvm*"} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	return out
}

func added(before, after []string) []string {
	var out []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			out = append(out, a)
		}
	}
	return out
}

// leftIn lists the entries of dir.
func leftIn(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
