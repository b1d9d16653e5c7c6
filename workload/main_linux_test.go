package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunWorkerIfChild()
	code := m.Run()
	if kids := childPIDs(); len(kids) > 0 {
		// Give reaping goroutines a moment, then fail on leaks.
		time.Sleep(200 * time.Millisecond)
		if kids = childPIDs(); len(kids) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: leaked child processes: %v\n", kids)
			code = 1
		}
	}
	if m := memfdMapped(); m != "" {
		fmt.Fprintf(os.Stderr, "FAIL: shared memory still mapped: %s\n", m)
		code = 1
	}
	os.Exit(code)
}

// childPIDs lists the children of this process (all its threads).
func childPIDs() []string {
	var out []string
	files, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

// memfdMapped returns the /proc/self/maps line of a workload memfd, if any.
func memfdMapped() string {
	b, _ := os.ReadFile("/proc/self/maps")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "memfd:"+memfdName) {
			return line
		}
	}
	return ""
}
