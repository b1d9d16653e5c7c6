package vmtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/spec"
)

// hostTool returns the path of a host executable the exec tests copy
// into the guest, skipping when it is missing.
func hostTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Prereq(t, "%s not in PATH", name)
	}
	return p
}

// A command that exits 3 fails the run, attributed to it, under the
// scheduler under test, whose checks still apply.
func TestE2EExecFailsWithItsExitStatus(t *testing.T) {
	cfg := e2e(t, "debian")
	hostTool(t, "sh")
	cfg.Exec = []string{"sh", "-c", "echo before the end; exit 3"}
	cfg.OutputPrefix = t.TempDir() + "/"
	res, err := Run(t.Context(), cfg)
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("Run: want a *Failure, got %v", Explain(res, err))
	}
	if f.Kind != FailPayload || !strings.Contains(f.Message, "payload sh exited 3 (expect_exit 0)") {
		t.Fatalf("failure = %s, want %s naming the payload and its status", f.Long(), FailPayload)
	}
	sr := res.Scenario(ExecScenarioName)
	if sr == nil || sr.Passed || len(sr.Payloads) != 1 {
		t.Fatalf("exec scenario result = %+v", sr)
	}
	p := sr.Payloads[0]
	if p.ExitCode == nil || *p.ExitCode != 3 || p.ExpectExit == nil || *p.ExpectExit != 0 {
		t.Errorf("payload = %+v, want exit 3 with expect_exit 0", p)
	}
	checks := map[string]bool{}
	for _, c := range sr.Failures {
		checks[c.Check] = true
	}
	if !checks[spec.CheckPayloadExit] || checks[spec.CheckSchedulerAttached] {
		t.Errorf("failed checks = %v, want %s and the scheduler attached", sr.Failures, spec.CheckPayloadExit)
	}
	if data, err := os.ReadFile(p.OutputFile); err != nil || string(data) != "before the end\n" {
		t.Errorf("output file %q = %q, %v", p.OutputFile, data, err)
	}
}

// The whole output of a command arrives, in order, however long it is
// (the agent's head and tail are 8 KiB each); a guest directory is
// copied out, and one that does not exist is an error naming it.
func TestE2EExecFullOutputAndCollect(t *testing.T) {
	cfg := e2e(t, "debian")
	seq := hostTool(t, "seq")
	hostTool(t, "sh")
	want, err := exec.Command(seq, "1", "40000").Output() // 229 KB
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Scheduler = spec.Scheduler{Name: spec.SchedulerNone}
	cfg.ExtraFiles = map[string]string{"/results/in.txt": in}
	cfg.Scenarios = []spec.Scenario{{
		Name: "writer",
		Payloads: []spec.Payload{{Name: "write", Path: "sh", ExpectExit: new(0),
			Args: []string{"-c", "echo made in the guest > /results/out.txt"}}},
	}}
	// sh is put in the guest by Exec below, at its host path.
	cfg.Scenarios[0].Payloads[0].Path = mustAbs(t, hostTool(t, "sh"))
	cfg.ExtraFiles[cfg.Scenarios[0].Payloads[0].Path] = cfg.Scenarios[0].Payloads[0].Path
	cfg.Exec = []string{"seq", "1", "40000"}
	cfg.OutputPrefix = filepath.Join(dir, "out") + "/"
	got, missing := filepath.Join(dir, "got"), filepath.Join(dir, "missing")
	cfg.Collect = []Collect{{Guest: "/results", Host: got}, {Guest: "/no/such/dir", Host: missing}}
	res, err := Run(t.Context(), cfg)
	var ce *CollectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "/no/such/dir") || !strings.Contains(err.Error(), "no such directory in the guest") {
		t.Fatalf("Run: want a *CollectError naming /no/such/dir, got %v", Explain(res, err))
	}
	if !res.Passed {
		t.Errorf("the run did not pass: %v", res.Failure)
	}
	p := res.Scenario(ExecScenarioName).Payloads[0]
	data, err := os.ReadFile(p.OutputFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) || p.OutputBytes != int64(len(want)) || p.OutputMissing != 0 {
		t.Errorf("output file has %d bytes (result says %d, %d missing), want %d identical to seq's", len(data), p.OutputBytes, p.OutputMissing, len(want))
	}
	if strings.Contains(p.Output, "elided") == (len(want) <= 16<<10) {
		t.Errorf("the result's Output should keep only the head and tail of %d bytes", len(want))
	}
	for name, content := range map[string]string{"in.txt": "from the host\n", "out.txt": "made in the guest\n"} {
		if b, err := os.ReadFile(filepath.Join(got, name)); err != nil || string(b) != content {
			t.Errorf("collected %s = %q, %v; want %q", name, b, err, content)
		}
	}
	if len(res.Collected) != 2 || res.Collected[0].Files != 2 || res.Collected[0].Error != "" {
		t.Errorf("collected = %+v", res.Collected)
	}
}

// A command that never exits is killed at the timeout, and the run fails
// as timed out with its output so far.
func TestE2EExecTimeout(t *testing.T) {
	cfg := e2e(t, "debian")
	hostTool(t, "sh")
	cfg.Scheduler = spec.Scheduler{Name: spec.SchedulerNone}
	cfg.Exec = []string{"sh", "-c", "echo started; while :; do :; done"}
	cfg.ExecTimeout = 3 * time.Second
	cfg.OutputPrefix = t.TempDir() + "/"
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailTimeout || !strings.Contains(f.Message, "payload sh timed out") || !strings.Contains(f.Message, "--timeout") {
		t.Fatalf("Run: want a %s failure naming the payload and --timeout, got %v", FailTimeout, Explain(res, err))
	}
	p := res.Scenario(ExecScenarioName).Payloads[0]
	if !p.TimedOut || p.Output != "started\n" {
		t.Errorf("payload = %+v, want timed out with its output so far", p)
	}
	if data, err := os.ReadFile(p.OutputFile); err != nil || string(data) != "started\n" {
		t.Errorf("output file = %q, %v", data, err)
	}
	t.Logf("run took %v with a 3s timeout", time.Since(start))
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
