// Package initramfs builds the guest's initial ram filesystem: a newc cpio
// archive (uncompressed; see below) holding the scxvm binary as /init,
// scheduler binaries with every shared library they need, kernel modules,
// the kernel config and any extra files a job asks for.
//
//	im, err := initramfs.Open(ctx, initramfs.Config{
//		Agent:    "/path/to/static/scxvm",
//		Binaries: []string{cache + "/schedulers/7.3/scx_simple"},
//		Modules:  []string{kdir + "/modules/vsock.ko"},
//	})
//	defer im.Close() // held until QEMU is done with it
//	// pass im.Path to QEMU's -initrd
//
// Guest layout (the contract with package agent):
//
//	/init                        the agent (Config.Agent), mode 0755
//	/sched/<base>                each of Config.Binaries
//	/lib/..., /usr/lib/...       their shared libraries and ELF interpreter,
//	                             at the paths the host's ld.so resolved
//	/lib/modules/scxvm/NN-x.ko   Config.Modules in order, decompressed
//	/boot/config-RELEASE         Config.KernelConfig
//	/dev/console                 char device 5:1, so init has a console
//	                             before devtmpfs is mounted
//	/dev /proc /sys /tmp /run    empty mount points
//	/bin/...                     a shell and tools (Config.Debug): a static
//	                             busybox (Debian's busybox-static) with a
//	                             link per applet, else u-root commands
//	                             built once with the Go toolchain
//
// Images are cached in the cache directory under the SHA-256 of everything
// that goes in (destination paths, modes, file contents, format version),
// so a second Build with the same inputs only stats its inputs and returns
// the cached path. File contents are hashed once per (path, size, mtime,
// inode) and the hash is remembered in the cache directory, as are the
// shared-library lists of binaries, so a cached build does not reread a
// 20 MB agent nor run ld.so. Images are written to a temporary file and
// linked into place: concurrent builds, in one process or several, never
// expose a partial image, and an image in place is never replaced.
//
// The images count towards the cache's size bound (package
// internal/cachedir, shared with the vmlinux files extracted for PVH
// boot): Open holds its image (a shared flock) until Close and marks it
// used; after a build it prunes the least recently used files beyond the
// bound (Config.CacheMax, else $SCXVM_CACHE_MAX, else 2 GiB), never one
// that a run holds. Build is Open without the hold. The archive is reproducible: entries are sorted,
// every parent directory has its own entry, and mtimes, owners and device
// numbers of the host are zeroed, so the same inputs give the same bytes.
//
// The archive is not compressed: the kernel unpacks an uncompressed cpio
// with a plain copy, while decompressing gzip under QEMU's TCG costs more
// boot time than reading a bigger -initrd saves.
//
// Environment: SCXVM_CACHE_DIR (else $XDG_CACHE_HOME/scxvm, else
// ~/.cache/scxvm) chooses the cache root when Config.CacheDir is empty;
// images go in its initramfs/ subdirectory. SCXVM_CACHE_MAX bounds the
// cache when Config.CacheMax is zero. SCXVM_BUSYBOX names the static
// busybox of debug images (default /bin/busybox).
package initramfs
