//go:build linux

package host

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMain fails the run when the tests leak file descriptors or child
// processes (a QEMU, or anything in its process group, left behind).
func TestMain(m *testing.M) {
	before := openFDs()
	code := m.Run()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	if vmlinuxPath != "" {
		os.RemoveAll(filepath.Dir(vmlinuxPath))
	}
	if code == 0 {
		if leaked := leakedFDs(before, openFDs()); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: leaked file descriptors: %v\n", leaked)
			code = 1
		}
		if kids := children(); len(kids) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: leaked child processes: %v\n", kids)
			code = 1
		}
	}
	os.Exit(code)
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

func leakedFDs(before, after map[string]string) []string {
	var out []string
	for fd, target := range after {
		if _, ok := before[fd]; ok || strings.HasPrefix(target, "anon_inode:") {
			continue // the runtime's epoll and event fds come and go
		}
		if _, err := os.Stat(filepath.Join("/proc/self/fd", fd)); err != nil {
			continue // the ReadDir fd itself
		}
		out = append(out, fd+" -> "+target)
	}
	slices.Sort(out)
	return out
}

// children lists the live child processes of this process.
func children() []string {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var out []string
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, pid := range strings.Fields(string(b)) {
			if stat, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
				out = append(out, string(stat))
			}
		}
	}
	return out
}
