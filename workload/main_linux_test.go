package workload

import (
	"os"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/leakcheck"
)

func TestMain(m *testing.M) {
	RunWorkerIfChild()
	os.Exit(leakcheck.Main(m, leakcheck.Check(func() string {
		if m := memfdMapped(); m != "" {
			return "shared memory still mapped: " + m
		}
		return ""
	})))
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
