package matrix

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

// sampleReport has a cell of every class, with text XML cannot hold as is.
func sampleReport() *Report {
	cell := func(sched, scen string, o Outcome, reason string) CellResult {
		return CellResult{Cell: Cell{Kernel: "debian", Topology: "1n1l2c1t", Scheduler: spec.ParseScheduler(sched, nil), Scenario: scen}, SchedulerName: sched, Outcome: o, Reason: reason, Elapsed: 1500 * time.Millisecond}
	}
	fail := cell("error", "steady", Outcome(vmtest.FailEjected), `the kernel ejected scheduler "scxvm_error" (runtime error) <&> ]]> #1`)
	fail.Excerpt = []string{"sched_ext: BPF scheduler \"scxvm_error\" disabled (runtime error)", "\x1b[31mcolour\x1b[0m and \x00 NUL"}
	fail.Result = &vmtest.ScenarioResult{Failures: []check.Failure{{Check: spec.CheckSchedulerAttached, Worker: -1, Message: "ejected"}}, KernelLog: []string{"sched_ext: scxvm_error: non-existent DSQ 0x5c7ee770"}}
	r := &Report{Wall: 42 * time.Second, Shard: "2/3", Cells: []CellResult{
		cell("fifo", "steady", OutcomePass, ""),
		fail,
		cell("fifo", "pingpong", OutcomeInfra, "infrastructure: start qemu: exec: not found"),
		cell("fifo", "fanout", OutcomeNotSupported, "missing kernel feature: sched_ext"),
		cell("stall", "steady", OutcomeSkipped, "left out by the budget of 1m0s (estimated 5.0s)"),
		cell("stall", "pingpong", OutcomeNotRun, "context canceled"),
	}}
	for i := range r.Cells {
		r.Cells[i].Index = i
	}
	return r
}

func TestJUnitSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.Prereq(t, "xmllint not in $PATH (`make deps` installs libxml2-utils)")
	}
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.xml")
	if err := WriteFile(valid, sampleReport().WriteJUnit); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.xml")
	if err := WriteFile(empty, (&Report{}).WriteJUnit); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{valid, empty} {
		out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/junit.xsd", f).CombinedOutput()
		if err != nil {
			data, _ := os.ReadFile(f)
			t.Errorf("%s does not validate: %v\n%s\n%s", filepath.Base(f), err, out, data)
		}
	}
	// The schema rejects what readers reject: a testcase without a
	// classname, two results in one testcase.
	for name, doc := range map[string]string{
		"no classname":   `<testsuites name="x" tests="1" failures="0" errors="0"><testsuite name="x" tests="1" failures="0" errors="0"><testcase name="a" time="1"/></testsuite></testsuites>`,
		"two results":    `<testsuites name="x" tests="1" failures="1" errors="1"><testsuite name="x" tests="1" failures="1" errors="1"><testcase name="a" classname="b" time="1"><failure message="m"/><error message="m"/></testcase></testsuite></testsuites>`,
		"negative count": `<testsuites name="x" tests="-1" failures="0" errors="0"/>`,
	} {
		f := filepath.Join(dir, "bad.xml")
		if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/junit.xsd", f).CombinedOutput(); err == nil {
			t.Errorf("%s: the schema accepts it:\n%s", name, out)
		}
	}
}

