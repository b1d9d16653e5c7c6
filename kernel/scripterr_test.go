package kernel

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
)

// TestScriptErrors: a command that fails in a script that sources lib.sh
// is explained once (the command, its status, what to do), also from a
// command substitution, and a die message is not repeated.
func TestScriptErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
		notWant    string
	}{
		{"plain", "ls /nonexistent-scxvm >/dev/null\necho never", []string{"`ls /nonexistent-scxvm > /dev/null` failed with exit status 2", "make deps"}, "never"},
		{"in a command substitution", "f() { false; }\nx=$(f)\necho never", []string{"`false` failed with exit status 1"}, "never"},
		{"pipefail", "{ false; } | cat\necho never", []string{"failed with exit status 1"}, "never"},
		{"die", "g() { die 'cannot go on (do this)'; }\ny=$(g)\necho never", []string{"error: cannot go on (do this)"}, "failed with exit status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := filepath.Join(t.TempDir(), "script")
			body := "#!/usr/bin/env bash\nset -euo pipefail\n. " + filepath.Join(mustAbs(t, "."), "lib.sh") + "\n" + tt.body + "\n"
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(script)
			cmd.Stderr, cmd.Stdout = &stderr, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("script: %v, want exit status 3\n%s", err, stderr.String())
			}
			out := stderr.String()
			for _, w := range tt.want {
				if strings.Count(out, w) != 1 {
					t.Errorf("output says %q %d times, want once:\n%s", w, strings.Count(out, w), out)
				}
			}
			if strings.Contains(out, tt.notWant) {
				t.Errorf("output has %q:\n%s", tt.notWant, out)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestBuildKernelSeed: build-kernel seeds only from $SCXVM_KERNEL_SEED;
// without it, it builds, whatever lies next to the repository.
func TestBuildKernelSeed(t *testing.T) {
	k := requireKernel(t, Build612)
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", "linux-source-6.12").Output(); len(out) == 0 {
		testenv.Prereq(t, "linux-source-6.12 not installed (make kernel-build installs it)")
	}
	seed := t.TempDir()
	dir := filepath.Join(seed, "6.12-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, k.Image, filepath.Join(dir, "bzImage"))
	copyFile(t, k.Config, filepath.Join(dir, "config"))
	copyFile(t, "fragment.config", filepath.Join(dir, "fragment.config"))
	sums := exec.Command("sha256sum", "bzImage", "config")
	sums.Dir = dir
	out, err := sums.Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) string {
		cmd := exec.Command("./build-kernel", "--dry-run")
		cmd.Env = append(os.Environ(), append([]string{"SCXVM_CACHE_DIR=" + t.TempDir(), "SCXVM_KERNEL_SEED="}, env...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("build-kernel --dry-run: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(); !strings.HasPrefix(out, "would build ") {
		t.Errorf("without SCXVM_KERNEL_SEED: %q, want a build", out)
	}
	if out := run("SCXVM_KERNEL_SEED=" + seed); !strings.HasPrefix(out, "would seed ") || !strings.Contains(out, dir) {
		t.Errorf("with SCXVM_KERNEL_SEED: %q, want a seed from %s", out, dir)
	}
}
