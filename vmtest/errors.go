package vmtest

import (
	"fmt"
	"strings"

	"github.com/scxvm/scxvm/kernel"
)

// ErrNotSupported is wrapped by Run's error when the kernel cannot run
// sched_ext schedulers (git bisect: skip, exit 125). It is the kernel
// package's sentinel, so errors.Is works with either name.
var ErrNotSupported = kernel.ErrNotSupported

// ErrBadKernel is wrapped by Run's error when the kernel file is not a
// usable kernel image: no Linux kernel at all, or a truncated or corrupt
// one (a *kernel.BadImageError says what is wrong). It comes inside an
// *InfraError: it says nothing about the kernel under test (git bisect:
// stop). It is the kernel package's ErrBadImage.
var ErrBadKernel = kernel.ErrBadImage

// ConfigError is an invalid Config: a bad field value, an unknown
// scenario or scheduler, an invalid scenario file.
type ConfigError struct {
	Field string
	Msg   string
	Err   error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		if e.Msg != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// InfraError is a failure of the test infrastructure rather than of the
// kernel or scheduler under test: QEMU missing, the initramfs could not be
// built, the transport could not be set up. A bisect must stop on it
// (exit >= 128), not mark the commit bad.
type InfraError struct {
	// Op is what was being done ("build initramfs", "start qemu", ...).
	Op  string
	Err error
}

func (e *InfraError) Error() string { return fmt.Sprintf("infrastructure: %s: %v", e.Op, e.Err) }

func (e *InfraError) Unwrap() error { return e.Err }

// FailureKind attributes a failed run.
type FailureKind string

// Failure kinds, from the most to the least specific cause.
const (
	FailChecks        FailureKind = "checks_failed"   // a check failed (see the scenarios' Failures)
	FailLoad          FailureKind = "load_failed"     // the scheduler did not load or attach
	FailEjected       FailureKind = "ejected"         // the kernel ejected the scheduler
	FailSchedulerDied FailureKind = "scheduler_died"  // the scheduler's loader exited during a run
	FailWorkerCrash   FailureKind = "worker_crash"    // a worker died before reporting
	FailPanic         FailureKind = "kernel_panic"    // kernel panic, oops or BUG
	FailTimeout       FailureKind = "timeout"         // the guest did not finish in time
	FailTransport     FailureKind = "transport_lost"  // the channel closed before the agent's Bye
	FailAgent         FailureKind = "agent_error"     // the agent reported an error
	FailGuestExited   FailureKind = "guest_exited"    // QEMU exited before the agent's Bye
	FailProtocol      FailureKind = "protocol_error"  // an unexpected frame or a version mismatch
	FailScenario      FailureKind = "scenario_failed" // the agent could not run a scenario
	FailNoEvidence    FailureKind = "no_evidence"     // the job ended without the data a pass needs
	FailPayload       FailureKind = "payload_failed"  // a payload whose exit status counts exited otherwise
	// FailPayloadNotStarted: a payload whose exit status counts could
	// not start (not found, not executable in the guest): a mistake in
	// the test, not a verdict on the kernel (the CLI exits 131).
	FailPayloadNotStarted FailureKind = "payload_not_started"
)

// Failure says why a run did not pass. Run returns it as its error
// alongside the Result.
type Failure struct {
	Kind FailureKind `json:"kind"`
	// Scenario is the scenario the failure happened in, if any.
	Scenario string `json:"scenario,omitempty"`
	// Message is a one-line summary.
	Message string `json:"message"`
	// Detail holds supporting lines: the scheduler's log and verifier
	// output, the kernel's reason and stall lines, a console excerpt.
	Detail []string `json:"detail,omitempty"`
}

func (f *Failure) Error() string {
	var b strings.Builder
	b.WriteString(string(f.Kind))
	if f.Scenario != "" {
		fmt.Fprintf(&b, " in scenario %q", f.Scenario)
	}
	if f.Message != "" {
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	return b.String()
}

// Long returns the failure with its detail lines, indented.
func (f *Failure) Long() string {
	var b strings.Builder
	b.WriteString(f.Error())
	for _, l := range f.Detail {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
	return b.String()
}
