// Package cacheroot says where scxvm keeps its cache when nobody says
// otherwise: one rule for every package that caches (kernels, schedulers,
// images) and for the scripts in kernel/, which follow the same order.
package cacheroot

import (
	"os"
	"path/filepath"
)

// Dir returns $SCXVM_CACHE_DIR, else $XDG_CACHE_HOME/scxvm, else
// ~/.cache/scxvm, else scxvm-cache in the temporary directory (a user
// without a home directory).
func Dir() string {
	if d := os.Getenv("SCXVM_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "scxvm")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".cache", "scxvm")
	}
	return filepath.Join(os.TempDir(), "scxvm-cache")
}
