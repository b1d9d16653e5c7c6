package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/report"
)

// TestE2ECheckFlag boots one guest that runs steady (1 s) twice under
// fifo with `--check min_iteration_rate=1e9`, a threshold no worker can
// reach: the copy that keeps the catalogue's checks fails on
// min_iteration_rate, the failure naming the threshold, while the copy
// whose own checks set the threshold is judged by its own (the scenario's
// layer wins over the scheduler's).
func TestE2ECheckFlag(t *testing.T) {
	guestTest(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	sc, err := vmtest.LookupScenario("steady")
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = time.Second
	own := sc
	own.Name = "steady-own"
	own.Checks.MinIterationRate = 1
	data, err := yaml.Marshal([]spec.Scenario{sc, own})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file, out := filepath.Join(dir, "steady.yaml"), filepath.Join(dir, "result.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = run(ctx, []string{"run", "--accel", "tcg", "--kernel", kernel.Debian, "--scheduler", "fifo",
		"--check", "min_iteration_rate=1e9", "--console", filepath.Join(dir, "console.log"), "--json", out, file}, &buf, &buf)
	t.Logf("scxvm run:\n%s", buf.String())
	if code := exitCode(err); code != exitFail {
		t.Fatalf("scxvm run: exit %d (%v), want %d", code, err, exitFail)
	}
	text := buf.String()
	for _, want := range []string{
		"thresholds of fifo: --check min_iteration_rate=1e9",
		"min_iteration_rate", "iterations/s below 1000000000.0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	res, err := report.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != 2 {
		t.Fatalf("%d scenario results, want 2", len(res.Scenarios))
	}
	flagged, kept := res.Scenarios[0], res.Scenarios[1]
	if flagged.Passed || flagged.Checks.MinIterationRate != 1e9 || len(flagged.Failures) == 0 {
		t.Errorf("steady: passed %v, min_iteration_rate %v, failures %v; want a failure at 1e9", flagged.Passed, flagged.Checks.MinIterationRate, flagged.Failures)
	}
	for _, f := range flagged.Failures {
		if f.Check != spec.CheckMinIterationRate {
			t.Errorf("steady failed %s too: %s", f.Check, f)
		}
	}
	if kept.Checks.MinIterationRate != 1 {
		t.Errorf("steady-own judged by min_iteration_rate %v, want its own 1", kept.Checks.MinIterationRate)
	}
	for _, f := range kept.Failures {
		if f.Check == spec.CheckMinIterationRate {
			t.Errorf("steady-own failed %s", f)
		}
	}
}
