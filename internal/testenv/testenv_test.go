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
