package host

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/scxvm/scxvm/kernel"
)

// Kernel image formats recognised by KernelFormat.
const (
	FormatBzImage = "bzImage"
	FormatPVH     = "pvh" // ELF vmlinux with a PVH entry note
	FormatUnknown = "unknown"
)

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
	if kernel.HasPVHNote(ef) {
		return FormatPVH, nil
	}
	return "", fmt.Errorf("kernel %s is an ELF without a PVH entry note: rebuild with CONFIG_PVH=y or boot the bzImage", path)
}
