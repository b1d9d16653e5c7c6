package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
)

// extModule is a module of its own that requires github.com/scxvm/scxvm
// (through a replace directive pointing at this checkout) and boots a
// guest with RunT, as a scheduler project's tests would.
const extModule = "testdata/extmod"

// goTestExt runs `go test` in the external module with extra environment
// variables and returns its output.
func goTestExt(t *testing.T, ctx context.Context, env ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "./...")
	cmd.Dir = extModule
	// The module's test builds its agent into $TMPDIR: a directory of
	// this test's, removed with it.
	cmd.Env = append(append(os.Environ(), "TMPDIR="+t.TempDir()), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestExternalModule runs the external module's test: it must pass, and
// it must fail, naming the build, when the agent does not compile (an
// overlay replaces cmd/scxvm-agent/main.go; BuildAgent's go build
// inherits GOFLAGS).
func TestExternalModule(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds and boots from another module; drop -short to run it")
	}
	if _, err := exec.LookPath("go"); err != nil {
		testenv.Prereq(t, "the go command: %v", err)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testenv.Prereq(t, "qemu-system-x86_64 not in PATH (run `make deps`)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	out, err := goTestExt(t, ctx)
	t.Logf("go test in %s:\n%s", extModule, out)
	if err != nil {
		hint := ""
		if strings.Contains(out, "go.sum") || strings.Contains(out, "go mod tidy") {
			hint = " (after a change of scxvm's dependencies: cd vmtest/testdata/extmod && go mod tidy)"
		}
		t.Fatalf("go test of the external module failed: %v%s", err, hint)
	}
	if !strings.Contains(out, "--- PASS: TestSteady") {
		t.Fatalf("the external module's TestSteady did not pass")
	}

	broken := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(broken, []byte("package main\n\nfunc main() { notDefined() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main, err := filepath.Abs("../cmd/scxvm-agent/main.go")
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {main: broken}})
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(t.TempDir(), "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = goTestExt(t, ctx, "GOFLAGS=-overlay="+ov)
	t.Logf("go test with a broken agent:\n%s", out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("go test with an agent that does not compile: %v, want a failure", err)
	}
	for _, want := range []string{"build agent", AgentPackage, "notDefined"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failure does not say %q", want)
		}
	}
	if strings.Contains(out, "--- PASS") {
		t.Error("a test passed although the agent could not be built")
	}
}

// BenchmarkBuildAgentWarm measures BuildAgent in the external module when
// nothing changed (what every `go test` run of a user's package pays;
// target: under 1 s). The baseline is `go list` of the agent package in
// the same module: the go command's floor for loading the package graph.
func BenchmarkBuildAgentWarm(b *testing.B) {
	b.Chdir(extModule)
	ctx := context.Background()
	dir := b.TempDir()
	if _, err := BuildAgent(ctx, dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.Command("go", "list", AgentPackage).CombinedOutput(); err != nil {
		b.Fatalf("go list: %v\n%s", err, out)
	}
	floor := time.Since(start)
	before, err := os.ReadFile(filepath.Join(dir, "scxvm-agent"))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := BuildAgent(ctx, dir); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(floor.Milliseconds()), "golist-ms")
	b.ReportMetric(float64(per)/float64(floor), "x-golist")
	after, err := os.ReadFile(filepath.Join(dir, "scxvm-agent"))
	if err != nil || !bytes.Equal(before, after) {
		b.Errorf("the agent changed although nothing did (%v)", err)
	}
	b.Logf("BuildAgent with nothing changed: %v per call (go list: %v); target < 1 s met: %v", per, floor, per < time.Second)
}
