package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestKernelFetchErrors: the exit code and message of `scxvm kernel fetch`
// for an unknown kernel (usage, listing the known ones), an unreachable
// mirror (infrastructure, naming the URL and the step) and no mirror at
// all (usage, saying how to set one).
func TestKernelFetchErrors(t *testing.T) {
	t.Setenv("SCXVM_DEBIAN_MIRROR", "")
	tests := []struct {
		name string
		args []string
		code int
		msg  []string
	}{
		{"unknown kernel", []string{"kernel", "fetch", "--mirror", "http://127.0.0.1:1/debian", "debain"}, exitUsage, []string{`unknown kernel "debain"`, "debian, stock-6.12"}},
		{"unreachable mirror", []string{"kernel", "fetch", "--mirror", "http://127.0.0.1:1/debian"}, exitInfra, []string{"download InRelease", "http://127.0.0.1:1/debian/dists/trixie-backports/InRelease"}},
		{"bad flag", []string{"kernel", "fetch", "--mirorr", "x"}, exitUsage, []string{"mirorr"}},
		{"list with arguments", []string{"kernel", "list", "x"}, exitUsage, []string{"no arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{}, tt.args[:2]...)
			args = append(args, "--cache", t.TempDir())
			args = append(args, tt.args[2:]...)
			err := run(context.Background(), args, &out, &errb)
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

// TestKernelListEmpty: an empty cache says what to run.
func TestKernelListEmpty(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"kernel", "list", "--cache", t.TempDir()}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "scxvm kernel fetch") {
		t.Errorf("kernel list on an empty cache: %q", out.String())
	}
}
