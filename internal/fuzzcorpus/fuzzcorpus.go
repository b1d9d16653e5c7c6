// Package fuzzcorpus keeps a fuzz target's committed seed corpus
// (testdata/fuzz/NAME) in step with the seeds its test builds.
package fuzzcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Check fails t for every seed missing from dir; with update it first
// writes every seed there in `go test fuzz v1` form. pkg names the package
// in the hint of how to update.
func Check(t testing.TB, dir, pkg string, seeds map[string][]byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range seeds {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("seed %s missing from the committed corpus (run go test -run TestFuzzCorpus -update-corpus %s): %v", name, pkg, err)
		}
	}
}
