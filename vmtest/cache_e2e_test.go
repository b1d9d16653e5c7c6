package vmtest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
)

// TestPassingRunLeavesNothing boots the 6.12 kernel with a cache root of
// its own (the kernels and schedulers linked in): the kernel boots through
// PVH from a vmlinux extracted into that cache, and a passing run leaves
// no file in $TMPDIR, only its image and vmlinux in the cache.
func TestPassingRunLeavesNothing(t *testing.T) {
	cfg := e2e(t, kernel.Build612)
	cache := t.TempDir()
	for _, d := range []string{"kernels", "schedulers"} {
		if err := os.Symlink(filepath.Join(kernel.DefaultCacheDir(), d), filepath.Join(cache, d)); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	cfg.CacheDir = cache
	cfg.ConsoleLog = "" // the default: a temp file, dropped when the run passes
	sc, err := LookupScenario("steady")
	if err != nil {
		t.Fatal(err)
	}
	sc.Checks.Skip = slices.Clone(spec.CheckNames) // this test is about files, not fairness under load
	cfg.Scenarios = []spec.Scenario{sc}
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("run: %v", Explain(res, err))
	}
	if res.Kernel.Boot != "pvh" || filepath.Dir(res.Kernel.BootFile) != filepath.Join(cache, "vmlinux") {
		t.Errorf("kernel %+v: want a pvh boot of a vmlinux in %s/vmlinux", res.Kernel, cache)
	}
	if res.ConsoleLog != "" {
		t.Errorf("Result.ConsoleLog = %q after a passing run", res.ConsoleLog)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left behind in $TMPDIR: %v", names)
	}
	for _, area := range []string{"vmlinux", "initramfs"} {
		if m, _ := filepath.Glob(filepath.Join(cache, area, "*")); len(m) == 0 {
			t.Errorf("nothing cached in %s/", area)
		}
	}
}
