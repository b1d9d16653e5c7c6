package vmtest

import (
	"os"
	"testing"

	"github.com/scxvm/scxvm/internal/leakcheck"
)

// TestMain fails the run when the tests leave processes (a QEMU), file
// descriptors, cgroups or temporary files (a passing run's console log)
// behind.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
