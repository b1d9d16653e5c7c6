package initramfs

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/internal/cachedir"
	"github.com/u-root/u-root/pkg/cpio"
)

// formatVersion changes whenever the archive layout or the way it is
// written changes, so that old cached images are not reused.
const formatVersion = "scxvm-initramfs-1"

// File is an extra file to put in the image.
type File struct {
	// Src is the file's path on the host.
	Src string
	// Dst is the absolute path in the guest.
	Dst string
	// Mode holds the permission bits in the guest; 0 keeps Src's.
	Mode os.FileMode
}

// Config says what goes in an image. Only Agent is required.
type Config struct {
	// Agent is the scxvm agent binary; it becomes /init. A dynamically
	// linked one (built with cgo) gets its shared libraries and ELF
	// interpreter in the image.
	Agent string
	// Files are extra files. A dynamically linked executable among them
	// brings its shared libraries and ELF interpreter along.
	Files []File
	// Binaries are executables placed at /sched/<base name> (scheduler
	// binaries), with their shared libraries and ELF interpreter.
	Binaries []string
	// KernelConfig is the guest kernel's .config, placed at
	// /boot/config-<KernelRelease>; KernelRelease is required with it.
	KernelConfig  string
	KernelRelease string
	// Modules are kernel modules (.ko, or .ko.xz/.ko.zst/.ko.gz, which are
	// decompressed) placed at /lib/modules/scxvm/NN-<name>.ko, NN being
	// the position in Modules: the agent loads them in that order.
	Modules []string
	// CacheDir is the scxvm cache root: images and hash caches go in its
	// initramfs/ directory. Empty means the default root (see package
	// doc).
	CacheDir string
	// CacheMax bounds the cache's derived files, images included (see
	// package doc); zero means $SCXVM_CACHE_MAX, else 2 GiB.
	CacheMax int64
	// Debug adds u-root's core commands and a shell in /bin (built once
	// and cached; needs the Go toolchain) for interactive debugging.
	Debug bool
}

// entry is one archive member.
type entry struct {
	dst  string    // normalized: relative, no leading slash
	mode uint64    // cpio mode, type bits included
	src  string    // host file with the contents (regular files)
	key  statKey   // src's identity when hashed
	comp string    // compression of src to undo (modules)
	data []byte    // inline contents (symlink targets)
	rdev [2]uint64 // major, minor (devices)
	sum  string    // content hash (regular files)
	from string    // what asked for it, for error messages
}

// Build returns the path of an image built from cfg, building it unless an
// identical image is already cached. See the package documentation for the
// layout and the caching rules. The image is not held: a later prune (of
// another run that needs room) may delete it once it is the least recently
// used file of the cache. Use Open to hold it while QEMU needs it.
func Build(ctx context.Context, cfg Config) (string, error) {
	im, err := Open(ctx, cfg)
	if err != nil {
		return "", err
	}
	im.Close()
	return im.Path, nil
}

// Image is a built image, held in the cache until Close: no prune deletes
// it meanwhile.
type Image struct {
	// Path is the cpio archive, for QEMU's -initrd.
	Path string
	// Built reports whether this call wrote the image (false: it was
	// cached).
	Built bool
	// Pruned lists the files the cache bound removed after the build.
	Pruned []string

	lease *cachedir.Lease
}

// Close releases the image; it is idempotent.
func (im *Image) Close() error { return im.lease.Close() }

// Open returns the image built from cfg, building it unless an identical
// image is already cached, and holds it until Close. A build is followed
// by a prune of the cache to its bound (least recently used files first,
// never one in use).
func Open(ctx context.Context, cfg Config) (*Image, error) {
	root := cfg.CacheDir
	if root == "" {
		root = cachedir.DefaultRoot()
	}
	c := cachedir.New(root, cfg.CacheMax)
	dir := c.Dir(cachedir.Initramfs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}
	b := &builder{cache: fileCache{dir: dir}, entries: map[string]*entry{}}
	if err := b.plan(ctx, cfg); err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}
	out := filepath.Join(dir, "initramfs-"+b.hash()[:32]+".cpio")
	for range 3 {
		l, err := c.Acquire(out)
		if err == nil {
			return &Image{Path: out, lease: l}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("build initramfs: %w", err)
		}
		if err := b.write(ctx, out); err != nil {
			return nil, fmt.Errorf("build initramfs: %w", err)
		}
		if l, err = c.Acquire(out); err != nil {
			continue // pruned by another run before we held it
		}
		im := &Image{Path: out, Built: true, lease: l}
		if res, err := c.Prune(); err == nil {
			for _, e := range res.Removed {
				im.Pruned = append(im.Pruned, e.Path)
			}
		}
		return im, nil
	}
	return nil, fmt.Errorf("build initramfs: %s removed by concurrent prunes three times (cache bound %s too small?)", out, cachedir.FormatSize(c.Max()))
}

