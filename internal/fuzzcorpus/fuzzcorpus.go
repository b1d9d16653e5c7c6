// Package fuzzcorpus keeps a fuzz target's committed seed corpus
// (testdata/fuzz/NAME) in step with the seeds its test builds.
package fuzzcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Entry renders one corpus entry in the `go test fuzz v1` form: one line
// per argument of the fuzz function, in order ([]byte, string, bool and
// integer types).
func Entry(args ...any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		default:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		}
	}
	return b.String()
}

// Check fails t for every entry missing from dir; with update it first
// writes every entry there (name -> content, see Entry). pkg and test
// name the package and the test in the hint of how to update.
func Check(t testing.TB, dir, pkg, test string, entries map[string]string, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range entries {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range entries {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("seed %s missing from the committed corpus (run go test -run %s -update-corpus %s): %v", name, test, pkg, err)
		}
	}
}

// Bytes turns seeds of a func(*testing.T, []byte) target into entries.
func Bytes(seeds map[string][]byte) map[string]string {
	out := make(map[string]string, len(seeds))
	for name, b := range seeds {
		out[name] = Entry(b)
	}
	return out
}
