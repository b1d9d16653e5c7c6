package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrBadImage is wrapped by every error that says a file is not a usable
// kernel image: no Linux kernel at all (an empty file, a script, a program,
// a BPF object) or a truncated or corrupt one. Such a file says nothing
// about the kernel it should have been, so `scxvm run` gives it its own
// exit code (>= 128), which stops a `git bisect run` instead of marking
// the commit good, bad or skipped.
var ErrBadImage = errors.New("not a usable kernel image")

// BadImageError says what is wrong with the file at Path. It matches
// ErrBadImage with errors.Is.
type BadImageError struct {
	// Path is the file given as a kernel image.
	Path string
	// Reason says what is wrong, for example "empty file" or "truncated:
	// ...".
	Reason string
	// Err is the underlying error (a decompression or ELF error), or nil.
	Err error
}

func (e *BadImageError) Error() string {
	msg := fmt.Sprintf("kernel image %s: %s", e.Path, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is ErrBadImage.
func (e *BadImageError) Is(target error) bool { return target == ErrBadImage }

// Unwrap returns the underlying error, if any.
func (e *BadImageError) Unwrap() error { return e.Err }

// kernelSections are ELF sections every x86-64 vmlinux has and ordinary
// programs and objects do not: init code, the exception table, per-cpu
// data, exported symbols, module parameters.
var kernelSections = []string{".init.text", "__ex_table", ".data..percpu", "__ksymtab", "__param"}

// checkELFKernel returns why raw, an ELF file, is not an x86-64 vmlinux,
// or "" when it is one.
func checkELFKernel(raw []byte) (reason string, err error) {
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return "corrupt or truncated ELF file", err
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Offset+s.FileSize > uint64(len(raw)) {
			return fmt.Sprintf("truncated: ELF section %s ends at byte %d, the file has %d", s.Name, s.Offset+s.FileSize, len(raw)), nil
		}
	}
	kernel := false
	for _, name := range kernelSections {
		if f.Section(name) != nil {
			kernel = true
			break
		}
	}
	if !kernel {
		return fmt.Sprintf("not a Linux kernel: %s without a kernel's sections (%s)", elfKind(f), strings.Join(kernelSections, ", ")), nil
	}
	if f.Machine != elf.EM_X86_64 {
		return fmt.Sprintf("a kernel for %s: scxvm boots x86-64 guests", machineName(f.Machine)), nil
	}
	if !HasPVHNote(f) {
		return "an ELF vmlinux without a PVH entry note: QEMU cannot boot it (boot the bzImage, or rebuild with CONFIG_PVH=y)", nil
	}
	return "", nil
}

// elfKind names the kind of an ELF file for a message.
func elfKind(f *elf.File) string {
	switch {
	case f.Machine == elf.EM_BPF:
		return "an ELF BPF object (a scheduler's .bpf.o?)"
	case f.Type == elf.ET_EXEC:
		return "an ELF executable"
	case f.Type == elf.ET_DYN:
		return "an ELF shared object or PIE executable"
	case f.Type == elf.ET_REL:
		return "an ELF relocatable object"
	case f.Type == elf.ET_CORE:
		return "an ELF core dump"
	}
	return "an ELF file"
}

func machineName(m elf.Machine) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}

// checkBzImage returns why raw, which carries the x86 boot header, is
// truncated or corrupt according to that header, or "" when its sizes
// agree with the file. Boot protocols before 2.08 have no payload fields
// and are only checked for their setup code.
func checkBzImage(raw []byte) string {
	setupSects := int(raw[offSetupSects])
	if setupSects == 0 {
		setupSects = 4
	}
	setup := (setupSects + 1) * 512
	// syssize (boot protocol 2.04+) is the protected-mode code in 16-byte
	// units; the file is the setup code followed by it.
	want := setup + 16*int(binary.LittleEndian.Uint32(raw[offSysSize:]))
	if want > len(raw) {
		return fmt.Sprintf("truncated: the boot header says %d bytes, the file has %d", want, len(raw))
	}
	if binary.LittleEndian.Uint16(raw[offVersion:]) < 0x0208 {
		return ""
	}
	start := setup + int(binary.LittleEndian.Uint32(raw[offPayloadOffset:]))
	length := int(binary.LittleEndian.Uint32(raw[offPayloadLength:]))
	switch {
	case length <= 0:
		return "corrupt boot header: payload length 0"
	case start+length > len(raw):
		return fmt.Sprintf("truncated: the boot header puts the compressed kernel at bytes [%d, %d), the file has %d", start, start+length, len(raw))
	}
	for _, m := range payloadMagics {
		if bytes.HasPrefix(raw[start:], m.magic) {
			return ""
		}
	}
	return fmt.Sprintf("corrupt: no known compression format at the payload (byte %d starts with % x)", start, raw[start:start+min(6, length)])
}

// describeOther says what raw, neither an ELF file nor a bzImage, looks
// like.
func describeOther(raw []byte) string {
	head := raw[:min(len(raw), 512)]
	switch {
	case len(raw) == 0:
		return "empty file"
	case bytes.HasPrefix(raw, []byte("#!")):
		line, _, _ := bytes.Cut(head, []byte("\n"))
		return fmt.Sprintf("not a Linux kernel: a script (%q)", line)
	case bytes.HasPrefix(raw, []byte("070701")), bytes.HasPrefix(raw, []byte("070702")):
		return "not a Linux kernel: a cpio archive (an initramfs?)"
	case len(raw) >= 0x40 && string(raw[0x38:0x3c]) == "ARM\x64":
		return "an arm64 kernel Image: scxvm boots x86-64 guests"
	case len(raw) >= 0x200 && len(raw) < setupHeaderEnd && raw[0x1fe] == 0x55 && raw[0x1ff] == 0xaa:
		return fmt.Sprintf("truncated: a boot sector without the rest of the bzImage (%d bytes)", len(raw))
	case utf8.Valid(head) && bytes.IndexByte(head, 0) < 0:
		return "not a Linux kernel: a text file"
	}
	for _, m := range payloadMagics {
		if m.name != "none" && bytes.HasPrefix(raw, m.magic) {
			return fmt.Sprintf("not a Linux kernel: %s data (a compressed vmlinux? pass the bzImage or the ELF vmlinux)", m.name)
		}
	}
	return fmt.Sprintf("not a Linux kernel: neither a bzImage (no \"HdrS\" boot header) nor an ELF vmlinux (starts with % x)", raw[:min(len(raw), 8)])
}
