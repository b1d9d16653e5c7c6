package initramfs

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/scxvm/scxvm/internal/cachedir"
	"github.com/u-root/u-root/pkg/cpio"
)

// OverlayFile is a file (or symbolic link) that goes into a running
// guest rather than into its image.
type OverlayFile struct {
	// Dst is the absolute guest path.
	Dst string
	// Src is the host file (regular files); Link the target (links).
	Src  string
	Link string
	// Mode holds the permission bits.
	Mode os.FileMode
}

// Overlay returns what cfg's Binaries and Files put in an image, their
// shared libraries and ELF interpreters included, at the paths the image
// would hold them, sorted by path; everything else in cfg is ignored. A
// warm-started guest gets them over the channel on top of a base image
// built without them (see package vmtest).
func Overlay(ctx context.Context, cfg Config) ([]OverlayFile, error) {
	root := cfg.CacheDir
	if root == "" {
		root = cachedir.DefaultRoot()
	}
	dir := cachedir.New(root, cfg.CacheMax).Dir(cachedir.Initramfs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	b := &builder{cache: fileCache{dir: dir}, entries: map[string]*entry{}}
	var dynamic []string
	for _, bin := range cfg.Binaries {
		if err := b.addFile(bin, "/sched/"+path.Base(bin), 0, "binary"); err != nil {
			return nil, fmt.Errorf("overlay: %w", err)
		}
		dynamic = append(dynamic, bin)
	}
	for _, f := range cfg.Files {
		if !path.IsAbs(f.Dst) {
			return nil, fmt.Errorf("overlay: file %s: destination %q is not an absolute path", f.Src, f.Dst)
		}
		if err := b.addFile(f.Src, f.Dst, f.Mode, "file"); err != nil {
			return nil, fmt.Errorf("overlay: %w", err)
		}
		dynamic = append(dynamic, f.Src)
	}
	for _, bin := range dynamic {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		libs, err := b.cache.sharedLibs(bin)
		if err != nil {
			return nil, fmt.Errorf("overlay: %w", err)
		}
		for _, lib := range libs {
			if err := b.addLib(lib); err != nil {
				return nil, fmt.Errorf("overlay: shared library of %s: %w", bin, err)
			}
		}
	}
	var out []OverlayFile
	for _, e := range b.sorted() {
		f := OverlayFile{Dst: "/" + e.dst, Mode: os.FileMode(e.mode & 0o7777)}
		switch e.mode & cpio.S_IFMT {
		case cpio.S_IFLNK:
			f.Link = string(e.data)
		case cpio.S_IFREG:
			f.Src = e.src
		default:
			continue
		}
		out = append(out, f)
	}
	return out, nil
}
