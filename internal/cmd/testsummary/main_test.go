package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const passStream = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		ci    string
		err   error
		last  string
	}{
		{"stdin passes", nil, passStream, "", nil, "PASS"},
		{"command passes", []string{"--", "printf", "%s", passStream}, "", "", nil, "PASS"},
		// go test failing without a failed test event (killed, say) still
		// fails the summary.
		{"command fails", []string{"--", "sh", "-c", "printf '%s' \"$0\"; exit 3", passStream}, "", "", errFailed, "FAIL: sh: exit status 3"},
		{"nothing tested", nil, "", "", errFailed, "FAIL: no package was tested"},
		{"skip in CI", nil, `{"Action":"run","Package":"p","Test":"TestS"}
{"Action":"output","Package":"p","Test":"TestS","Output":"    s_test.go:1: skipping: needs root\n"}
{"Action":"skip","Package":"p","Test":"TestS"}
{"Action":"pass","Package":"p"}
`, "1", errFailed, "FAIL: 1 test(s) skipped under CI for a reason other than missing hardware"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, strings.NewReader(tc.stdin), &out, &errOut)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("run = %v, want %v; stderr %s", err, tc.err, errOut.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if got := lines[len(lines)-1]; got != tc.last {
				t.Errorf("last line %q, want %q:\n%s", got, tc.last, out.String())
			}
		})
	}
}
