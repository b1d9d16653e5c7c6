package ktext

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedExt(t *testing.T) {
	tests := []struct {
		text string
		want SchedLine
		ok   bool
	}{
		{`sched_ext: BPF scheduler "simple" enabled`, SchedLine{Kind: Enabled, Scheduler: "simple"}, true},
		{`sched_ext: BPF scheduler "simple" enabled (partial)`, SchedLine{Kind: Enabled, Scheduler: "simple", Partial: true}, true},
		{`sched_ext: BPF scheduler "scxvm_stall" disabled (runnable task stall)`,
			SchedLine{Kind: Disabled, Scheduler: "scxvm_stall", Reason: ReasonStall}, true},
		{`sched_ext: BPF scheduler "simple" disabled (unregistered from user space)`,
			SchedLine{Kind: Disabled, Scheduler: "simple", Reason: ReasonUnregUser}, true},
		{`sched_ext: scxvm_stall: kworker/0:1[23] failed to run for 3.012s`,
			SchedLine{Kind: Stall, Scheduler: "scxvm_stall", Task: "kworker/0:1", PID: 23,
				Stalled: 3012 * time.Millisecond, Message: "kworker/0:1[23] failed to run for 3.012s"}, true},
		{`sched_ext: qmap: [weird] task[7][42] failed to run for 30.000s`,
			SchedLine{Kind: Stall, Scheduler: "qmap", Task: "[weird] task[7]", PID: 42,
				Stalled: 30 * time.Second, Message: "[weird] task[7][42] failed to run for 30.000s"}, true},
		{`sched_ext: qmap: qmap_enqueue: dsq 0x1234 doesn't exist`,
			SchedLine{Kind: Message, Scheduler: "qmap", Message: "qmap_enqueue: dsq 0x1234 doesn't exist"}, true},
		{`sched_ext: qmap: x[y] failed to run for soon`,
			SchedLine{Kind: Message, Scheduler: "qmap", Message: "x[y] failed to run for soon"}, true},
		{`sched_ext: BPF scheduler "x" exploded`, SchedLine{}, false},
		{`sched_ext: BPF scheduler "x`, SchedLine{}, false},
		{`sched_ext: some words here`, SchedLine{}, false},
		{`random: crng init done`, SchedLine{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseSchedExt(tt.text)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseSchedExt(%q) = %+v, %v; want %+v, %v", tt.text, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAbnormal(t *testing.T) {
	for reason, want := range map[string]bool{
		ReasonUnregUser: false, ReasonStall: true, ReasonBPFError: true, ReasonSysRq: true, ReasonRuntimeErr: true,
	} {
		if got := (SchedLine{Kind: Disabled, Reason: reason}).Abnormal(); got != want {
			t.Errorf("Abnormal(%q) = %v, want %v", reason, got, want)
		}
	}
}

// TestTestdataSchedLines checks that every sample yields the expected
// sequence of sched_ext line kinds.

func TestEjection(t *testing.T) {
	log := []string{
		`sched_ext: BPF scheduler "scxvm_fifo" disabled (unregistered from user space)`,
		"random line",
		`[   12.5] sched_ext: BPF scheduler "scxvm_stall" disabled (runnable task stall)`,
		"sched_ext: scxvm_stall: init[107] failed to run for 2.908s",
		"   scx_vexit+0x6d/0xa0",
	}
	reason, lines := Ejection(log)
	if reason != ReasonStall || len(lines) != 2 || !strings.Contains(lines[1], "failed to run for 2.908s") {
		t.Errorf("got %q %q", reason, lines)
	}
	if r, _ := Ejection(log[:2]); r != "" {
		t.Errorf("a planned unregistration was taken for an ejection: %q", r)
	}
}
