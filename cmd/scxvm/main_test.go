package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/scenariofile"
	"github.com/scxvm/scxvm/spec"
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
		{[]string{"run", "--compare", "fifo"}, exitUsage, "comparing scheduler fifo with itself"},
		{[]string{"run", "--compare-arg", "-v"}, exitUsage, "compare: compare arguments given without a scheduler"},
		{[]string{"run", "--repeat", "-1"}, exitUsage, "repeat: -1 is out of range (0 to 100)"},
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
		{[]string{"shell", "-h"}, 0, "Ctrl-A x quits"},
		{[]string{"shell", "-h"}, 0, "-share"},
		{[]string{"run", "--share", "=/mnt"}, exitUsage, "--share"},
		{[]string{"run", "--share", "testdata=mnt"}, exitUsage, `guest directory "mnt" is not absolute`},
		{[]string{"run", "--share", "testdata=/proc/x"}, exitUsage, "inside the guest's /proc"},
		{[]string{"run", "--share", "/nonexistent-share-dir"}, exitUsage, "/nonexistent-share-dir: no such file or directory"},
		{[]string{"shell", "--share", "/nonexistent-share-dir=/mnt:rw"}, exitUsage, "/nonexistent-share-dir: no such file or directory"},
		{[]string{"shell", "--share", "main.go"}, exitUsage, "is not a directory"},
		{[]string{"run", "--file", "/a=x", "--file", "/a=y"}, exitUsage, "guest file /a given twice"},
		{[]string{"run", "-h"}, 0, "expect_exit: 0"},
		{[]string{"run", "steady", "--"}, exitUsage, "no command after --"},
		{[]string{"scenarios", "steady"}, 0, "# timeout:"},
		{[]string{"exec", "-h"}, 0, "the run fails as timed out"},
		{[]string{"exec", "--accel", "tcg"}, exitUsage, "no command given"},
		{[]string{"exec", "--collect", "/results", "--", "/bin/true"}, exitUsage, "want GUEST_DIR=HOST_DIR"},
		{[]string{"exec", "--collect", "results=out", "--", "/bin/true"}, exitUsage, "must be an absolute path"},
		{[]string{"exec", "--", "no-such-command-on-this-host"}, exitUsage, `command "no-such-command-on-this-host" is not on the host's $PATH`},
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

func TestShareFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []spec.Share
	}{
		{nil, nil},
		{[]string{"--share", "src"}, []spec.Share{{HostDir: "src"}}},
		{[]string{"--share", "src:rw", "--share", "/a/b=/mnt/b"}, []spec.Share{{HostDir: "src", Writable: true}, {HostDir: "/a/b", GuestDir: "/mnt/b"}}},
		{[]string{"--share=/a=/b:ro"}, []spec.Share{{HostDir: "/a", GuestDir: "/b"}}},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var vf vmFlags
		vf.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := vf.config()
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !slices.Equal(cfg.Shares, tc.want) {
			t.Errorf("%q: shares %+v, want %+v", tc.args, cfg.Shares, tc.want)
		}
	}
}
