package initramfs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// statKey identifies one version of a file cheaply: a file rewritten in
// place changes its size or mtime, one replaced by rename changes inode.
type statKey struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
	Ino   uint64 `json:"ino"`
	Dev   uint64 `json:"dev"`
}

func statOf(path string, fi os.FileInfo) statKey {
	k := statKey{Path: path, Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.Ino, k.Dev = st.Ino, uint64(st.Dev)
	}
	return k
}

func (k statKey) id(kind string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%d", kind, k.Path, k.Size, k.MTime, k.Ino, k.Dev)
	return hex.EncodeToString(h.Sum(nil))
}

// fileCache remembers, on disk, facts derived from file contents (content
// hashes, shared-library lists) keyed by the file's statKey. Entries are
// written atomically; a missing or unreadable entry is recomputed.
type fileCache struct {
	dir string
}

func (c fileCache) load(kind string, k statKey, v any) bool {
	b, err := os.ReadFile(filepath.Join(c.dir, kind, k.id(kind)))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func (c fileCache) store(kind string, k statKey, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(c.dir, kind, k.id(kind)), b)
}

// sum returns the SHA-256 of path's contents and the statKey it belongs to.
func (c fileCache) sum(path string) (string, statKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", statKey{}, err
	}
	if !fi.Mode().IsRegular() {
		return "", statKey{}, fmt.Errorf("%s is not a regular file", path)
	}
	k := statOf(path, fi)
	var s string
	if c.load("sum", k, &s) {
		return s, k, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", statKey{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", statKey{}, fmt.Errorf("hash %s: %w", path, err)
	}
	s = hex.EncodeToString(h.Sum(nil))
	// Only remember the hash if the file did not change while we read it.
	if fi2, err := f.Stat(); err == nil && statOf(path, fi2) == k {
		if err := c.store("sum", k, s); err != nil {
			return "", statKey{}, fmt.Errorf("remember hash of %s: %w", path, err)
		}
	}
	return s, k, nil
}

// writeAtomic writes b to path through a temporary file in the same
// directory and a rename, creating the directory when needed.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
