package vmtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest/check"
)

// recordingTB records a Fatal instead of ending the test.
type recordingTB struct {
	testing.TB
	msg string
}

func (r *recordingTB) Helper()                   {}
func (r *recordingTB) Logf(string, ...any)       {}
func (r *recordingTB) Fatal(args ...any)         { r.msg = fmt.Sprint(args...); panic(r) }
func (r *recordingTB) Fatalf(f string, a ...any) { r.Fatal(fmt.Sprintf(f, a...)) }

func TestRunTFailsWithReason(t *testing.T) {
	tb := &recordingTB{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != tb {
				panic(p)
			}
		}()
		RunT(tb, Config{Compare: "eevdf"})
	}()
	if !strings.Contains(tb.msg, `compare: unknown value "eevdf"`) {
		t.Errorf("RunT failed with %q", tb.msg)
	}
}

func TestExplain(t *testing.T) {
	f := &Failure{Kind: FailPanic, Message: "Kernel panic - not syncing: sysrq triggered crash", Detail: []string{"Call Trace:"}}
	res := &Result{
		Failure:        f,
		ConsoleExcerpt: []string{"[ 1.0] sysrq: Trigger a crash"},
		ConsoleLog:     "/tmp/console.log",
		Scenarios:      []ScenarioResult{{Name: "steady", Scheduler: "fifo", Failures: []check.Failure{{Check: spec.CheckMaxGap, Cgroup: "a", Worker: 1, Message: "stalled"}}}},
	}
	got := Explain(res, fmt.Errorf("run: %w", f))
	for _, want := range []string{"kernel_panic: Kernel panic", "Call Trace:", "steady/fifo: max_gap [a worker 1]: stalled", "| [ 1.0] sysrq: Trigger a crash", "console log: /tmp/console.log"} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain lacks %q:\n%s", want, got)
		}
	}
	if got := Explain(nil, errors.New("boom")); got != "boom" {
		t.Errorf("Explain(nil) = %q", got)
	}
}
