// Package testkernel finds the sched_ext kernel that boot tests use,
// the same way on every machine: no test names a path of one machine.
//
// Environment: SCXVM_TEST_KERNEL (a kernel image to use instead),
// SCXVM_CACHE_DIR and XDG_CACHE_HOME (the kernel cache, see package
// kernel), SCXVM_KERNEL_SEED (a directory of prebuilt kernels, each in a
// subdirectory with its bzImage, as `make kernel-build` seeds from), CI
// (a missing kernel fails instead of skipping; see internal/testenv).
package testkernel

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
)

// Kernel is a test kernel: its image and, when known, the ELF vmlinux
// extracted from it.
type Kernel struct {
	Image   string
	VMLinux string
}

// Build612 returns the 6.12 sched_ext kernel built from
// kernel/fragment.config: $SCXVM_TEST_KERNEL when set, else the kernel
// cache's "6.12" entry (`make kernel-build`), else the first prebuilt
// kernel under $SCXVM_KERNEL_SEED. When there is none it ends the test
// through testenv.Prereq.
func Build612(t testenv.TB) Kernel {
	t.Helper()
	k, why := find(os.Getenv("SCXVM_TEST_KERNEL"), kernel.DefaultCacheDir(), os.Getenv("SCXVM_KERNEL_SEED"))
	if k.Image == "" {
		testenv.Prereq(t, "no 6.12 test kernel: %s (run `make kernel-build`, or set SCXVM_TEST_KERNEL to a bzImage)", why)
	}
	return k
}

// find applies Build612's order; why says what was tried when it finds
// nothing.
func find(env, cacheDir, seed string) (Kernel, string) {
	if env != "" {
		if _, err := os.Stat(env); err != nil {
			return Kernel{}, "SCXVM_TEST_KERNEL: " + err.Error()
		}
		return Kernel{Image: env}, ""
	}
	k, err := kernel.Lookup(cacheDir, kernel.Build612)
	if err == nil {
		return Kernel{Image: k.Image, VMLinux: k.VMLinux}, ""
	}
	why := err.Error()
	if seed != "" {
		images, _ := filepath.Glob(filepath.Join(seed, "*", "bzImage"))
		slices.Sort(images)
		if len(images) > 0 {
			return Kernel{Image: images[0]}, ""
		}
		why += "; no */bzImage in SCXVM_KERNEL_SEED " + seed
	}
	return Kernel{}, why
}
