//go:build linux

package host

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/scxvm/scxvm/internal/leakcheck"
)

// TestMain fails the run when the tests leak child processes (a QEMU, or
// anything in its process group), file descriptors or temporary files.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, leakcheck.Cleanup(func() {
		if imageDir != "" {
			os.RemoveAll(imageDir)
		}
		if vmlinuxPath != "" {
			os.RemoveAll(filepath.Dir(vmlinuxPath))
		}
	})))
}
