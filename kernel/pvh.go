package kernel

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scxvm/scxvm/internal/cachedir"
)

// ErrNoPVH is wrapped by ExtractPVH's error when the kernel has no PVH
// entry point (built without CONFIG_PVH) or its payload cannot be
// decompressed here: boot the image instead.
var ErrNoPVH = errors.New("no PVH entry point")

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY, the ELF note (owner
// "Xen") holding the 32-bit PVH entry point that QEMU boots an ELF
// vmlinux through.
const xenElfnotePhys32Entry = 18

// HasPVHNote reports whether an ELF vmlinux has a PVH entry note, so
// that QEMU can boot it directly with -kernel.
func HasPVHNote(ef *elf.File) bool {
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), 1<<20))
		if err != nil {
			continue
		}
		for len(b) >= 12 {
			namesz := ef.ByteOrder.Uint32(b[0:4])
			descsz := ef.ByteOrder.Uint32(b[4:8])
			typ := ef.ByteOrder.Uint32(b[8:12])
			name := b[12:]
			nlen, dlen := align4(namesz), align4(descsz)
			if uint64(len(name)) < nlen+dlen {
				break
			}
			if typ == xenElfnotePhys32Entry && bytes.Equal(bytes.TrimRight(name[:namesz], "\x00"), []byte("Xen")) {
				return true
			}
			b = name[nlen+dlen:]
		}
	}
	return false
}

func align4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }

// PVH is an ELF vmlinux with a PVH entry point, extracted from a bzImage
// and held in the cache until Close.
type PVH struct {
	// Path is the ELF vmlinux, for QEMU's -kernel.
	Path string
	// Extracted reports whether this call extracted it (false: it was
	// cached).
	Extracted bool
	// Pruned is what the cache bound removed after the extraction.
	Pruned []string

	lease *cachedir.Lease
}

// Close releases the vmlinux: a prune may delete it afterwards. It is
// idempotent.
func (p *PVH) Close() error { return p.lease.Close() }

// ExtractPVH returns the ELF vmlinux inside the bzImage at image when it
// has a PVH entry note (CONFIG_PVH), decompressing the payload once: the
// vmlinux is kept in the vmlinux/ area of the cache at cacheDir under the
// image's SHA-256, written atomically and bounded to maxCache bytes
// together with the other derived files (internal/cachedir; maxCache <= 0
// means $SCXVM_CACHE_MAX or its default). A kernel without the note, or
// whose payload cannot be decompressed, gives an error wrapping ErrNoPVH
// that says why (without the image's path); that answer is remembered
// too, so it costs one hash the next time.
func ExtractPVH(cacheDir, image string, maxCache int64) (*PVH, error) {
	sum, err := fileSHA256(image)
	if err != nil {
		return nil, fmt.Errorf("extract vmlinux: %w", err)
	}
	c := cachedir.New(cacheDir, maxCache)
	name := "vmlinux-" + sum[:32]
	path := filepath.Join(c.Dir(cachedir.VMLinux), name)
	if b, err := os.ReadFile(path + ".nopvh"); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoPVH, strings.TrimSpace(string(b)))
	}
	for range 3 {
		l, err := c.Acquire(path)
		if err == nil {
			return &PVH{Path: path, lease: l}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("extract vmlinux: %w", err)
		}
		// Not cached (or pruned between the write and the lease).
		var noPVH error
		_, err = c.WriteFile(cachedir.VMLinux, name, func(f *os.File) error {
			noPVH = extractTo(f, image)
			return noPVH
		})
		if noPVH != nil && errors.Is(noPVH, ErrNoPVH) {
			// Remember the answer; the marker is an entry like any other.
			c.WriteFile(cachedir.VMLinux, name+".nopvh", func(f *os.File) error {
				_, err := fmt.Fprintln(f, strings.TrimPrefix(noPVH.Error(), ErrNoPVH.Error()+": "))
				return err
			})
			return nil, noPVH
		}
		if err != nil {
			return nil, fmt.Errorf("extract vmlinux: %w", err)
		}
		l, err = c.Acquire(path)
		if err != nil {
			continue
		}
		p := &PVH{Path: path, Extracted: true, lease: l}
		if res, err := c.Prune(); err == nil {
			for _, e := range res.Removed {
				p.Pruned = append(p.Pruned, e.Path)
			}
		}
		return p, nil
	}
	return nil, fmt.Errorf("extract vmlinux of %s: removed by concurrent prunes three times (cache bound %s too small?)", image, cachedir.FormatSize(c.Max()))
}

// extractTo decompresses the bzImage at image into f and checks that the
// result is an ELF vmlinux with a PVH note.
func extractTo(f *os.File, image string) error {
	raw, err := os.ReadFile(image)
	if err != nil {
		return err
	}
	if !isBzImage(raw) {
		return fmt.Errorf("%w: not a bzImage", ErrNoPVH)
	}
	kind, data, err := payload(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoPVH, err)
	}
	r, done, err := payloadReader(kind, data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoPVH, err)
	}
	defer done()
	w := &writeErr{w: f}
	_, copyErr := io.Copy(w, io.LimitReader(r, maxImageSize))
	if w.err != nil {
		return w.err // the cache's disk, not the kernel: no ErrNoPVH
	}
	// A stream that ends in garbage (the kernel appends the size) still
	// holds the whole vmlinux when the ELF parses.
	ef, err := elf.NewFile(f)
	if err == nil && copyErr != nil {
		err = wholeELF(f, ef)
	}
	if err != nil {
		if copyErr != nil {
			err = copyErr
		}
		return fmt.Errorf("%w: %s payload: %v", ErrNoPVH, kind, err)
	}
	if !HasPVHNote(ef) {
		return fmt.Errorf("%w: its vmlinux has no PVH entry note (build it with CONFIG_PVH=y)", ErrNoPVH)
	}
	return nil
}

// writeErr remembers the first error of its writer.
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// wholeELF checks that f holds every segment its program headers name.
func wholeELF(f *os.File, ef *elf.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	for _, p := range ef.Progs {
		if end := p.Off + p.Filesz; end > uint64(fi.Size()) {
			return fmt.Errorf("truncated: segment ends at %d, file has %d bytes", end, fi.Size())
		}
	}
	return nil
}

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