type builder struct {
	cache   fileCache
	entries map[string]*entry
}

func (b *builder) plan(ctx context.Context, cfg Config) error {
	if cfg.Agent == "" {
		return errors.New("no agent binary (Config.Agent)")
	}
	interp, isELF, err := elfInterp(cfg.Agent)
	switch {
	case err != nil:
		return fmt.Errorf("agent: %w", err)
	case !isELF:
		return fmt.Errorf("agent %s is not an ELF executable", cfg.Agent)
	}
	if err := b.addFile(cfg.Agent, "/init", 0o755, "agent"); err != nil {
		return err
	}
	var dynamic []string
	if interp != "" {
		// A plain `go install` with cgo available links the agent
		// dynamically: its libraries and interpreter come along.
		dynamic = append(dynamic, cfg.Agent)
	}

	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/etc", "/lib/modules/scxvm"} {
		b.add(&entry{dst: d, mode: cpio.S_IFDIR | 0o755, from: "layout"})
	}
	b.add(&entry{dst: "/tmp", mode: cpio.S_IFDIR | 0o1777, from: "layout"})
	b.add(&entry{dst: "/dev/console", mode: cpio.S_IFCHR | 0o600, rdev: [2]uint64{5, 1}, from: "layout"})

	for _, bin := range cfg.Binaries {
		if err := b.addFile(bin, "/sched/"+filepath.Base(bin), 0, "binary"); err != nil {
			return err
		}
		dynamic = append(dynamic, bin)
	}
	for _, f := range cfg.Files {
		if !path.IsAbs(f.Dst) {
			return fmt.Errorf("file %s: destination %q is not an absolute path", f.Src, f.Dst)
		}
		if err := b.addFile(f.Src, f.Dst, f.Mode, "file"); err != nil {
			return err
		}
		dynamic = append(dynamic, f.Src)
	}
	if cfg.KernelConfig != "" {
		if cfg.KernelRelease == "" || strings.Contains(cfg.KernelRelease, "/") {
			return fmt.Errorf("kernel config %s: need a kernel release to name /boot/config-RELEASE, got %q", cfg.KernelConfig, cfg.KernelRelease)
		}
		if err := b.addFile(cfg.KernelConfig, "/boot/config-"+cfg.KernelRelease, 0o644, "kernel config"); err != nil {
			return err
		}
	}
	for i, m := range cfg.Modules {
		name, comp := moduleName(m)
		e := &entry{dst: fmt.Sprintf("/lib/modules/scxvm/%02d-%s.ko", i, name), mode: cpio.S_IFREG | 0o644, src: m, comp: comp, from: "module"}
		if err := b.hashEntry(e); err != nil {
			return fmt.Errorf("module: %w", err)
		}
		if err := b.add(e); err != nil {
			return err
		}
	}
	if cfg.Debug {
		tools, err := debugTools(ctx, b.cache.dir)
		if err != nil {
			return err
		}
		for _, t := range tools {
			if t.target != "" {
				if err := b.add(&entry{dst: t.dst, mode: cpio.S_IFLNK | 0o777, data: []byte(t.target), from: "debug"}); err != nil {
					return err
				}
				continue
			}
			if err := b.addFile(t.src, t.dst, 0o755, "debug"); err != nil {
				return err
			}
		}
	}

	for _, bin := range dynamic {
		if err := ctx.Err(); err != nil {
			return err
		}
		libs, err := b.cache.sharedLibs(bin)
		if err != nil {
			return err
		}
		for _, lib := range libs {
			if err := b.addLib(lib); err != nil {
				return fmt.Errorf("shared library of %s: %w", bin, err)
			}
		}
	}
	b.addParents()
	return nil
}

// addFile adds the regular file src at dst; mode 0 keeps src's permissions.
func (b *builder) addFile(src, dst string, mode os.FileMode, from string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %s is not a regular file", from, src)
	}
	if mode == 0 {
		mode = fi.Mode().Perm()
	}
	e := &entry{dst: dst, mode: cpio.S_IFREG | uint64(mode.Perm()), src: src, from: from + " " + src}
	if err := b.hashEntry(e); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	return b.add(e)
}