func TestJUnitContent(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Tests != 6 || got.Failures != 1 || got.Errors != 2 || got.Skipped != 2 || got.Time != "42.000" || len(got.Suites) != 1 || got.Suites[0].Name != "scxvm matrix shard 2/3" {
		t.Errorf("counts: %+v", got)
	}
	cases := got.Suites[0].Cases
	if cases[0].Name != "steady@1n1l2c1t" || cases[0].Classname != "debian/fifo" || cases[0].Time != "1.500" || cases[0].Failure != nil || cases[0].SystemOut != nil {
		t.Errorf("pass: %+v", cases[0])
	}
	f := cases[1]
	if f.Classname != "debian/error" || f.Failure == nil || f.Failure.Type != "ejected" || f.Failure.Message != sampleReport().Cells[1].Reason {
		t.Errorf("failure: %+v", f)
	}
	if f.SystemOut == nil || !strings.Contains(f.SystemOut.Text, "non-existent DSQ") || !strings.Contains(f.SystemOut.Text, "check scheduler_attached") || !strings.Contains(f.SystemOut.Text, "\ufffd[31mcolour") {
		t.Errorf("failure's evidence: %+v", f.SystemOut)
	}
	if cases[2].Error == nil || cases[2].Error.Type != "infra_error" || cases[5].Error == nil {
		t.Errorf("errors: %+v %+v", cases[2], cases[5])
	}
	if cases[3].Skipped == nil || cases[4].Skipped == nil || !strings.Contains(cases[4].Skipped.Message, "budget") {
		t.Errorf("skips: %+v %+v", cases[3], cases[4])
	}
}

func TestKTAP(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteKTAP(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if lines[0] != "KTAP version 1" || lines[1] != "1..6" {
		t.Fatalf("header: %q", lines[:2])
	}
	var results []string
	for _, l := range lines[2:] {
		switch {
		case strings.HasPrefix(l, "# "):
		case strings.HasPrefix(l, "ok "), strings.HasPrefix(l, "not ok "):
			results = append(results, l)
		default:
			t.Errorf("line %q is neither a result nor a diagnostic", l)
		}
	}
	want := []string{
		"ok 1 debian/fifo/steady@1n1l2c1t",
		"not ok 2 debian/error/steady@1n1l2c1t",
		"not ok 3 debian/fifo/pingpong@1n1l2c1t",
		"ok 4 debian/fifo/fanout@1n1l2c1t # SKIP missing kernel feature: sched_ext",
		"ok 5 debian/stall/steady@1n1l2c1t # SKIP left out by the budget of 1m0s (estimated 5.0s)",
		"not ok 6 debian/stall/pingpong@1n1l2c1t",
	}
	if fmt.Sprint(results) != fmt.Sprint(want) {
		t.Errorf("results\n%s\nwant\n%s", strings.Join(results, "\n"), strings.Join(want, "\n"))
	}
	// The failure's diagnostics come before its result; a "#" in them
	// is harmless, in a name it is escaped.
	out := b.String()
	if !strings.Contains(out, "# debian/error/steady@1n1l2c1t: ejected: the kernel ejected scheduler \"scxvm_error\" (runtime error) <&> ]]> #1\n") {
		t.Errorf("no diagnostic with the reason:\n%s", out)
	}
	if got := ktapName("a # b\nc"); got != "a %23 b c" {
		t.Errorf("ktapName = %q", got)
	}
}

// BenchmarkMerge merges 1,000 cell results from 4 shard files, decoding
// included (what `scxvm report merge` does); the target is under 1 s.
func BenchmarkMerge(b *testing.B) {
	const cells, shards = 1000, 4
	var files [][]byte
	for s := range shards {
		r := &Report{Plan: "0123456789abcdef", PlanCells: cells, Shard: Shard{s + 1, shards}.String(), Boots: make([]Boot, 10)}
		for i := s; i < cells; i += shards {
			c := sampleReport().Cells[1]
			c.Index = i
			c.Scenario = fmt.Sprintf("scenario-%d", i)
			c.Boot = i % 10
			c.Result.KernelLog = make([]string, 50)
			for j := range c.Result.KernelLog {
				c.Result.KernelLog[j] = fmt.Sprintf("[%8.3f] sched_ext: a kernel log line of a typical length, number %d", float64(j), j)
			}
			r.Cells = append(r.Cells, c)
		}
		data, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
	}
	b.ResetTimer()
	for b.Loop() {
		var reps []*Report
		for _, data := range files {
			r := &Report{}
			if err := json.Unmarshal(data, r); err != nil {
				b.Fatal(err)
			}
			reps = append(reps, r)
		}
		m, err := Merge(false, reps...)
		if err != nil || len(m.Cells) != cells {
			b.Fatalf("merge: %v", err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*100, "%_of_1s_target")
}
