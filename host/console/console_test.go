package console

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/ktext"
)

// feed writes a file to m in small irregular chunks, as a serial line would.
func feed(t *testing.T, m *Monitor, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; len(b) > 0; i++ {
		n := min(len(b), 1+(i*7)%13)
		if _, err := m.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
}

func TestMonitorTestdata(t *testing.T) {
	type want struct {
		kind   ktext.IncidentKind
		line   string // substring of the matched line
		before int
		after  string // substring of the last After line
	}
	tests := []struct {
		file string
		want []want
	}{
		{"oops-panic.log", []want{
			{ktext.Panic, "sysrq triggered crash", 2, "end Kernel panic"},
		}},
		{"null-deref.log", []want{
			{ktext.BUG, "NULL pointer dereference", 1, "end trace"},
			{ktext.Oops, "Oops: 0000 [#1]", 5, "end trace"},
			{ktext.Panic, "Fatal exception", 10, "end Kernel panic"},
		}},
		{"warning.log", []want{{ktext.Warning, "kernel/sched/ext.c:1234", 2, "end trace"}}},
		{"rcu-stall.log", []want{{ktext.RCUStall, "rcu_preempt detected stalls", 1, "kthread timer wakeup"}}},
		{"hung-task.log", []want{{ktext.HungTask, "kworker/0:1:15", 0, "task:kworker/0:1"}}},
		{"soft-lockup.log", []want{{ktext.BUG, "soft lockup", 0, "100% system"}}},
		{"clean.log", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var log strings.Builder
			m := NewMonitor(Options{Log: &log, AfterWait: time.Hour})
			feed(t, m, tt.file)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join("testdata", tt.file))
			if log.String() != string(raw) {
				t.Errorf("log differs from input")
			}
			var got []Event
			for ev := range m.Events() {
				got = append(got, ev)
			}
			if !slices.EqualFunc(got, m.Incidents(), func(a, b Event) bool { return a.LineNo == b.LineNo }) {
				t.Errorf("Events() and Incidents() differ: %v vs %v", got, m.Incidents())
			}
			slices.SortFunc(got, func(a, b Event) int { return a.LineNo - b.LineNo })
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %v, want %d", len(got), got, len(tt.want))
			}
			lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
			for i, w := range tt.want {
				ev := got[i]
				if ev.Kind != w.kind || !strings.Contains(ev.Line, w.line) {
					t.Errorf("event %d = %v %q, want %v containing %q", i, ev.Kind, ev.Line, w.kind, w.line)
				}
				if lines[ev.LineNo-1] != ev.Line {
					t.Errorf("event %d: LineNo %d is %q, not %q", i, ev.LineNo, lines[ev.LineNo-1], ev.Line)
				}
				if len(ev.Before) != w.before {
					t.Errorf("event %d: %d lines before, want %d: %q", i, len(ev.Before), w.before, ev.Before)
				}
				if len(ev.After) == 0 || !strings.Contains(ev.After[len(ev.After)-1], w.after) {
					t.Errorf("event %d: After = %q, want it to end with %q", i, ev.After, w.after)
				}
				if !strings.Contains(ev.Excerpt(), "> "+ev.Line+"\n") {
					t.Errorf("event %d: excerpt does not mark the line:\n%s", i, ev.Excerpt())
				}
			}
		})
	}
}

func TestMonitorAfterWait(t *testing.T) {
	m := NewMonitor(Options{AfterWait: 20 * time.Millisecond})
	defer m.Close()
	m.Write([]byte("[ 1.0] BUG: unable to handle page fault\n[ 1.1] #PF: supervisor\n"))
	select {
	case ev := <-m.Events():
		if ev.Kind != ktext.BUG || len(ev.After) != 1 {
			t.Errorf("got %v with After %q", ev, ev.After)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event not emitted after AfterWait")
	}
}

func TestMonitorTail(t *testing.T) {
	m := NewMonitor(Options{TailLines: 3})
	m.Write([]byte("a\nb\nc\r\nd\ne"))
	if got, want := m.Tail(10), []string{"b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("Tail(10) = %q, want %q", got, want)
	}
	if got, want := m.Tail(2), []string{"d", "e"}; !slices.Equal(got, want) {
		t.Errorf("Tail(2) = %q, want %q", got, want)
	}
	m.Close()
	if got, want := m.Tail(3), []string{"c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("after Close, Tail(3) = %q, want %q", got, want)
	}
	if m.Lines() != 5 {
		t.Errorf("Lines() = %d, want 5", m.Lines())
	}
	m.Close() // idempotent
}

func TestMonitorLongLine(t *testing.T) {
	m := NewMonitor(Options{})
	m.Write([]byte(strings.Repeat("x", 3*maxLine+5)))
	m.Close()
	if m.Lines() != 4 {
		t.Errorf("Lines() = %d, want 4", m.Lines())
	}
}

func FuzzMonitor(f *testing.F) {
	for _, name := range []string{"oops-panic.log", "null-deref.log", "clean.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := NewMonitor(Options{TailLines: 4, AfterWait: time.Hour})
		m.Write(b)
		m.Close()
		for range m.Events() {
		}
		if n := len(m.Tail(100)); n > 5 {
			t.Errorf("Tail returned %d lines from a 4-line ring", n)
		}
	})
}
