package host

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noteELF builds a minimal ELF64 whose PT_NOTE segment holds one note
// ("Xen", typ), followed by some filler: a stand-in vmlinux.
func noteELF(t *testing.T, typ uint32) []byte {
	t.Helper()
	var note bytes.Buffer
	binary.Write(&note, binary.LittleEndian, [3]uint32{4, 4, typ})
	note.WriteString("Xen\x00\x00\x31\xaf\x03")
	const ehsize, phentsize = 64, 56
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: ehsize, Ehsize: ehsize, Phentsize: phentsize, Phnum: 1,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS], hdr.Ident[elf.EI_DATA], hdr.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, hdr)
	binary.Write(&out, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_NOTE), Off: ehsize + phentsize, Filesz: uint64(note.Len()), Align: 4})
	out.Write(note.Bytes())
	out.Write(bytes.Repeat([]byte("text"), 4096))
	return out.Bytes()
}

// gzipBzImage wraps vmlinux in a minimal bzImage (setup header, gzip
// payload located by payload_offset/payload_length).
func gzipBzImage(t *testing.T, vmlinux []byte) []byte {
	t.Helper()
	var payload bytes.Buffer
	zw := gzip.NewWriter(&payload)
	zw.Write(vmlinux)
	zw.Close()
	img := make([]byte, 2*512)
	img[0x1f1] = 1 // setup_sects
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x020f)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(payload.Len()))
	return append(img, payload.Bytes()...)
}

func writeKernel(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kernel")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveBoot(t *testing.T) {
	const pvhNote, otherNote = 18, 6
	withPVH := writeKernel(t, gzipBzImage(t, noteELF(t, pvhNote)))
	withoutPVH := writeKernel(t, gzipBzImage(t, noteELF(t, otherNote)))
	elfPVH := writeKernel(t, noteELF(t, pvhNote))
	junk := writeKernel(t, []byte("not a kernel"))

	for _, tc := range []struct {
		name, kernel, boot string
		method, reason     string // want
		extracted          bool   // the booted file is in the cache's vmlinux/
		err                string
	}{
		{name: "bzImage with PVH", kernel: withPVH, method: FormatPVH, reason: "vmlinux extracted from the bzImage", extracted: true},
		{name: "bzImage with PVH, pvh", kernel: withPVH, boot: BootPVH, method: FormatPVH, reason: "vmlinux extracted", extracted: true},
		{name: "bzImage with PVH, image", kernel: withPVH, boot: BootImage, method: FormatBzImage, reason: "image boot asked for"},
		{name: "bzImage without PVH falls back", kernel: withoutPVH, method: FormatBzImage, reason: "no PVH entry note (build it with CONFIG_PVH=y)"},
		{name: "bzImage without PVH, pvh", kernel: withoutPVH, boot: BootPVH, err: "no PVH entry note"},
		{name: "ELF vmlinux", kernel: elfPVH, method: FormatPVH, reason: "ELF vmlinux with a PVH entry note"},
		{name: "ELF vmlinux, image", kernel: elfPVH, boot: BootImage, method: FormatPVH},
		{name: "unknown", kernel: junk, method: FormatUnknown, reason: "left to QEMU"},
		{name: "unknown, pvh", kernel: junk, boot: BootPVH, err: "neither a bzImage nor an ELF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			cfg := Config{Kernel: tc.kernel, Boot: tc.boot, CacheDir: cache}.withDefaults()
			bi, release, err := resolveBoot(cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("resolveBoot = %+v, %v; want an error with %q", bi, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if release != nil {
				defer release.Close()
			}
			if bi.Method != tc.method || !strings.Contains(bi.Reason, tc.reason) || bi.Image != tc.kernel {
				t.Errorf("resolveBoot = %+v; want method %s, reason with %q, image %s", bi, tc.method, tc.reason, tc.kernel)
			}
			inCache := filepath.Dir(bi.Kernel) == filepath.Join(cache, "vmlinux")
			if inCache != tc.extracted || (!tc.extracted && bi.Kernel != tc.kernel) {
				t.Errorf("boots %s; want extracted into the cache: %v", bi.Kernel, tc.extracted)
			}
			if tc.extracted {
				if f, err := KernelFormat(bi.Kernel); f != FormatPVH || err != nil {
					t.Errorf("extracted %s: KernelFormat = %q, %v", bi.Kernel, f, err)
				}
				// The second boot uses the cached file.
				bi2, r2, err := resolveBoot(cfg)
				if err != nil {
					t.Fatal(err)
				}
				r2.Close()
				if bi2.Kernel != bi.Kernel || bi2.Reason != "vmlinux cached from the bzImage" {
					t.Errorf("second resolveBoot = %+v, want the cached %s", bi2, bi.Kernel)
				}
			}
		})
	}
}

func TestConfigValidateBoot(t *testing.T) {
	for boot, ok := range map[string]bool{"": true, BootAuto: true, BootPVH: true, BootImage: true, "bzImage": false} {
		err := Config{Kernel: "k", Boot: boot}.Validate()
		if (err == nil) != ok {
			t.Errorf("Boot %q: Validate = %v, want ok %v", boot, err, ok)
		}
	}
}
