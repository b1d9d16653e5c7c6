package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
	"github.com/scxvm/scxvm/vmtest/compare"
)

// writeResult writes a result of the named scenarios, each with one
// cgroup "hogs" of two workers doing units work units in 2 s, and returns
// its path.
func writeResult(t *testing.T, name, topology string, units uint64, passed bool, scenarios ...string) string {
	t.Helper()
	res := &vmtest.Result{Kernel: vmtest.KernelInfo{Name: "debian"}, Scheduler: "scx_x", Topology: topology, Accel: "tcg", Passed: passed}
	for _, sc := range scenarios {
		sr := vmtest.ScenarioResult{Name: sc, Scheduler: "scx_x", Passed: passed, Duration: 2 * time.Second}
		for range 2 {
			sr.Workers = append(sr.Workers, check.Worker{Cgroup: "hogs", Kind: spec.CpuSpin, Report: spec.WorkerReport{Completed: true, WorkUnits: units}})
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := res.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompareCmd(t *testing.T) {
	old := writeResult(t, "old.json", "1n1l2c1t", 1000, true, "steady", "mixed")
	same := writeResult(t, "same.json", "1n1l2c1t", 1020, true, "steady", "mixed")
	slower := writeResult(t, "slower.json", "1n1l2c1t", 700, true, "steady", "mixed")
	faster := writeResult(t, "faster.json", "1n1l2c1t", 1500, true, "steady", "mixed")
	failing := writeResult(t, "failing.json", "1n1l2c1t", 1000, false, "steady", "mixed")
	fewer := writeResult(t, "fewer.json", "1n1l2c1t", 700, true, "steady")
	bigger := writeResult(t, "bigger.json", "1n1l4c1t", 1000, true, "steady", "mixed")
	notResult := filepath.Join(t.TempDir(), "matrix.json")
	if err := os.WriteFile(notResult, []byte(`{"cells":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"unchanged", []string{old, same}, exitPass, []string{"no change beyond the thresholds", "0 regressions", "note: both results ran each scenario once"}},
		{"unchanged, all rows", []string{"--all", old, same}, exitPass, []string{"steady    throughput  hogs    1.0k   1.0k   +2.0%   unchanged"}},
		{"regression", []string{old, slower}, exitFail, []string{"steady    throughput  hogs    1.0k  700  -30.0%  REGRESSION (threshold 10%)", "2 regressions", "2 regression(s) from OLD to NEW"}},
		{"threshold raised", []string{"--threshold", "throughput=40%", old, slower}, exitPass, []string{"0 regressions"}},
		{"flags after the files", []string{old, slower, "--threshold=throughput=40%"}, exitPass, []string{"0 regressions"}},
		{"improvement", []string{old, faster}, exitPass, []string{"improvement", "2 improvements"}},
		{"failed checks", []string{old, failing}, exitFail, []string{"steady    verdict  -       passed 1/1  passed 0/1          REGRESSION"}},
		{"scenario missing", []string{old, fewer}, exitUsage, []string{"results are not comparable: scenarios: mixed only in old (compare the common ones with Options.Common, scxvm compare --common)"}},
		{"common scenarios", []string{"--common", old, fewer}, exitFail, []string{"not compared: mixed (only in old)", "steady    throughput  hogs    1.0k  700  -30.0%  REGRESSION"}},
		{"other topology", []string{old, bigger}, exitUsage, []string{"topology: old 1n1l2c1t, new 1n1l4c1t"}},
		{"bad threshold", []string{"--threshold", "speed=5%", old, same}, exitUsage, []string{`--threshold: threshold "speed=5%": unknown metric "speed" (metrics: throughput, iterations, wake_p50`}},
		{"bad threshold value", []string{"--threshold", "wake_p99=,-5us", old, same}, exitUsage, []string{"absolute threshold -5000 is out of range"}},
		{"one file", []string{old}, exitUsage, []string{"takes two result files, got 1"}},
		{"missing file", []string{old, "/nonexistent.json"}, exitUsage, []string{"no such file"}},
		{"not a result", []string{old, notResult}, exitUsage, []string{"not an scxvm run result"}},
		{"help", []string{"-h"}, exitPass, []string{"usage: scxvm compare", "wake_p99  25% and 50us, lower is better"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"compare"}, tc.args...), &out, &out)
			if got := exitCode(err); got != tc.code {
				t.Errorf("exit %d (%v), want %d; output:\n%s", got, err, tc.code, out.String())
			}
			all := out.String()
			if err != nil {
				all += err.Error()
			}
			// Column widths aside.
			all = strings.Join(strings.Fields(all), " ")
			for _, want := range tc.out {
				if !strings.Contains(all, strings.Join(strings.Fields(want), " ")) {
					t.Errorf("output lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

func TestCompareCmdJSON(t *testing.T) {
	old := writeResult(t, "old.json", "1n1l2c1t", 1000, true, "steady")
	slower := writeResult(t, "slower.json", "1n1l2c1t", 700, true, "steady")
	out := filepath.Join(t.TempDir(), "cmp.json")
	var buf bytes.Buffer
	if err := run(context.Background(), []string{"compare", "--json", out, old, slower}, &buf, &buf); exitCode(err) != exitFail {
		t.Fatalf("got %v, want a regression", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var c compare.Comparison
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if !c.Regressed() || len(c.Scenarios) != 1 || c.Scenarios[0].Changes[0].Better != vmtest.HigherIsBetter {
		t.Errorf("comparison read back: %+v", c)
	}
}
