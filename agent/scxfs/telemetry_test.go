package scxfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSnapshot(t *testing.T) {
	// A 7.3-like tree: global files, root/ with ops, events and caps, a
	// sub-scheduler, and debugfs ext_server.
	sys := writeFiles(t, map[string]string{
		"state": "enabled\n", "switch_all": "1\n", "nr_rejected": "0\n",
		"hotplug_seq": "0\n", "enable_seq": "3\n",
		"root/ops":       "simple\n",
		"root/uevent":    "SCXOPS=simple\n",
		"root/events":    "SCX_EV_SELECT_CPU_FALLBACK 12\nSCX_EV_DISPATCH_KEEP_LAST 4\n",
		"root/caps":      "enq_immed: 0-1\nenq: 0-1\n",
		"root/sub/x/ops": "child\n",
	})
	dbg := writeFiles(t, map[string]string{
		"sched/ext_server/cpu0/runtime": "50000000\n",
		"sched/ext_server/cpu0/period":  "1000000000\n",
		"sched/features":                "GENTLE_FAIR_SLEEPERS\n",
	})
	got, err := Snapshot(sys, dbg)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]uint64{
		"enable_seq": 3, "switch_all": 1, "nr_rejected": 0,
		"root/events/SCX_EV_SELECT_CPU_FALLBACK": 12, "root/events/SCX_EV_DISPATCH_KEEP_LAST": 4,
		"debugfs/sched/ext_server/cpu0/runtime": 50000000,
	} {
		if v, ok := got.Counters[k]; !ok || v != want {
			t.Errorf("counter %s = %d (present %v), want %d", k, v, ok, want)
		}
	}
	for k, want := range map[string]string{
		"state": "enabled", "root/ops": "simple", "root/caps": "enq_immed: 0-1\nenq: 0-1", "root/sub/x/ops": "child",
	} {
		if v := got.Values[k]; v != want {
			t.Errorf("value %s = %q, want %q", k, v, want)
		}
	}
	for _, k := range []string{"root/uevent", "debugfs/sched/features"} {
		if _, ok := got.Values[k]; ok {
			t.Errorf("%s should not be read", k)
		}
	}

	// A 6.12-like tree with no scheduler: no root/, no debugfs.
	old := writeFiles(t, map[string]string{"state": "disabled\n", "enable_seq": "0\n"})
	got, err = Snapshot(old, filepath.Join(old, "no-debugfs"))
	if err != nil || got.Values["state"] != "disabled" || len(got.Counters) != 1 {
		t.Errorf("6.12 tree: %+v, %v", got, err)
	}
	if _, err := Snapshot(filepath.Join(old, "missing"), ""); !errors.Is(err, ErrNotSupported) {
		t.Errorf("missing tree: %v, want ErrNotSupported", err)
	}
}

func TestParseDumpTrace(t *testing.T) {
	trace := `# tracer: nop
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
          <idle>-0       [001] d.h2.    12.345678: sched_ext_dump: Debug dump triggered by scx_bpf_error (error)
          <idle>-0       [001] d.h2.    12.345679: sched_ext_dump: 
          <idle>-0       [001] d.h2.    12.345680: sched_ext_dump: CPU states
     kworker/1:0-20      [001] ..... 12.345681: sched_switch: not ours
          <idle>-0       [001] d.h2.    12.345682: sched_ext_dump:   R kworker/1:0[20] -5ms
`
	want := "Debug dump triggered by scx_bpf_error (error)\n\nCPU states\n  R kworker/1:0[20] -5ms"
	if got := ParseDumpTrace([]byte(trace)); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := ParseDumpTrace([]byte("# tracer: nop\n#\n")); got != "" {
		t.Errorf("empty trace: %q", got)
	}
}

func TestDumpTraceInstance(t *testing.T) {
	// A fake tracefs: the instance directory appears with its files when
	// made (the kernel creates them; here the test does).
	tr := t.TempDir()
	inst := filepath.Join(tr, "instances", dumpInstance)
	if err := os.MkdirAll(filepath.Join(inst, "events", "sched_ext", "sched_ext_dump"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := EnableDumpTrace(tr)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(inst, "events", "sched_ext", "sched_ext_dump", "enable")); string(b) != "1" {
		t.Errorf("event not enabled: %q", b)
	}
	os.WriteFile(filepath.Join(inst, "trace"), []byte(" x-1 [000] d..1. 1.0: sched_ext_dump: line one\n"), 0o644)
	if got, err := d.Take(); err != nil || got != "line one" {
		t.Errorf("Take = %q, %v", got, err)
	}
	if got, err := d.Take(); err != nil || got != "" {
		t.Errorf("second Take = %q, %v; want empty (cleared)", got, err)
	}
	// A kernel without the event: a clear error.
	if _, err := EnableDumpTrace(t.TempDir()); err == nil {
		t.Error("no error without the sched_ext_dump event")
	}
	var none *DumpTrace
	if got, err := none.Take(); got != "" || err != nil {
		t.Errorf("nil DumpTrace: %q, %v", got, err)
	}
}
