package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/scenariofile"
	"github.com/scxvm/scxvm/vmtest"
)

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // substring of stdout+stderr
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "Exit codes"},
		{[]string{"--help"}, 0, "git bisect run"},
		{[]string{"run", "-h"}, 0, "-scheduler"},
		{[]string{"run", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"run", "--topology", "3x"}, exitUsage, "--topology"},
		{[]string{"run", "stedy"}, exitUsage, `did you mean "steady"`},
		{[]string{"run", "--compare", "eevdf"}, exitUsage, `compare: unknown value "eevdf"`},
		{[]string{"run", "--accel", "hvf"}, exitUsage, `accel: unknown value "hvf"`},
		{[]string{"run", "--file", "nohost"}, exitUsage, "want GUEST=HOST"},
		{[]string{"run", "testdata/missing.yaml"}, exitUsage, "missing.yaml"},
		{[]string{"run", "--kernel", "/nonexistent/bzImage"}, exitInfra, ""},
		{[]string{"scenarios"}, 0, "cpuset-resize"},
		{[]string{"scenarios", "pingpong"}, 0, "kind: PipeIo"},
		{[]string{"scenarios", "nope"}, exitUsage, "unknown scenario"},
		{[]string{"kernel"}, exitUsage, "usage: scxvm kernel check"},
		{[]string{"kernel", "check", "/nonexistent"}, exitInfra, ""},
		{[]string{"shell", "extra"}, exitUsage, "takes no arguments"},
		{[]string{"selftest", "-h"}, 0, "runner -t NAME"},
		{[]string{"selftest", "minimal"}, exitUsage, "-t FILTER or --test NAME"},
		{[]string{"selftest", "--scheduler", "scx_simple"}, exitUsage, "load their own schedulers"},
		{[]string{"selftest", "-t", "a", "--test", "b"}, exitUsage, "give one of them"},
		{[]string{"selftest", "--kernel", "/nonexistent/bzImage", "--build-only"}, exitInfra, ""},
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
}

func TestScenarioTemplateRoundTrip(t *testing.T) {
	// `scxvm scenarios NAME` output must load back as a scenario file.
	for _, name := range vmtest.ScenarioNames() {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"scenarios", name}, &out, &out); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".yaml")
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		ss, err := scenariofile.Load(path)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out.String())
		}
		if ss[0].Name != name || ss[0].Description == "" {
			t.Errorf("%s: round trip lost data: %+v", name, ss[0])
		}
	}
}

func TestRunUnsupportedKernelExit125(t *testing.T) {
	if _, err := kernel.Lookup(kernel.DefaultCacheDir(), kernel.Stock612); err != nil {
		msg := fmt.Sprintf("stock 6.12 kernel not in cache (run `make kernel-stock` or `scxvm kernel fetch stock-6.12`): %v", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIP: " + msg)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"run", "--kernel", kernel.Stock612}, &out, &out)
	if got := exitCode(err); got != exitUnsupported {
		t.Fatalf("exit %d (%v), want 125", got, err)
	}
	if !strings.Contains(err.Error(), "CONFIG_SCHED_CLASS_EXT") {
		t.Errorf("error %q does not name the missing option", err)
	}
	out.Reset()
	err = run(context.Background(), []string{"kernel", "check", kernel.Stock612}, &out, &out)
	if got := exitCode(err); got != exitUnsupported {
		t.Fatalf("kernel check: exit %d (%v), want 125", got, err)
	}
	if !strings.Contains(out.String(), "SCHED_CLASS_EXT") {
		t.Errorf("kernel check output lacks the missing option:\n%s", out.String())
	}
}
