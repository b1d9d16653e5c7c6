// Package testenv holds the project's rules for tests that cannot run
// here. A missing prerequisite (QEMU, cached kernels, built schedulers,
// Debian packages) is Prereq: under CI, which runs `make test` and whose
// Makefile targets provide all of them, such a test fails; elsewhere it
// skips, loudly, naming the fix. Missing hardware that no Makefile target
// can provide (KVM, /dev/vhost-vsock) is Hardware: the test skips
// everywhere, with a message that starts with SkipPrefix so that the
// test summary (internal/cmd/testsummary) can tell it from every other
// skip, which it does not allow under CI.
//
// Environment: CI (any non-empty value) marks a CI run.
package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TB is the part of testing.TB that Prereq and Hardware need.
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

// Device is hardware a test may need that the CI machines lack.
type Device string

// The devices Hardware accepts: the only reasons a test may skip in CI.
const (
	// KVM is a usable /dev/kvm (hardware virtualisation).
	KVM Device = "kvm"
	// VhostVsock is /dev/vhost-vsock (the host side of virtio-vsock).
	VhostVsock Device = "vhost-vsock"
)

// Devices lists every Device, in the order the test summary shows them.
var Devices = []Device{KVM, VhostVsock}

// SkipPrefix starts the message of every Hardware skip, followed by the
// device and ": ".
const SkipPrefix = "SKIPPING: needs hardware "

// Hardware skips a test that needs a device this machine lacks, under CI
// too. The message says what is missing and how to get it
// (`modprobe vhost_vsock`).
func Hardware(t TB, d Device, format string, args ...any) {
	t.Helper()
	t.Skipf("%s%s: %s", SkipPrefix, d, fmt.Sprintf(format, args...))
}

// HardwareSkip reports which device a skip message (a test's output,
// possibly with the file:line prefix of testing's log) names when
// Hardware wrote it.
func HardwareSkip(msg string) (Device, bool) {
	_, rest, ok := strings.Cut(msg, SkipPrefix)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, ":")
	if !ok {
		return "", false
	}
	for _, d := range Devices {
		if Device(name) == d {
			return d, true
		}
	}
	return "", false
}

// CheckoutDir returns a directory below base that belongs to the source
// tree the test runs from: tests of two checkouts (or worktrees) that
// share a cache must not overwrite each other's build outputs, such as a
// guest agent of another protocol version.
func CheckoutDir(base string) string {
	wd, err := os.Getwd()
	if err != nil {
		wd = "unknown"
	}
	sum := sha256.Sum256([]byte(wd))
	return filepath.Join(base, hex.EncodeToString(sum[:6]))
}
