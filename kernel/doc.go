// Package kernel finds and inspects the kernels scxvm boots.
//
// It answers two questions. First, can a given kernel image run sched_ext
// schedulers? Inspect reads a bzImage/vmlinuz (gzip, xz, zstd, lz4, bzip2
// or lzma payload) or an ELF vmlinux, and reports its release, its
// configuration (a config file next to the image, else the one embedded
// with CONFIG_IKCONFIG, else /boot/config-RELEASE) and which required
// options are missing; without any config it deduces sched_ext support from
// the image's BTF. Before any of that it reads the file as a kernel: a file
// that is no x86-64 Linux kernel, or a truncated or corrupt one, gives a
// *BadImageError (errors.Is(err, ErrBadImage)) naming the file and what is
// wrong. Check prints the report for `scxvm kernel check PATH`:
//
//	err := kernel.Check(os.Stdout, "/boot/vmlinuz-6.12.117+deb12-amd64")
//	switch {
//	case errors.Is(err, kernel.ErrBadImage):
//		// exit 132: not a usable kernel file, no verdict on the kernel
//	case errors.Is(err, kernel.ErrNotSupported):
//		// exit 125: this kernel cannot be tested
//	}
//
// Second, where are the test kernels? Package kernel/fetch (`scxvm kernel
// fetch`, `make kernel`) and the scripts in this directory (build-kernel,
// build-schedulers, driven by the Makefile) fill a cache; Lookup and
// Schedulers find their results, List describes them all:
//
//	k, err := kernel.Lookup(kernel.DefaultCacheDir(), kernel.Debian)
//	// k.Image, k.Config, k.Release, k.Modules (vsock .ko files in load order)
//	scheds, err := kernel.Schedulers(kernel.DefaultCacheDir(), k)
//	// scheds["scx_simple"] is the path of the binary built for k
//
// Third, the kernel developer's own tree: OpenTree reads a built tree (a
// source tree built in place or a make O=DIR directory: its bzImage, or a
// vmlinux with a PVH note, its .config and vmlinux), FindTree finds the
// tree a directory is in, Lookup accepts a tree's path, and Schedulers
// returns its tools/sched_ext/build/bin binaries. Build runs the recipe of
// the test kernels on a tree (defconfig, kvm_guest.config, Fragment,
// olddefconfig, bzImage), after CheckBuildTools has named what the host
// lacks and the package that has it:
//
//	t, err := kernel.Build(ctx, kernel.BuildOptions{Source: "linux", Progress: show})
//	// t.Image is linux/arch/x86/boot/bzImage; errors.As(err, new(*kernel.MissingToolsError))
//
// Cache layout (under DefaultCacheDir):
//
//	kernels/debian-<pkgversion>/{vmlinuz,config,release,package,origin,vmlinux,modules/}
//	kernels/<srcversion>-scxvm-<fragmenthash>/{bzImage,config,release,vmlinux}
//	kernels/stock-<pkgversion>/{vmlinuz,config,release,package,origin}
//	kernels/{debian,6.12,stock-6.12} -> the directories above
//	schedulers/<kernel dir name>/{scx_*,build.log,status}
//	selftests/<kernel dir name>/{runner,build.log,status}   BuildSelftests
//	src/linux-source-<version>/   unpacked source trees
//	apt/<suite>/                  private apt roots (source packages)
//	debian/index/                 verified Packages indices (kernel/fetch)
//	vmlinux/vmlinux-<sha256>      ELF vmlinux extracted for PVH boot (ExtractPVH)
//	initramfs/                    images of package initramfs
//
// The vmlinux/ and initramfs/ files are bounded together (least recently
// used removed first; see internal/cachedir, SCXVM_CACHE_MAX); the rest is
// what the Makefile fetches and builds.
//
// Environment variables read: SCXVM_CACHE_DIR (cache root), else
// XDG_CACHE_HOME (cache root is $XDG_CACHE_HOME/scxvm), else HOME
// (~/.cache/scxvm).
//
// The package is not needed at guest run time.
package kernel
