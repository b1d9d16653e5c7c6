package bench

import (
	"os"
	"testing"

	"github.com/scxvm/scxvm/internal/leakcheck"
)

// TestMain fails the run when the tests leave processes, file
// descriptors, cgroups or temporary files behind.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
