package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/matrix"
)

func TestMatrixUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kernels: [debian]\nschedulers:\n  - name: fifo\n    args: -v\n    atach_timeout: 5s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shard := filepath.Join(dir, "shard.json")
	if err := (&matrix.Report{Plan: "p", PlanCells: 2, Shard: "1/2", Cells: []matrix.CellResult{{Outcome: matrix.OutcomePass}}}).WriteJSON(shard); err != nil {
		t.Fatal(err)
	}
	runJSON := filepath.Join(dir, "run.json")
	if err := (&vmtest.Result{Passed: true}).WriteJSON(runJSON); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"matrix", "-h"}, 0, "--shard I/N"},
		{[]string{"matrix", "--jobs", "0"}, exitUsage, "--jobs 0"},
		{[]string{"matrix", "--shard", "4/3"}, exitUsage, `--shard: shard: "4/3"`},
		{[]string{"matrix", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"matrix", "--topology", "2n2l"}, exitUsage, `write it as "2n2l2c1t"`},
		{[]string{"matrix", "--scenario", "stedy"}, exitUsage, `did you mean "steady"`},
		{[]string{"matrix", bad}, exitUsage, bad + `:5: schedulers[0]: unknown field "atach_timeout"`},
		{[]string{"matrix", "a.yaml", "b.yaml"}, exitUsage, "one matrix file"},
		{[]string{"matrix", "--estimates", filepath.Join(dir, "none.json"), "--list"}, exitUsage, "--estimates"},
		{[]string{"matrix", "--list", "--scheduler", "fifo", "--scheduler", "scx_qmap -e 100", "--scenario", "steady,pingpong", "--topology", "1n1l2c1t"}, 0, "debian/scx_qmap -e 100/pingpong@1n1l2c1t\n\n4 of the plan's 4 cells"},
		{[]string{"matrix", "--list", "--shard", "2/2", "--scenario", "steady,pingpong", "--topology", "1n1l2c1t"}, 0, "1 of the plan's 2 cells"},
		{[]string{"report", "merge"}, exitUsage, "takes the shards' result files"},
		{[]string{"report", "merge", runJSON}, exitUsage, "not a result of `scxvm matrix --json`"},
		{[]string{"report", "merge", shard}, exitUsage, "shards missing: 2/2"},
		{[]string{"report", "merge", "--partial", shard, "--ktap", filepath.Join(dir, "m.ktap")}, 0, "1 cells, 1 passed"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, &out, &out)
			if got := exitCode(err); got != tc.code {
				t.Errorf("exit %d (%v), want %d; output:\n%s", got, err, tc.code, out.String())
			}
			all := out.String()
			if err != nil {
				all += err.Error()
			}
			if !strings.Contains(all, tc.out) {
				t.Errorf("output %q does not contain %q", all, tc.out)
			}
		})
	}
	if data, err := os.ReadFile(filepath.Join(dir, "m.ktap")); err != nil || !strings.HasPrefix(string(data), "KTAP version 1\n1..1\nok 1") {
		t.Errorf("merge --ktap wrote %q (%v)", data, err)
	}
}

func TestMatrixVerdict(t *testing.T) {
	cells := func(os ...matrix.Outcome) *matrix.Report {
		r := &matrix.Report{}
		for i, o := range os {
			r.Cells = append(r.Cells, matrix.CellResult{Cell: matrix.Cell{Kernel: "k", Scheduler: spec.Scheduler{Name: "s"}, Scenario: "steady", Index: i}, Outcome: o, Reason: "why"})
		}
		return r
	}
	ejected := matrix.Outcome(vmtest.FailEjected)
	for _, tc := range []struct {
		name string
		rep  *matrix.Report
		code int
	}{
		{"all pass", cells(matrix.OutcomePass, matrix.OutcomePass), exitPass},
		{"pass and budget skips", cells(matrix.OutcomePass, matrix.OutcomeSkipped), exitPass},
		{"pass and no sched_ext", cells(matrix.OutcomePass, matrix.OutcomeNotSupported), exitPass},
		{"a failure", cells(matrix.OutcomePass, ejected, matrix.OutcomeInfra), exitFail},
		{"infra", cells(matrix.OutcomePass, matrix.OutcomeInfra), exitInfra},
		{"invalid cell", cells(matrix.OutcomeConfig), exitUsage},
		{"no sched_ext anywhere", cells(matrix.OutcomeNotSupported, matrix.OutcomeNotSupported), exitUnsupported},
		{"interrupted", cells(matrix.OutcomePass, ejected, matrix.OutcomeNotRun), exitInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verdict(tc.rep)
			if got := exitCode(err); got != tc.code {
				t.Errorf("exit %d (%v), want %d", got, err, tc.code)
			}
		})
	}
}
