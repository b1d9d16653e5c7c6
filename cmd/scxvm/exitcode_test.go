package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// TestExitCode maps one representative error of every class, bare and in
// the wrappings Run and the subcommands give it, to its exit code.
func TestExitCode(t *testing.T) {
	bad := &kernel.BadImageError{Path: "/bin/ls", Reason: "not a Linux kernel: an ELF executable without a kernel's sections"}
	unsupported := &kernel.UnsupportedError{Release: "6.12.117+deb12-amd64", Missing: []string{"CONFIG_SCHED_CLASS_EXT"}}
	tests := []struct {
		class string
		err   error
		want  int
	}{
		{"pass", nil, exitPass},
		{"pass", flag.ErrHelp, exitPass},

		{"fail", &vmtest.Failure{Kind: vmtest.FailEjected, Message: "the kernel ejected scheduler"}, exitFail},
		{"fail", fmt.Errorf("run: %w", &vmtest.Failure{Kind: vmtest.FailPanic}), exitFail},
		{"fail", &vmtest.Failure{Kind: vmtest.FailTimeout}, exitFail},
		{"fail", &vmtest.Failure{Kind: vmtest.FailPayload, Message: "payload runner exited 1 (expect_exit 0)"}, exitFail},
		{"usage", &vmtest.Failure{Kind: vmtest.FailPayloadNotStarted, Message: "payload x could not start"}, exitUsage},
		{"usage", &vmtest.CollectError{Collected: []vmtest.CollectResult{{Guest: "/nope", Host: "out", Error: "no such directory in the guest"}}}, exitUsage},

		{"unsupported", unsupported, exitUnsupported},
		{"unsupported", fmt.Errorf("kernel stock-6.12 cannot run scheduler fifo: %w", unsupported), exitUnsupported},
		{"unsupported", fmt.Errorf("guest kernel has no /sys/kernel/sched_ext: %w", vmtest.ErrNotSupported), exitUnsupported},

		{"usage", usagef("flag provided but not defined: -bogus"), exitUsage},
		{"usage", &vmtest.ConfigError{Field: "scheduler", Msg: `unknown scheduler "scx_nope"`}, exitUsage},
		{"usage", &vmtest.ConfigError{Field: "scenario", Msg: `unknown scenario "stedy"`}, exitUsage},
		{"usage", &spec.ValidationError{File: "bad.yaml", Line: 8, Path: "cgroups[0].workloads[0].work_type.kind"}, exitUsage},
		{"usage", fmt.Errorf("load scenarios: %w", &spec.ValidationError{File: "bad.yaml"}), exitUsage},

		{"bad kernel", bad, exitBadKernel},
		{"bad kernel", &vmtest.InfraError{Op: "inspect kernel", Err: bad}, exitBadKernel},
		{"bad kernel", &vmtest.InfraError{Op: "find kernel", Err: &kernel.BadImageError{Path: "x", Reason: "empty file"}}, exitBadKernel},
		{"bad kernel", fmt.Errorf("kernel check: %w", kernel.ErrBadImage), exitBadKernel},

		{"infra", &vmtest.InfraError{Op: "start qemu", Err: errors.New(`exec: "qemu-system-x86_64": executable file not found in $PATH`)}, exitInfra},
		{"infra", &vmtest.InfraError{Op: "find kernel", Err: fmt.Errorf("kernel %q not in cache: %w", "debian", fs.ErrNotExist)}, exitInfra},
		{"infra", fmt.Errorf("boot: %w", &vmtest.InfraError{Op: "build initramfs", Err: errors.New("disk full")}), exitInfra},

		{"interrupted", context.Canceled, exitInterrupted},
		{"interrupted", fmt.Errorf("wait for hello: %w", context.Canceled), exitInterrupted},
		{"interrupted", &vmtest.InfraError{Op: "build initramfs", Err: context.Canceled}, exitInterrupted},

		{"internal", errors.New("surprise"), exitInternal},
	}
	codeOf := map[string]int{}
	for _, tt := range tests {
		got := exitCode(tt.err)
		if got != tt.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tt.class, tt.err, got, tt.want)
		}
		if c, ok := codeOf[tt.class]; ok && c != got {
			t.Errorf("class %s exits with both %d and %d", tt.class, c, got)
		}
		codeOf[tt.class] = got
		if got != exitPass && exitReason(got) == "" {
			t.Errorf("exit %d has no reason line", got)
		}
	}
	// One code per class; only verdicts on the commit under test may use
	// what `git bisect run` reads as good (0), bad (1-127) or skip (125).
	classOf := map[int]string{}
	for class, code := range codeOf {
		if other, ok := classOf[code]; ok {
			t.Errorf("classes %s and %s share exit code %d", class, other, code)
		}
		classOf[code] = class
		verdict := class == "pass" || class == "fail" || class == "unsupported"
		if !verdict && (code < 128 || code > 255) {
			t.Errorf("class %s exits %d: git bisect run would read it as a verdict; want 128-255", class, code)
		}
	}
}

// TestRunExitCodes runs the CLI in-process on mistakes that are caught
// before anything boots and checks that real errors, not hand-made ones,
// reach their codes.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("bzImage.sh", "#!/bin/sh\necho not a kernel\n")
	empty := write("empty", "")
	badScenario := write("bad.yaml", "name: bad\nduration: 1s\ncgroups:\n  - name: a\n    workloads:\n      - num_workers: 2\n        work_type:\n          kind: CpuSpn\n")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"run", "--kernel", script}, exitBadKernel, script + `: not a Linux kernel: a script ("#!/bin/sh")`},
		{[]string{"run", "--kernel", empty}, exitBadKernel, empty + ": empty file"},
		{[]string{"run", "--kernel", self}, exitBadKernel, "without a kernel's sections"},
		{[]string{"run", "--kernel", self, "--scheduler", "none"}, exitBadKernel, "without a kernel's sections"},
		{[]string{"kernel", "check", script}, exitBadKernel, "a script"},
		{[]string{"kernel", "check", self}, exitBadKernel, "without a kernel's sections"},
		{[]string{"shell", "--kernel", empty}, exitBadKernel, "empty file"},
		{[]string{"run", badScenario}, exitUsage, "did you mean CpuSpin"},
		{[]string{"run", "--kernel", "debian", "--scheduler", "scx_nope"}, exitUsage, `unknown scheduler "scx_nope"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if slices.Contains(tc.args, "debian") {
				// Without built schedulers the name cannot be judged.
				k, err := kernel.Lookup(kernel.DefaultCacheDir(), kernel.Debian)
				if err == nil {
					_, err = kernel.Schedulers(kernel.DefaultCacheDir(), k)
				}
				if err != nil {
					testenv.Prereq(t, "%v", err)
				}
			}
			var out bytes.Buffer
			err := run(context.Background(), tc.args, &out, &out)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d (%v), want %d; output:\n%s", got, err, tc.code, out.String())
			}
			if !strings.Contains(err.Error(), tc.out) {
				t.Errorf("error %q does not contain %q", err, tc.out)
			}
		})
	}
}
