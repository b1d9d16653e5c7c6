package testkernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	write := func(p string) string {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A cache with a complete 6.12 entry, and a seed directory.
	cacheImg := write("cache/kernels/6.12-abc/bzImage")
	write("cache/kernels/6.12-abc/.complete")
	vmlinux := write("cache/kernels/6.12-abc/vmlinux")
	if err := os.Symlink("6.12-abc", filepath.Join(dir, "cache/kernels/6.12")); err != nil {
		t.Fatal(err)
	}
	seedImg := write("seed/6.12.117-scxvm/bzImage")
	envImg := write("mine/bzImage")
	cache, empty, seed := filepath.Join(dir, "cache"), filepath.Join(dir, "empty"), filepath.Join(dir, "seed")

	for _, tc := range []struct {
		name             string
		env, cache, seed string
		want             Kernel
		why              string
	}{
		{"env wins", envImg, cache, seed, Kernel{Image: envImg}, ""},
		{"env missing", filepath.Join(dir, "nope"), cache, seed, Kernel{}, "SCXVM_TEST_KERNEL: "},
		{"cache", "", cache, seed, Kernel{Image: cacheImg, VMLinux: vmlinux}, ""},
		{"seed", "", empty, seed, Kernel{Image: seedImg}, ""},
		{"nothing", "", empty, "", Kernel{}, "make kernel-build"},
		{"empty seed", "", empty, empty, Kernel{}, "no */bzImage in SCXVM_KERNEL_SEED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := find(tc.env, tc.cache, tc.seed)
			if got != tc.want || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
				t.Errorf("find = %+v, %q; want %+v, %q", got, why, tc.want, tc.why)
			}
		})
	}
}
