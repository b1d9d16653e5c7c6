// Package debarchive reads a Debian archive over HTTP the way apt does, and
// trusts nothing it has not verified: a suite's InRelease must carry a good
// OpenPGP signature by one of Debian's archive keys (embedded in the
// binary; the system's debian-archive-keyring is also accepted when
// present), its Valid-Until must not have passed, a Packages index must
// match the size and SHA256 that InRelease gives it, and a .deb the size
// and SHA256 that the index gives it. A .deb is streamed: its data.tar
// (xz, zstd, gzip, ...) is unpacked while it downloads, and a caller that
// has what it wants stops unpacking early; the download still completes and
// is verified before Deb returns, so a caller publishes nothing from a file
// that turns out to be bad.
//
//	c := &debarchive.Client{CacheDir: dir}
//	rel, err := c.Release(ctx, mirror, "trixie-backports")
//	pkgs, err := c.Packages(ctx, rel, "main", "amd64", func(name string) bool { return name == "linux-binary-7.3.4+deb13-amd64" })
//	err = c.Deb(ctx, rel, &pkgs[0], tmp, func(h *tar.Header, r io.Reader) (bool, error) { ... })
//
// FindMirrors reads the system's apt sources (one-line .list and deb822
// .sources files) for the Debian mirror and its security archive.
//
// The package reads no environment variables; mirrors come from its
// callers (kernel/fetch reads SCXVM_DEBIAN_MIRROR).
package debarchive
