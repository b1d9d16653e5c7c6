package cachedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Area names: subdirectories of the cache root whose files are bounded
// together.
const (
	// Initramfs holds the images of package initramfs.
	Initramfs = "initramfs"
	// VMLinux holds ELF vmlinux files extracted from bzImages for PVH boot.
	VMLinux = "vmlinux"
	// Snapshot holds saved VM states for warm starts (package host).
	Snapshot = "snapshot"
)

// Areas lists every bounded area of a cache root.
var Areas = []string{Initramfs, VMLinux, Snapshot}

// DefaultMax is the bound when neither the caller nor SCXVM_CACHE_MAX sets
// one: room for a few dozen images and the vmlinux of each test kernel.
const DefaultMax int64 = 2 << 30

// EnvMax names the environment variable holding the bound.
const EnvMax = "SCXVM_CACHE_MAX"

// staleTemp is how old a temporary file must be before Prune deletes it:
// only a writer killed midway leaves one behind.
const staleTemp = time.Hour

// Cache is a cache root with a size bound on its areas.
type Cache struct {
	root string
	max  int64
}

// New returns the cache at root bounded to max bytes; max <= 0 means
// MaxFromEnv (DefaultMax when SCXVM_CACHE_MAX is unset or invalid).
func New(root string, max int64) *Cache {
	if max <= 0 {
		max, _ = MaxFromEnv()
	}
	return &Cache{root: root, max: max}
}

// Root returns the cache root.
func (c *Cache) Root() string { return c.root }

// Max returns the bound in bytes.
func (c *Cache) Max() int64 { return c.max }

// Dir returns the directory of an area.
func (c *Cache) Dir(area string) string { return filepath.Join(c.root, area) }

// MaxFromEnv returns the bound set by SCXVM_CACHE_MAX, or DefaultMax when
// it is unset. An invalid value gives DefaultMax and an error saying why.
func MaxFromEnv() (int64, error) {
	v := os.Getenv(EnvMax)
	if v == "" {
		return DefaultMax, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return DefaultMax, fmt.Errorf("%s: %w", EnvMax, err)
	}
	return n, nil
}

// ParseSize parses a positive size: a number of bytes with an optional
// unit K, M, G or T (powers of 1024; "KB", "KiB" and lower case are
// accepted too), for example "2G", "500M", "1.5GiB".
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	if t != "" {
		if i := strings.IndexByte("KMGT", t[len(t)-1]); i >= 0 {
			mult = float64(int64(1) << (10 * (i + 1)))
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit K, M, G or T, such as 2G", s)
	}
	n := f * mult
	if !(n >= 1 && n <= 1<<62) { // NaN too
		return 0, fmt.Errorf("size %q: out of range (at least 1 byte)", s)
	}
	return int64(n), nil
}

// FormatSize prints n bytes with a binary unit ("329.4 MiB").
func FormatSize(n int64) string {
	const units = "KMGT"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/1024, 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// Entry is one bounded file of the cache.
type Entry struct {
	Area string `json:"area"`
	Path string `json:"path"`
	// Size is the disk usage in bytes.
	Size int64 `json:"size"`
	// Used is when it was last used (or written).
	Used time.Time `json:"used"`
	// InUse reports whether a run holds it (Entries only).
	InUse bool `json:"in_use,omitempty"`

	ino, dev uint64
}

// Entries lists the bounded files, most recently used first, and reports
// for each whether a run holds it.
func (c *Cache) Entries() ([]Entry, error) {
	es, err := c.list()
	if err != nil {
		return nil, err
	}
	for i := range es {
		es[i].InUse = inUse(es[i].Path)
	}
	slices.Reverse(es)
	return es, nil
}

// Usage returns the total disk usage of the bounded files.
func (c *Cache) Usage() (int64, error) {
	es, err := c.list()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range es {
		n += e.Size
	}
	return n, nil
}

// list returns the entries of every area, least recently used first.
// Missing areas are empty.
func (c *Cache) list() ([]Entry, error) {
	var out []Entry
	for _, area := range Areas {
		dir := c.Dir(area)
		des, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list cache: %w", err)
		}
		for _, de := range des {
			if strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
				continue
			}
			p := filepath.Join(dir, de.Name())
			fi, err := os.Stat(p)
			if err != nil {
				continue // removed meanwhile
			}
			e := Entry{Area: area, Path: p, Used: fi.ModTime()}
			e.Size, e.ino, e.dev = diskUsage(fi)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.Used.Compare(b.Used) })
	return out, nil
}

// diskUsage returns the allocated bytes and identity of a file.
func diskUsage(fi fs.FileInfo) (size int64, ino, dev uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.Size(), 0, 0
	}
	return st.Blocks * 512, st.Ino, uint64(st.Dev)
}

// inUse reports whether some lease holds path.
func inUse(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	return false // Close releases the probe's lock
}

// Lease keeps an entry from being pruned while it is open.
type Lease struct {
	f    *os.File
	path string
}

// Path returns the entry's path.
func (l *Lease) Path() string { return l.path }