// addLib adds a library path as ldd found it: a symlink stays a symlink (its
// target is listed by ldd too), a file is copied.
func (b *builder) addLib(lib string) error {
	fi, err := os.Lstat(lib)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(lib)
		if err != nil {
			return err
		}
		return b.add(&entry{dst: lib, mode: cpio.S_IFLNK | 0o777, data: []byte(target), from: "library " + lib})
	}
	return b.addFile(lib, lib, 0, "library")
}

func (b *builder) hashEntry(e *entry) error {
	sum, key, err := b.cache.sum(e.src)
	if err != nil {
		return err
	}
	e.sum, e.key = sum, key
	return nil
}

// add records e; a second entry at the same path must be identical.
func (b *builder) add(e *entry) error {
	e.dst = cpio.Normalize(e.dst)
	if old, ok := b.entries[e.dst]; ok {
		if old.mode == e.mode && old.sum == e.sum && old.comp == e.comp && string(old.data) == string(e.data) && old.rdev == e.rdev {
			return nil
		}
		return fmt.Errorf("/%s given twice with different contents (%s and %s)", e.dst, old.from, e.from)
	}
	b.entries[e.dst] = e
	return nil
}

// addParents gives every entry's parent directories an entry of their own:
// the kernel does not create missing parents when it unpacks the archive.
func (b *builder) addParents() {
	for _, e := range b.sorted() {
		for d := path.Dir(e.dst); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := b.entries[d]; ok {
				continue
			}
			b.entries[d] = &entry{dst: d, mode: cpio.S_IFDIR | 0o755, from: "parent of /" + e.dst}
		}
	}
}

func (b *builder) sorted() []*entry {
	es := make([]*entry, 0, len(b.entries))
	for _, e := range b.entries {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int { return strings.Compare(a.dst, b.dst) })
	return es
}

// hash identifies the image: format version and every entry's path, mode,
// device numbers, inline data and content hash, in archive order.
func (b *builder) hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", formatVersion)
	for _, e := range b.sorted() {
		fmt.Fprintf(h, "%q %o %d:%d %q %q %s\n", e.dst, e.mode, e.rdev[0], e.rdev[1], e.comp, e.data, e.sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// write writes the archive to a temporary file next to out and renames it
// into place.
func (b *builder) write(ctx context.Context, out string) (err error) {
	removeStale(filepath.Dir(out))
	f, err := os.CreateTemp(filepath.Dir(out), ".tmp-*.cpio")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := cpio.Newc.Writer(bw)
	for i, e := range b.sorted() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := b.record(e)
		if err != nil {
			return err
		}
		rec.Ino = uint64(i + 1)
		if err := w.WriteRecord(rec); err != nil {
			return fmt.Errorf("write /%s: %w", e.dst, err)
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Link, not rename: an image another build put there first stays,
	// so that a run holding it (cachedir.Lease) holds the file at out.
	if err := os.Link(f.Name(), out); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Remove(f.Name())
}

// record returns e as a reproducible cpio record.
func (b *builder) record(e *entry) (cpio.Record, error) {
	info := cpio.Info{Name: e.dst, Mode: e.mode, NLink: 1, Rmajor: e.rdev[0], Rminor: e.rdev[1]}
	switch {
	case e.mode&cpio.S_IFMT == cpio.S_IFDIR:
		info.NLink = 2
		return cpio.Record{Info: info}, nil
	case e.comp != "":
		data, err := decompress(e.src, e.comp)
		if err != nil {
			return cpio.Record{}, err
		}
		return cpio.StaticRecord(data, info), nil
	case e.src != "":
		f, err := os.Open(e.src)
		if err != nil {
			return cpio.Record{}, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return cpio.Record{}, err
		}
		if statOf(e.src, fi) != e.key {
			f.Close()
			return cpio.Record{}, fmt.Errorf("%s changed during the build", e.src)
		}
		info.FileSize = uint64(fi.Size())
		return cpio.Record{ReaderAt: f, Info: info}, nil // the writer closes f
	case e.data != nil:
		return cpio.StaticRecord(e.data, info), nil
	default:
		return cpio.Record{Info: info}, nil
	}
}

// staleAge is how old a temporary image must be before a later build
// deletes it: only a build killed midway leaves one behind.
const staleAge = time.Hour

// removeStale deletes temporary images of builds that died.
func removeStale(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".tmp-") || !strings.HasSuffix(e.Name(), ".cpio") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
