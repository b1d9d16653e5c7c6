package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is a real run's result (scxvm run --compare none --json).
var fixture = filepath.Join("..", "..", "vmtest", "report", "testdata", "compare.json")

func TestReportUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"cells":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"report"}, exitUsage, "takes one result file, got 0"},
		{[]string{"report", fixture, fixture}, exitUsage, "takes one result file, got 2"},
		{[]string{"report", "-h"}, 0, "RESULT.json"},
		{[]string{"report", "--bogus", fixture}, exitUsage, "flag provided but not defined"},
		{[]string{"report", "/nonexistent.json"}, exitUsage, "no such file"},
		{[]string{"report", bad}, exitUsage, "not an scxvm run result"},
		{[]string{"report", fixture, "-o", "/nonexistent/dir/x.html"}, exitInfra, "write report"},
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

func TestReportWrites(t *testing.T) {
	dir := t.TempDir()
	html, trace := filepath.Join(dir, "r.html"), filepath.Join(dir, "r.trace.json")
	var out bytes.Buffer
	// Flags may come after the result's name.
	if err := run(context.Background(), []string{"report", fixture, "-o", html, "--trace", trace}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, f := range []struct{ path, want string }{{html, "<!DOCTYPE html>"}, {trace, `{"traceEvents":[`}} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte(f.want)) {
			t.Errorf("%s starts with %.40q, want %q", f.path, data, f.want)
		}
		if !strings.Contains(out.String(), f.path) {
			t.Errorf("output %q does not name %s", out.String(), f.path)
		}
	}
	// Without -o and --trace, the report goes next to the result.
	res := filepath.Join(dir, "run.json")
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"report", res}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run.html")); err != nil {
		t.Errorf("default output: %v", err)
	}
}
