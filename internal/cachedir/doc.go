// Package cachedir keeps the large files scxvm derives and caches
// (initramfs images, ELF vmlinux files extracted from bzImages, saved VM
// states for warm starts) within one
// size bound, deleting the least recently used first and never a file that
// a run is using.
//
// The cache root ($SCXVM_CACHE_DIR) has areas: subdirectories whose
// top-level regular files are the bounded entries (Areas: initramfs/,
// vmlinux/ and snapshot/). Names starting with
// "." (temporary files, locks) and subdirectories (hash memos, tool builds)
// are not entries. Kernels, schedulers and source trees, which the
// Makefile fetches and builds, are not bounded.
//
// Use of an entry, by a run:
//
//	c := cachedir.New(root, 0) // bound from $SCXVM_CACHE_MAX, else DefaultMax
//	l, err := c.Acquire(path)  // errors.Is(err, fs.ErrNotExist): build it again
//	defer l.Close()            // keep it open while QEMU may read the file
//
// Acquire opens the file, takes a shared flock on it for as long as the
// lease is open, checks that the path still names the file it locked
// (a prune may have removed it meanwhile), and sets its modification time
// to now: mtime is the LRU clock, since atime is unreliable under relatime
// and noatime mounts.
//
// Adding an entry: write a temporary ".tmp-*" file in the area and rename
// it into place (WriteFile does both), Acquire it, then Prune.
//
// Prune serialises with other prunes on root/.prune.lock, lists the
// entries oldest first and, while the total is over the bound, deletes
// the oldest: it takes an exclusive flock without waiting (an entry in use
// is skipped), checks that the path still names the locked file and that
// nobody used it since the listing, and unlinks it. Temporary files older
// than an hour (left by a killed writer) go too. Sizes are disk usage
// (allocated blocks), as du(1) counts them.
//
// Environment: SCXVM_CACHE_MAX (MaxFromEnv) is the bound when a caller
// passes none, a size such as 2G, 500M or 1.5GiB (powers of 1024).
package cachedir
