package ktext

import (
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		line string
		kind IncidentKind // 0: no detection
	}{
		{"[    3.511309] Kernel panic - not syncing: sysrq triggered crash", Panic},
		{"Kernel panic - not syncing: VFS: Unable to mount root fs", Panic},
		{"[    4.202410] Oops: 0000 [#1] PREEMPT SMP NOPTI", Oops},
		{"[    4.202410] Oops: general protection fault, probably for non-canonical address", Oops},
		{"[    4.201518] BUG: kernel NULL pointer dereference, address: 0000000000000008", BUG},
		{"[   52.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [spin:90]", BUG},
		{"[    1.000000] kernel BUG at mm/slub.c:123!", BUG},
		{"[    5.100400] WARNING: CPU: 1 PID: 70 at kernel/sched/ext.c:1234 scx_ops_enable+0x55/0x900", Warning},
		{"<4>[    5.100400] WARNING: possible circular locking dependency detected", Warning},
		{"[   47.310000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", RCUStall},
		{"[   47.310000] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", RCUStall},
		{"[   47.310000] rcu: INFO: rcu_sched self-detected stall on CPU", RCUStall},
		{"[  123.000000] INFO: task kworker/0:1:15 blocked for more than 120 seconds.", HungTask},
		{"[  123.000000] [     T15] INFO: task scxvm:1 blocked for more than 10 seconds.", HungTask},
		{"[    0.120000] BUGS: none of these lines is a report", 0},
		{"[    0.130000] Warning: this is not the kernel's WARNING format", 0},
		{"[    0.140000] rcu: Hierarchical RCU implementation.", 0},
		{"scxvm: the scheduler printed BUG: in the middle of a line", 0},
		{"", 0},
	}
	for _, tt := range tests {
		k, ok := Detect(tt.line)
		if ok != (tt.kind != 0) || k != tt.kind {
			t.Errorf("Detect(%q) = %v, %v; want %v", tt.line, k, ok, tt.kind)
		}
	}
}

func TestStripTimestamp(t *testing.T) {
	for in, want := range map[string]string{
		"[    3.511309] Kernel panic":   "Kernel panic",
		"<0>[ 3.5] Kernel panic":        "Kernel panic",
		"[12345.000001] [    T1] x\r\n": "x",
		"no timestamp":                  "no timestamp",
		"[not a timestamp] x":           "[not a timestamp] x",
	} {
		if got := StripTimestamp(in); got != want {
			t.Errorf("StripTimestamp(%q) = %q, want %q", in, got, want)
		}
	}
}
