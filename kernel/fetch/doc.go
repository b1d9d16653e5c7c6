// Package fetch puts Debian's prebuilt test kernels into the scxvm cache,
// in Go, on any Linux: no apt, no dpkg, no root.
//
// Two kernels are known (Names):
//
//   - "debian": Debian's sched_ext-capable kernel, linux-binary-ABI (or
//     linux-image-ABI) of SCXVM_DEBIAN_SUITE (default trixie-backports),
//     with its config (linux-base-ABI) and the vsock modules and their
//     dependencies from linux-modules-ABI, decompressed to plain .ko
//     files with a load order;
//   - "stock-6.12": Debian 12's stock 6.12 kernel (no sched_ext; tests use
//     it as the negative case), the newest linux-image-6.12-amd64 of
//     bookworm, bookworm-updates and bookworm-security.
//
// Every file is verified before it is used (see internal/debarchive:
// signed InRelease, Packages index against it, each .deb against the
// index), and the result is published atomically, in the layout package
// kernel's Lookup reads:
//
//	kernels/debian-<version>/{vmlinuz,config,release,package,origin,modules/}
//	kernels/stock-<version>/{vmlinuz,config,release,package,origin}
//	kernels/{debian,stock-6.12} -> the directories above
//	debian/index/              verified Packages indices, by SHA256
//
// A kernel already in the cache is used as is, without network access,
// unless Options.Refresh asks for the archive's newest version.
//
//	res, err := fetch.Fetch(ctx, fetch.Debian, fetch.Options{})
//	// res.Dir holds vmlinuz, config, modules/...
//
// Environment variables read (each only when the matching Options field is
// empty): SCXVM_DEBIAN_MIRROR (the Debian archive; else the one of the
// system's apt sources), SCXVM_DEBIAN_SECURITY_MIRROR (Debian's security
// archive; else the system's, else the archive's URI with /debian
// replaced by /debian-security), SCXVM_DEBIAN_SUITE and SCXVM_DEBIAN_ABI
// (which Debian kernel "debian" is), and those of kernel.DefaultCacheDir.
package fetch
