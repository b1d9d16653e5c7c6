package testenv

import (
	"fmt"
	"strings"
	"testing"
)

type fakeTB struct{ fatal, skip string }

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Fatalf(s string, a ...any) { f.fatal = fmt.Sprintf(s, a...) }
func (f *fakeTB) Skipf(s string, a ...any)  { f.skip = fmt.Sprintf(s, a...) }

func TestPrereq(t *testing.T) {
	msg := "kernel \"debian\" not in cache (run `make kernel`)"
	var ci, dev fakeTB
	prereq(&ci, true, msg)
	prereq(&dev, false, msg)
	if ci.fatal == "" || ci.skip != "" || !strings.Contains(ci.fatal, "make kernel") {
		t.Errorf("under CI: fatal %q skip %q, want a failure naming the fix", ci.fatal, ci.skip)
	}
	if dev.skip == "" || dev.fatal != "" || !strings.Contains(dev.skip, "make kernel") {
		t.Errorf("outside CI: fatal %q skip %q, want a skip naming the fix", dev.fatal, dev.skip)
	}
}

func TestHardware(t *testing.T) {
	for _, ci := range []string{"", "1"} {
		t.Setenv("CI", ci)
		var tb fakeTB
		Hardware(&tb, VhostVsock, "/dev/vhost-vsock missing (try: modprobe vhost_vsock)")
		if tb.fatal != "" || tb.skip == "" {
			t.Fatalf("CI=%q: fatal %q skip %q, want a skip", ci, tb.fatal, tb.skip)
		}
		// What testing's log makes of it: the file:line prefix.
		d, ok := HardwareSkip("    host_test.go:12: " + tb.skip)
		if !ok || d != VhostVsock {
			t.Errorf("HardwareSkip(%q) = %q, %v; want %q", tb.skip, d, ok, VhostVsock)
		}
	}
	for _, msg := range []string{
		"SKIPPING: prerequisite missing: kernel not in cache",
		SkipPrefix + "gpu: none here",    // not a device CI may lack
		SkipPrefix + "kvm without colon", // malformed
		"skipping: needs root",
	} {
		if d, ok := HardwareSkip(msg); ok {
			t.Errorf("HardwareSkip(%q) = %q, true; want false", msg, d)
		}
	}
}
