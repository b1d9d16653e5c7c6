package builtin_test

import (
	"errors"
	"os"
	"testing"

	"github.com/scxvm/scxvm/agent/builtin"
)

func TestLoadUnknown(t *testing.T) {
	s, err := builtin.Load("cfs", builtin.Options{})
	if !errors.Is(err, builtin.ErrUnknown) {
		t.Fatalf("Load(cfs) = %v, %v; want ErrUnknown", s, err)
	}
}

func TestLoadBadOptions(t *testing.T) {
	s, err := builtin.Load(builtin.FIFO, builtin.Options{TimeoutMs: builtin.MaxTimeoutMs + 1})
	if err == nil {
		s.Close()
		t.Fatal("Load accepted a timeout above the kernel's maximum")
	}
}

// TestLoadWithoutSchedExt runs on hosts whose kernel lacks sched_ext (the
// usual development machine): Load must say so with ErrNotSupported rather
// than fail obscurely. Attaching for real is TestGuest's job.
func TestLoadWithoutSchedExt(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/sched_ext"); err == nil {
		t.Skip("SKIPPING: this kernel has sched_ext; TestGuest covers loading (attaching here would replace the host's scheduler)")
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: needs root to read kernel BTF and create BPF objects (run the tests as root)")
	}
	s, err := builtin.Load(builtin.FIFO, builtin.Options{Logf: t.Logf})
	if err == nil {
		s.Close()
		t.Fatal("Load(fifo) succeeded on a kernel without /sys/kernel/sched_ext")
	}
	if !errors.Is(err, builtin.ErrNotSupported) {
		t.Fatalf("Load(fifo) error = %v, want ErrNotSupported", err)
	}
	t.Logf("as expected: %v", err)
}
