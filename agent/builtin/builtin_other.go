//go:build !linux

package builtin

import "fmt"

// Scheduler is a built-in scheduler attached to the kernel. Close detaches
// it.
type Scheduler struct{ opsName string }

// Load builds and attaches a built-in scheduler. sched_ext exists only on
// Linux: here it returns an error wrapping [ErrNotSupported].
func Load(name string, opts Options) (*Scheduler, error) {
	if _, err := OpsName(name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("load %s: %w: needs Linux", name, ErrNotSupported)
}

// Name returns the ops name shown in /sys/kernel/sched_ext/root/ops.
func (s *Scheduler) Name() string { return s.opsName }

// Close detaches the scheduler; it is idempotent.
func (s *Scheduler) Close() error { return nil }
