package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// Exit codes, chosen for `git bisect run` and CI. `git bisect run` reads
// 0 as good, 125 as skip, any other code from 1 to 127 as bad, and stops on
// anything else. So only verdicts on the commit under test use 0, 1 and
// 125; every outcome that would be the same on every commit (a usage
// mistake, a file that is no kernel, broken infrastructure, an interrupt)
// has a code of its own from 128 up, which stops a bisect instead of
// blaming the commit.
const (
	exitPass        = 0
	exitFail        = 1   // a check failed or the scheduler/kernel misbehaved
	exitUnsupported = 125 // the kernel lacks sched_ext
	exitInternal    = 128 // an unexpected error in scxvm itself
	exitInfra       = 129 // QEMU missing, kernel not in the cache, image build failed, transport setup failed
	exitInterrupted = 130 // Ctrl-C or SIGTERM
	exitUsage       = 131 // bad flags, unknown scenario or scheduler, invalid scenario file
	exitBadKernel   = 132 // the kernel file is no kernel, or a truncated or corrupt one
)

// usageError is a command-line mistake; the message says what to fix.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode maps an error of run to the process exit code.
func exitCode(err error) int {
	var (
		ue  *usageError
		ce  *vmtest.ConfigError
		ve  *spec.ValidationError
		ie  *vmtest.InfraError
		f   *vmtest.Failure
		re  *regressionError
		col *vmtest.CollectError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitPass
	case errors.Is(err, vmtest.ErrNotSupported):
		return exitUnsupported
	case errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &ve):
		return exitUsage
	case errors.Is(err, vmtest.ErrBadKernel):
		return exitBadKernel
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ie):
		return exitInfra
	case errors.As(err, &f) && f.Kind == vmtest.FailPayloadNotStarted:
		return exitUsage // the test names a command the guest cannot run
	case errors.As(err, &f), errors.As(err, &re):
		return exitFail
	case errors.As(err, &col):
		return exitUsage // the run passed; a --collect directory is missing
	default:
		return exitInternal
	}
}

// exitReason names an exit code for the final line on stderr.
func exitReason(code int) string {
	switch code {
	case exitFail:
		return "FAIL"
	case exitUsage:
		return "usage error (not the kernel's fault)"
	case exitBadKernel:
		return "not a usable kernel image (no verdict on the kernel)"
	case exitUnsupported:
		return "kernel cannot be tested (skip)"
	case exitInfra:
		return "infrastructure error (not the kernel's fault)"
	case exitInterrupted:
		return "interrupted"
	case exitInternal:
		return "internal error"
	}
	return ""
}
