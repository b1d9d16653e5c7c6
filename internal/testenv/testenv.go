// Package testenv holds the project's rule for tests whose prerequisites
// (QEMU, cached kernels, built schedulers, Debian packages) are missing:
// under CI, which runs `make test` and whose Makefile targets provide all
// of them, such a test fails; elsewhere it skips, loudly, naming the fix.
package testenv

import (
	"fmt"
	"os"
)

// TB is the part of testing.TB that Prereq needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// InCI reports whether the tests run under CI ($CI set).
func InCI() bool { return os.Getenv("CI") != "" }

// Prereq ends a test whose prerequisite is missing: it fails under CI and
// skips elsewhere. The message should say how to provide the
// prerequisite (the make target to run).
func Prereq(t TB, format string, args ...any) {
	t.Helper()
	prereq(t, InCI(), fmt.Sprintf(format, args...))
}

func prereq(t TB, ci bool, msg string) {
	t.Helper()
	if ci {
		t.Fatalf("prerequisite missing in CI (the Makefile's targets must provide it): %s", msg)
		return
	}
	t.Skipf("SKIPPING: prerequisite missing: %s", msg)
}
