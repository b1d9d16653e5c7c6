package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
)

// `scxvm exec` of a command that fails exits 1, attributes the failure
// to the command, and gives the command's output on stdout alone
// (scxvm's own lines go to stderr).
func TestExecCommandFails(t *testing.T) {
	guestTest(t)
	if _, err := exec.LookPath("sh"); err != nil {
		testenv.Prereq(t, "no sh on the host")
	}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"exec", "--accel", "tcg", "--kernel", kernel.Debian, "--scheduler", "none",
		"--boot-timeout", "3m", "--console", filepath.Join(t.TempDir(), "console.log"), "--", "sh", "-c", "echo to stdout; echo to stderr >&2; exit 3"}, &stdout, &stderr)
	if code := exitCode(err); code != exitFail {
		t.Fatalf("exit %d (%v), want %d\nstderr:\n%s", code, err, exitFail, stderr.String())
	}
	if got := stdout.String(); got != "to stdout\nto stderr\n" {
		t.Errorf("stdout = %q, want the command's output alone", got)
	}
	if !strings.Contains(err.Error(), "payload sh exited 3 (expect_exit 0)") || !strings.Contains(stderr.String(), "payload sh exited 3") {
		t.Errorf("error %q / stderr do not attribute the failure to the command:\n%s", err, stderr.String())
	}
}
