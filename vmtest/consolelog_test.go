package vmtest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDropConsoleLog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure *Failure
		content string
		keep    bool
	}{
		{"pass", nil, "boot log\n", false},
		{"failure", &Failure{Kind: FailPanic}, "Kernel panic\n", true},
		{"failure before boot", &Failure{Kind: FailGuestExited}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "console.log")
			os.WriteFile(p, []byte(tc.content), 0o644)
			res := &Result{ConsoleLog: p, Failure: tc.failure}
			dropConsoleLog(res)
			_, err := os.Stat(p)
			if kept := err == nil; kept != tc.keep || (res.ConsoleLog != "") != tc.keep {
				t.Errorf("file kept %v, Result.ConsoleLog %q; want kept %v and named iff kept", kept, res.ConsoleLog, tc.keep)
			}
		})
	}
	dropConsoleLog(&Result{}) // no log: nothing to do
}
