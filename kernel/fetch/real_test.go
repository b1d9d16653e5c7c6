package fetch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
)

// TestRealFetch fetches the "stock-6.12" kernel from the system's Debian
// mirror (or $SCXVM_DEBIAN_MIRROR) into an empty cache: three suites of two
// archives, a 107 MB .deb of which only /boot is unpacked (the "debian"
// kernel unpacks most of its 107 MB modules package, which takes minutes
// under -race; BenchmarkColdFetch fetches that one). Its files must be
// those of the cache's own entry when it holds the same version. Under CI
// an unreachable mirror fails the test.
func TestRealFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads about 120 MB")
	}
	mirror := systemMirror(t)
	cache := t.TempDir()
	res, err := Fetch(context.Background(), Stock612, Options{CacheDir: cache, Mirror: mirror})
	if err != nil {
		testenv.Prereq(t, "fetch from %s: %v", mirror, err)
	}
	k, err := kernel.Lookup(cache, kernel.Stock612)
	if err != nil {
		t.Fatal(err)
	}
	info, err := kernel.Inspect(k.Image)
	if err != nil {
		t.Fatal(err)
	}
	if info.SchedExt || info.Release != k.Release || info.ConfigSource != kernel.SourceFile+k.Config {
		t.Errorf("fetched kernel %s: release %q (cache says %q), sched_ext %v (want false), config %s", res.Dir, info.Release, k.Release, info.SchedExt, info.ConfigSource)
	}
	// Byte for byte what the cache's entry of the same version holds.
	theirs := filepath.Join(kernel.DefaultCacheDir(), "kernels", filepath.Base(res.Dir))
	if _, err := os.Stat(filepath.Join(theirs, ".complete")); err != nil {
		t.Logf("no %s to compare with", theirs)
		return
	}
	files := []string{"vmlinuz", "config", "release", "package"}
	for _, m := range k.Modules {
		files = append(files, "modules/"+filepath.Base(m))
	}
	for _, f := range files {
		a, err1 := os.ReadFile(filepath.Join(res.Dir, f))
		b, err2 := os.ReadFile(filepath.Join(theirs, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s (%v, %v)", f, theirs, err1, err2)
		}
	}
}
