package cachedir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultRoot(t *testing.T) {
	for _, tt := range []struct {
		scxvm, xdg, home, want string
	}{
		{"/c", "/x", "/h", "/c"},
		{"", "/x", "/h", "/x/scxvm"},
		{"", "", "/h", "/h/.cache/scxvm"},
		{"", "", "", filepath.Join(os.TempDir(), "scxvm-cache")},
	} {
		t.Setenv("SCXVM_CACHE_DIR", tt.scxvm)
		t.Setenv("XDG_CACHE_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		if got := DefaultRoot(); got != tt.want {
			t.Errorf("SCXVM_CACHE_DIR=%q XDG_CACHE_HOME=%q HOME=%q: DefaultRoot() = %q, want %q", tt.scxvm, tt.xdg, tt.home, got, tt.want)
		}
	}
}
