package matrix

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// scx_qmap's loader output on Debian's 7.3 kernel (captured by the
// matrix): the verifier rejects qmap_dequeue.
func TestVerifierReason(t *testing.T) {
	data, err := os.ReadFile("testdata/scx_qmap-7.3-verifier.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	reason, ex := verifierReason(lines)
	want := "verifier rejected qmap_dequeue: R7 invalid mem access 'scalar' at qmap_dequeue @ scx_qmap.bpf.c:336:16"
	if reason != want {
		t.Errorf("reason %q\nwant   %q", reason, want)
	}
	if len(ex) == 0 || ex[0] != "R7 invalid mem access 'scalar'" || !slices.ContainsFunc(ex, func(l string) bool { return strings.Contains(l, "Verification failed") }) {
		t.Errorf("excerpt does not start at the message:\n%s", strings.Join(ex, "\n"))
	}

	// The classic format: the message is the last line before the
	// statistics.
	classic := []string{
		"libbpf: prog 'simple_enqueue': BPF program load failed: Permission denied",
		"libbpf: prog 'simple_enqueue': -- BEGIN PROG LOAD LOG --",
		"0: R1=ctx() R10=fp0",
		"1: (79) r2 = *(u64 *)(r1 +0)",
		"R2 invalid mem access 'scalar'",
		"processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0",
		"-- END PROG LOAD LOG --",
	}
	if reason, _ := verifierReason(classic); reason != "verifier rejected simple_enqueue: R2 invalid mem access 'scalar'" {
		t.Errorf("classic: %q", reason)
	}
	if reason, _ := verifierReason([]string{"Failed to attach"}); reason != "" {
		t.Errorf("no verifier log: %q", reason)
	}
}

func TestExplainLoadFailure(t *testing.T) {
	data, err := os.ReadFile("testdata/scx_qmap-7.3-verifier.log")
	if err != nil {
		t.Fatal(err)
	}
	sr := &vmtest.ScenarioResult{
		Name: "steady", Scheduler: "scx_qmap",
		SchedEvents: []vmtest.SchedEvent{{Kind: "load_failed", Reason: "loader exited before attaching (exit status 1)", Log: string(data)}},
		Failure:     &vmtest.Failure{Kind: vmtest.FailLoad, Message: "scheduler scx_qmap did not load: loader exited before attaching (exit status 1)"},
	}
	cr := fromScenario(Cell{Kernel: "debian", Scheduler: spec.Scheduler{Name: "scx_qmap"}, Scenario: "steady"}, sr)
	if cr.Outcome != Outcome(vmtest.FailLoad) || !strings.HasPrefix(cr.Reason, "verifier rejected qmap_dequeue: R7 invalid mem access") {
		t.Errorf("got %s: %s", cr.Outcome, cr.Reason)
	}

	missing := &vmtest.ScenarioResult{
		SchedEvents: []vmtest.SchedEvent{{Kind: "load_failed", Log: "libbpf: struct_ops init_kern: struct sched_ext_ops member dump_bar not found in kernel, skipping it as it's set to zero\n" +
			"libbpf: struct_ops init_kern simple_ops: member dump_foo not found in kernel\nlibbpf: failed to load object\n"}},
		Failure: &vmtest.Failure{Kind: vmtest.FailLoad, Message: "did not load"},
	}
	cr = fromScenario(Cell{Scheduler: spec.Scheduler{Name: "scx_x"}}, missing)
	if !strings.HasPrefix(cr.Reason, "missing kernel feature: libbpf: struct_ops init_kern simple_ops: member dump_foo not found in kernel") {
		t.Errorf("missing feature: got %q", cr.Reason)
	}

	// As seen from scx_qmap -e 100 on 6.12.
	ej := &vmtest.ScenarioResult{Failure: &vmtest.Failure{Kind: vmtest.FailEjected, Message: `the kernel ejected scheduler "qmap" (scx_bpf_error)`, Detail: []string{
		`sched_ext: BPF scheduler "qmap" disabled (scx_bpf_error)`, "sched_ext: qmap: test triggering error", "   scx_bpf_error_bstr+0x61/0x80"}}}
	cr = fromScenario(Cell{Scheduler: spec.Scheduler{Name: "scx_qmap"}}, ej)
	if cr.Outcome != Outcome(vmtest.FailEjected) || cr.Reason != `the kernel ejected scheduler "qmap" (scx_bpf_error): qmap: test triggering error` || len(cr.Excerpt) != 3 {
		t.Errorf("ejection: got %+v", cr)
	}

	// As seen from scx_flatcg on 6.12: stalled while enabling, the job
	// timed out waiting for the attach.
	to := &vmtest.ScenarioResult{
		Failure:   &vmtest.Failure{Kind: vmtest.FailTimeout, Message: "the job timed out in the guest: wait for scheduler /sched/scx_flatcg to attach: context deadline exceeded"},
		KernelLog: []string{`sched_ext: BPF scheduler "flatcg" disabled (runnable task stall)`, "sched_ext: flatcg: init[82] failed to run for 30.472s"},
	}
	cr = fromScenario(Cell{Scheduler: spec.Scheduler{Name: "scx_flatcg"}}, to)
	if want := `wait for scheduler /sched/scx_flatcg to attach: context deadline exceeded; kernel: BPF scheduler "flatcg" disabled (runnable task stall): flatcg: init[82] failed to run for 30.472s`; !strings.HasSuffix(cr.Reason, want) {
		t.Errorf("timeout: got %q, want suffix %q", cr.Reason, want)
	}

	// A load failure's own log, not the previous scheduler's.
	sr.SchedEvents = append([]vmtest.SchedEvent{{Kind: "detached", Reason: "stopped", Log: "Pairs: [0, 1]\nEXIT: unregistered from user space\n"}}, sr.SchedEvents...)
	cr = fromScenario(Cell{Scheduler: spec.Scheduler{Name: "scx_qmap"}}, sr)
	if !strings.HasPrefix(cr.Reason, "verifier rejected qmap_dequeue") {
		t.Errorf("after a detach event: got %q", cr.Reason)
	}

	pass := fromScenario(Cell{}, &vmtest.ScenarioResult{Passed: true, Elapsed: time.Second})
	if pass.Outcome != OutcomePass || pass.Reason != "" || pass.Elapsed != time.Second {
		t.Errorf("pass: got %+v", pass)
	}
}

func TestInterleaveAndSort(t *testing.T) {
	c := func(s, sc string) Cell {
		return Cell{Kernel: "k", Scheduler: spec.Scheduler{Name: s}, Scenario: sc}
	}
	cells := []Cell{c("a", "steady"), c("a", "pingpong"), c("b", "steady"), c("b", "pingpong")}
	for i := range cells {
		cells[i].Index = i
	}
	got := interleave(cells)
	want := []Cell{c("a", "steady"), c("b", "steady"), c("a", "pingpong"), c("b", "pingpong")}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Fatalf("interleave: got %v, want %v", got, want)
		}
	}
	rep := &Report{}
	for _, x := range got {
		rep.Cells = append(rep.Cells, CellResult{Cell: x})
	}
	rep.sortByIndex()
	for i := range cells {
		if rep.Cells[i].Cell.String() != cells[i].String() {
			t.Fatalf("sortByIndex: got %v at %d, want %v", rep.Cells[i].Cell, i, cells[i])
		}
	}
	if c := rep.Find("k", "b", "steady"); c == nil || c.Cell.String() != "k/b/steady" {
		t.Errorf("Find(k, b, steady) = %v", c)
	}
	if c := rep.Find("k", "c", "steady"); c != nil {
		t.Errorf("Find of a missing cell = %v", c)
	}
}

