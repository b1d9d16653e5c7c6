package initramfs

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/ldd"
)

// ldsoCache is consulted by the dynamic linker to resolve sonames; a change
// to it (a library installed or removed) invalidates remembered deps.
const ldsoCache = "/etc/ld.so.cache"

// elfInterp returns the ELF interpreter of path ("" for a static binary),
// and whether path is an ELF file at all.
func elfInterp(path string) (interp string, isELF bool, err error) {
	r, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer r.Close()
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || string(magic[:]) != elf.ELFMAG {
		return "", false, nil
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return "", false, fmt.Errorf("read ELF %s: %w", path, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return "", true, fmt.Errorf("read interpreter of %s: %w", path, err)
			}
			return strings.TrimRight(string(b), "\x00"), true, nil
		}
	}
	return "", true, nil
}

// sharedLibs returns the shared libraries (and ELF interpreter) that the
// dynamic binary at path loads, including every symlink on the way to each
// library file, as absolute host paths. A static binary or a non-ELF file
// has none. Results are remembered in c, keyed by the binary's and
// ld.so.cache's stat.
func (c fileCache) sharedLibs(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	k := statOf(path, fi)
	if ci, err := os.Stat(ldsoCache); err == nil {
		// Fold ld.so.cache's identity into the key.
		ck := statOf(ldsoCache, ci)
		k.Path += "\x00" + ck.id("ldso")
	}
	var libs []string
	if c.load("libs", k, &libs) {
		return libs, nil
	}
	interp, _, err := elfInterp(path)
	if err != nil {
		return nil, err
	}
	if interp != "" {
		libs, err = ldd.FList(path)
		if err != nil {
			return nil, fmt.Errorf("list shared libraries of %s: %w", path, err)
		}
		slices.Sort(libs)
	}
	if libs == nil {
		libs = []string{}
	}
	if err := c.store("libs", k, libs); err != nil {
		return nil, fmt.Errorf("remember shared libraries of %s: %w", path, err)
	}
	return libs, nil
}
