package host

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
)

// Kernel image formats recognised by KernelFormat.
const (
	FormatBzImage = "bzImage"
	FormatPVH     = "pvh" // ELF vmlinux with a PVH entry note
	FormatUnknown = "unknown"
)

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY, the note QEMU looks
// for to boot an ELF kernel through PVH.
const xenElfnotePhys32Entry = 18

// KernelFormat reports whether the file at path is a bzImage or an ELF
// vmlinux that QEMU can boot directly through PVH. An ELF without the PVH
// note is an error that says how to fix it; other files are reported as
// FormatUnknown and left to QEMU.
func KernelFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var hdr [0x206]byte
	n, err := io.ReadFull(f, hdr[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("read kernel %s: %w", path, err)
	}
	if n >= 0x206 && string(hdr[0x202:0x206]) == "HdrS" {
		return FormatBzImage, nil
	}
	if !bytes.HasPrefix(hdr[:n], []byte(elf.ELFMAG)) {
		return FormatUnknown, nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", path, err)
	}
	if hasPVHNote(ef) {
		return FormatPVH, nil
	}
	return "", fmt.Errorf("kernel %s is an ELF without a PVH entry note: rebuild with CONFIG_PVH=y or boot the bzImage", path)
}

// hasPVHNote scans the ELF's note segments for a Xen PHYS32_ENTRY note.
func hasPVHNote(ef *elf.File) bool {
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
