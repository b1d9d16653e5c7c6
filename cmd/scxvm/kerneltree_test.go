package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/kernel"
)

// unbuiltTree makes the top of a kernel source tree, configured but not
// built.
func unbuiltTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"Makefile", "Kconfig", ".config", "scripts/kconfig/merge_config.sh", "tools/sched_ext/Makefile"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestKernelTreeCLI: the exit codes and messages of the commands that take
// a kernel tree, when the tree is none or is not built. Nothing boots.
func TestKernelTreeCLI(t *testing.T) {
	notTree := t.TempDir()
	unbuilt := unbuiltTree(t)
	tests := []struct {
		name string
		dir  string // working directory, "" for the test's
		args []string
		code int
		msg  []string
	}{
		{"run --kernel not a tree", "", []string{"run", "--kernel", notTree}, exitBadKernel, []string{"not a kernel tree", "looked for Makefile, Kconfig, scripts/kconfig", "found none of them"}},
		{"run --kernel unbuilt tree", "", []string{"run", "--kernel", unbuilt}, exitBadKernel, []string{"not built", "scxvm kernel build"}},
		{"run inside an unbuilt tree", filepath.Join(unbuilt, "tools/sched_ext"), []string{"run"}, exitBadKernel, []string{"kernel tree " + unbuilt + ": not built"}},
		{"kernel check not a tree", "", []string{"kernel", "check", notTree}, exitBadKernel, []string{"not a kernel tree"}},
		{"kernel build not a tree", "", []string{"kernel", "build", notTree}, exitUsage, []string{"not a kernel source tree: looked for Makefile, Kconfig, scripts/kconfig"}},
		{"kernel build outside any tree", notTree, []string{"kernel", "build"}, exitUsage, []string{"in no kernel tree", "scxvm kernel build DIR"}},
		{"kernel build two trees", "", []string{"kernel", "build", notTree, unbuilt}, exitUsage, []string{"one kernel tree"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.dir != "" {
				t.Chdir(tt.dir)
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errb)
			if got := exitCode(err); got != tt.code {
				t.Errorf("exit %d (%v), want %d", got, err, tt.code)
			}
			for _, m := range tt.msg {
				if err == nil || !strings.Contains(err.Error(), m) {
					t.Errorf("error %v lacks %q", err, m)
				}
			}
		})
	}
}

func TestKernelBuildPrintFragment(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"kernel", "build", "-print-fragment"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), kernel.Fragment()) || !strings.Contains(out.String(), "CONFIG_SCHED_CLASS_EXT=y") {
		t.Errorf("-print-fragment printed %q", out.String())
	}
}

// TestKernelBuildFails: a tree that does not build exits 125, which `git
// bisect run` reads as "skip this commit", and names the step and the log.
func TestKernelBuildFails(t *testing.T) {
	if err := kernel.CheckBuildTools(); err != nil {
		t.Skipf("SKIPPING: %v", err)
	}
	dir := unbuiltTree(t)
	os.Remove(filepath.Join(dir, ".config"))
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte("defconfig:\n\t@echo 'arch/x86/Kconfig:1: syntax error'; exit 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"kernel", "build", dir}, &out, &errb)
	if got := exitCode(err); got != exitUnsupported {
		t.Errorf("exit %d (%v), want %d", got, err, exitUnsupported)
	}
	for _, m := range []string{"make defconfig", "syntax error", filepath.Join(dir, "scxvm-build.log")} {
		if err == nil || !strings.Contains(err.Error(), m) {
			t.Errorf("error %v lacks %q", err, m)
		}
	}
	if !strings.Contains(errb.String(), "[1/5] make defconfig") {
		t.Errorf("no progress on stderr: %q", errb.String())
	}
}
