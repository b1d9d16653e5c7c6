package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/matrix"
)

// TestMatrixShardsE2E runs a small matrix in real guests as 3 shards side
// by side, merges their results with `scxvm report merge`, and checks that
// the merge has the cells of one unsharded run of the same matrix: the
// same cells in the same order with the same outcomes. Four cells: the
// built-in fifo (passes) and error (ejected) schedulers on two scenarios
// of 1 s, in one boot unsharded and in three boots as shards, under TCG.
func TestMatrixShardsE2E(t *testing.T) {
	guestTest(t)
	dir := t.TempDir()
	// The console logs of boots with a failed cell are kept (and named in
	// the result): here, in the test's own directory.
	consoles := filepath.Join(dir, "consoles")
	if err := os.Mkdir(consoles, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", consoles)
	// steady without its fairness check: cpu-time spread between workers
	// swings on TCG vcpus of a busy host (see vmtest/matrix's TestMatrix),
	// and this test compares outcomes of two runs.
	sc, err := vmtest.LookupScenario("steady")
	if err != nil {
		t.Fatal(err)
	}
	sc.Name = "steady-nofair"
	sc.Checks.Skip = append(sc.Checks.Skip, spec.CheckFairness)
	data, err := yaml.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	scFile := filepath.Join(dir, "steady-nofair.yaml")
	if err := os.WriteFile(scFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mx := filepath.Join(dir, "matrix.yaml")
	if err := os.WriteFile(mx, []byte("kernels: [debian]\nschedulers: [fifo, error]\nscenarios: [steady-nofair.yaml, pingpong]\ntopologies: [1n1l2c1t]\nduration: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--accel", "tcg", "--boot-timeout", "3m", mx}
	cli := func(args ...string) (string, int) {
		var out bytes.Buffer
		err := run(t.Context(), args, &out, &out)
		t.Logf("scxvm %s: exit %d (%v)\n%s", strings.Join(args, " "), exitCode(err), err, out.String())
		return out.String(), exitCode(err)
	}
	var list bytes.Buffer
	if err := run(context.Background(), append([]string{"matrix", "--list"}, common...), &list, &list); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(list.String(), "@1n1l2c1t\n"); n != 4 {
		t.Fatalf("the matrix has %d cells, want 4:\n%s", n, list.String())
	}

	codes := make([]int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			shard := strconv.Itoa(i+1) + "/3"
			_, codes[i] = cli(append([]string{"matrix", "--shard", shard, "--json", filepath.Join(dir, "shard-"+strconv.Itoa(i+1)+".json")}, common...)...)
		})
	}
	wg.Wait()
	_, wholeCode := cli(append([]string{"matrix", "--json", filepath.Join(dir, "whole.json")}, common...)...)
	_, mergeCode := cli("report", "merge", "--json", filepath.Join(dir, "merged.json"), "--junit", filepath.Join(dir, "merged.xml"),
		filepath.Join(dir, "shard-3.json"), filepath.Join(dir, "shard-1.json"), filepath.Join(dir, "shard-2.json"))

	whole, err := matrix.ReadReport(filepath.Join(dir, "whole.json"))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := matrix.ReadReport(filepath.Join(dir, "merged.json"))
	if err != nil {
		t.Fatal(err)
	}
	hex := regexp.MustCompile(`0x[0-9a-f]+`)
	line := func(c matrix.CellResult) string {
		return strings.Join([]string{strconv.Itoa(c.Index), c.Key(), string(c.Outcome), hex.ReplaceAllString(c.Reason, "0x?"), strings.Join(c.FailedChecks(), ",")}, " ")
	}
	var a, b []string
	for _, c := range whole.Cells {
		a = append(a, line(c))
	}
	for _, c := range merged.Cells {
		b = append(b, line(c))
	}
	if !slices.Equal(a, b) {
		t.Errorf("merged shards differ from the unsharded run:\nunsharded:\n  %s\nmerged:\n  %s", strings.Join(a, "\n  "), strings.Join(b, "\n  "))
	}
	if len(a) != 4 {
		t.Errorf("%d cells, want 4", len(a))
	}
	// The outcomes themselves: fifo passes, the kernel ejects error.
	for _, c := range whole.Cells {
		want := matrix.OutcomePass
		if c.Scheduler.Name == spec.SchedulerError {
			want = matrix.Outcome(vmtest.FailEjected)
		}
		if c.Outcome != want {
			t.Errorf("%s: %s (%s), want %s", c.Key(), c.Outcome, c.Reason, want)
		}
	}
	// Exit codes: the whole run and the merge fail (an ejection), like
	// the shards that hold an error cell; the others pass.
	if wholeCode != exitFail || mergeCode != exitFail {
		t.Errorf("exit codes: unsharded %d, merge %d, want %d", wholeCode, mergeCode, exitFail)
	}
	for i, code := range codes {
		r, err := matrix.ReadReport(filepath.Join(dir, "shard-"+strconv.Itoa(i+1)+".json"))
		if err != nil {
			t.Fatal(err)
		}
		want := exitPass
		if r.Count()[matrix.ClassFail] > 0 {
			want = exitFail
		}
		if code != want || len(r.Cells) == 0 {
			t.Errorf("shard %d/3: exit %d with %d cells, want %d", i+1, code, len(r.Cells), want)
		}
	}
}
