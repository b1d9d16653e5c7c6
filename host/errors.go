package host

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrTimeout is returned (wrapped) by Wait when Config.Timeout killed the
// VM.
var ErrTimeout = errors.New("vm timed out")

// ErrNoQEMU is returned (wrapped) by Start when the QEMU binary cannot be
// found or executed: an infrastructure problem, not a guest failure.
var ErrNoQEMU = errors.New("qemu not found")

// ErrUnsupported is returned by Start on operating systems other than
// Linux.
var ErrUnsupported = errors.New("host: running VMs is only supported on linux")

// ExitError reports that QEMU ended on its own with a non-zero status, or
// was killed by a signal other than through a context or Config.Timeout
// (VM.Kill, or someone outside).
type ExitError struct {
	Code   int            // exit status, -1 if signaled
	Signal syscall.Signal // the signal that ended QEMU, 0 if it exited
	Stderr string         // the end of QEMU's stderr (its own error messages)
}

// Error describes the exit and QEMU's last message.
func (e *ExitError) Error() string {
	var s string
	if e.Signal != 0 {
		s = fmt.Sprintf("qemu killed by signal %v", e.Signal)
	} else {
		s = fmt.Sprintf("qemu exited with status %d", e.Code)
	}
	if msg := lastLines(e.Stderr, 3); msg != "" {
		s += ": " + msg
	}
	return s
}