// Close releases the entry; it is idempotent.
func (l *Lease) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Acquire holds the entry at path for use and marks it used now. It fails
// with an error wrapping fs.ErrNotExist when the file does not exist or a
// prune removed it meanwhile: the caller builds it again.
func (c *Cache) Acquire(path string) (*Lease, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("use cache entry: %w", err)
	}
	return acquireOpen(f, path)
}

// acquireOpen finishes Acquire on the opened file f; it closes f on error.
func acquireOpen(f *os.File, path string) (*Lease, error) {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("use cache entry %s: lock: %w", path, err)
	}
	if !samePath(f, path) {
		f.Close()
		return nil, fmt.Errorf("use cache entry %s: removed by a prune: %w", path, fs.ErrNotExist)
	}
	now := time.Now()
	os.Chtimes(path, now, now) // best effort: only the LRU order suffers
	return &Lease{f: f, path: path}, nil
}

// samePath reports whether path still names the open file f.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// PruneResult says what a prune did.
type PruneResult struct {
	// Removed are the deleted entries.
	Removed []Entry `json:"removed,omitempty"`
	// Freed is the disk usage of Removed.
	Freed int64 `json:"freed"`
	// Kept is the disk usage left in the areas; InUse of it is held by runs.
	Kept  int64 `json:"kept"`
	InUse int64 `json:"in_use"`
	// Max is the bound pruned to.
	Max int64 `json:"max"`
}

// Prune deletes least recently used entries until the areas fit in the
// bound, skipping entries in use, and removes stale temporary files.
func (c *Cache) Prune() (*PruneResult, error) {
	return c.prune(c.max)
}

// PruneAll deletes every entry that no run holds.
func (c *Cache) PruneAll() (*PruneResult, error) {
	return c.prune(0)
}

func (c *Cache) prune(max int64) (*PruneResult, error) {
	res := &PruneResult{Max: max}
	if err := os.MkdirAll(c.root, 0o755); err != nil {
		return nil, fmt.Errorf("prune cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(c.root, ".prune.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prune cache: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("prune cache: lock: %w", err)
	}
	c.removeStaleTemps()
	es, err := c.list()
	if err != nil {
		return nil, fmt.Errorf("prune cache: %w", err)
	}
	var total int64
	for _, e := range es {
		total += e.Size
	}
	for _, e := range es {
		if total <= max {
			break
		}
		switch removed, err := remove(e); {
		case err != nil:
			return res, fmt.Errorf("prune cache: %w", err)
		case removed:
			total -= e.Size
			res.Freed += e.Size
			res.Removed = append(res.Removed, e)
		default:
			res.InUse += e.Size
		}
	}
	res.Kept = total
	return res, nil
}

// remove deletes e unless a lease holds it or it changed since it was
// listed (replaced, or used: then it is no longer the oldest).
func remove(e Entry) (bool, error) {
	f, err := os.Open(e.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil // someone else removed it
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil
		}
		return false, fmt.Errorf("lock %s: %w", e.Path, err)
	}
	fi, err := os.Stat(e.Path)
	if err != nil || !samePath(f, e.Path) || fi.ModTime().After(e.Used) {
		return false, nil
	}
	if _, ino, dev := diskUsage(fi); ino != e.ino || dev != e.dev {
		return false, nil
	}
	if err := os.Remove(e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// removeStaleTemps deletes ".tmp-*" files of writers that died.
func (c *Cache) removeStaleTemps() {
	for _, area := range Areas {
		des, _ := os.ReadDir(c.Dir(area))
		for _, de := range des {
			if !strings.HasPrefix(de.Name(), ".tmp-") {
				continue
			}
			if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
				os.Remove(filepath.Join(c.Dir(area), de.Name()))
			}
		}
	}
}

// WriteFile creates the entry name in area atomically: write fills a
// temporary file in the area, which is then linked into place, so that
// readers and concurrent writers never see a partial file. Entries are
// named by their contents and never replaced: when the name exists
// already (a concurrent writer was first), that file is kept and the new
// one dropped, so a lease on it stays a lease on the file at the path.
// On error the temporary file is removed.
func (c *Cache) WriteFile(area, name string, write func(*os.File) error) (string, error) {
	dir := c.Dir(area)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write cache entry: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write cache entry: %w", err)
	}
	p := filepath.Join(dir, name)
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		if err = os.Link(f.Name(), p); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	os.Remove(f.Name())
	if err != nil {
		return "", fmt.Errorf("write cache entry %s: %w", p, err)
	}
	return p, nil
}

// DirUsage returns the disk usage of everything under path (0 when it
// does not exist), as du -s counts it.
func DirUsage(path string) (int64, error) {
	var n int64
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		size, _, _ := diskUsage(fi)
		n += size
		return nil
	})
	return n, err
}

// DefaultRoot is the one rule for where the cache lives when nobody says
// otherwise, for every package that caches (kernels, schedulers, images)
// and for the scripts in kernel/, which follow the same order.
//
// DefaultRoot returns $SCXVM_CACHE_DIR, else $XDG_CACHE_HOME/scxvm, else
// ~/.cache/scxvm, else scxvm-cache in the temporary directory (a user
// without a home directory).
func DefaultRoot() string {
	if d := os.Getenv("SCXVM_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "scxvm")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".cache", "scxvm")
	}
	return filepath.Join(os.TempDir(), "scxvm-cache")
}