func TestWriteTable(t *testing.T) {
	rep := &Report{Cells: []CellResult{
		{Cell: Cell{Kernel: "debian", Scheduler: spec.Scheduler{Name: "scx_simple"}, Scenario: "steady"}, SchedulerName: "scx_simple", Outcome: OutcomePass, Elapsed: 4 * time.Second},
		{Cell: Cell{Kernel: "debian", Scheduler: spec.Scheduler{Name: "scx_qmap"}, Scenario: "steady"}, SchedulerName: "scx_qmap", Outcome: Outcome(vmtest.FailLoad), Reason: "verifier rejected x: R7 invalid mem access 'scalar'", Excerpt: []string{"R7 invalid mem access 'scalar'"}},
	}, Boots: []Boot{{Start: "warm"}}}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{"KERNEL", "scx_simple  steady    warm   pass", "4.0s", "load_failed", "\ndebian/scx_qmap/steady: load_failed: verifier rejected x", "    R7 invalid mem access", "2 cells, 1 passed, 1 boots"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "TOPOLOGY") {
		t.Errorf("a topology column without topologies:\n%s", out)
	}
	// With topologies, a column of them.
	rep.Cells[0].Topology, rep.Cells[1].Topology = "1n1l2c1t", "2n1l1c1t"
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"KERNEL  TOPOLOGY  SCHEDULER", "debian  1n1l2c1t  scx_simple", "\ndebian/scx_qmap/steady@2n1l1c1t: load_failed"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}
