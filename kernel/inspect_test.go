package kernel

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

const fullConfig = `#
# Linux/x86 6.99.0 Kernel Configuration
#
CONFIG_BPF=y
CONFIG_BPF_SYSCALL=y
CONFIG_BPF_JIT=y
CONFIG_BPF_JIT_ALWAYS_ON=y
CONFIG_DEBUG_INFO_BTF=y
CONFIG_SCHED_CLASS_EXT=y
CONFIG_CGROUPS=y
CONFIG_CGROUP_SCHED=y
CONFIG_EXT_GROUP_SCHED=y
CONFIG_CPUSETS=y
CONFIG_SCHEDSTATS=y
CONFIG_IKCONFIG=y
CONFIG_IKCONFIG_PROC=y
CONFIG_VIRTIO_CONSOLE=y
CONFIG_VSOCKETS=m
CONFIG_VIRTIO_VSOCKETS=m
CONFIG_LOCALVERSION="-test"
`

// withoutOption returns cfg with option name turned into "is not set".
func withoutOption(cfg, name string) string {
	return strings.Replace(cfg, name+"=y\n", "# "+name+" is not set\n", 1)
}

// fakeVmlinux returns bytes that look like a decompressed kernel: ELF magic,
// a banner, and optionally an IKCONFIG blob.
func fakeVmlinux(t *testing.T, release, ikcfg string) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(elf.ELFMAG)
	b.Write(make([]byte, 60))
	b.WriteString("Linux version %s (%s) %s\x00")
	b.WriteString("Linux version " + release + " (test@scxvm) #1 SMP\n\x00")
	if ikcfg != "" {
		b.WriteString("IKCFG_ST")
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write([]byte(ikcfg)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		b.WriteString("IKCFG_ED")
	}
	b.Write(make([]byte, 4096))
	return b.Bytes()
}

// compress compresses data the way the kernel's build does for a bzImage
// payload.
func compress(t *testing.T, kind string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch kind {
	case "gzip":
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "xz":
		zw, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "lz4":
		zw := lz4.NewWriter(&b)
		if err := zw.Apply(lz4.LegacyOption(true)); err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "lzma":
		zw, err := lzma.WriterConfig{DictCap: 1 << 23}.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "none":
		b.Write(data)
	default:
		t.Fatalf("no compressor for %s", kind)
	}
	// The kernel appends the uncompressed size; decoders must tolerate it.
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	return b.Bytes()
}

// fakeBzImage builds a minimal bzImage: one setup sector with the "HdrS"
// header (boot protocol 2.15), an optional kernel_version string, and the
// payload right after the setup code.
func fakeBzImage(t *testing.T, headerVersion string, payload []byte) []byte {
	t.Helper()
	const setupSects = 1
	img := make([]byte, (setupSects+1)*512)
	img[offSetupSects] = setupSects
	copy(img[offHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(img[offVersion:], 0x020f)
	if headerVersion != "" {
		const at = 0x300
		copy(img[at:], headerVersion+"\x00")
		binary.LittleEndian.PutUint16(img[offKernelVersion:], at-0x200)
	}
	binary.LittleEndian.PutUint32(img[offPayloadOffset:], 0)
	binary.LittleEndian.PutUint32(img[offPayloadLength:], uint32(len(payload)))
	img = append(img, payload...)
	return append(img, make([]byte, 64)...) // trailing setup data and padding
}

// elfWithBTF builds an ELF file whose only content is a .BTF section
// describing the given types, like a stripped vmlinux.
func elfWithBTF(t *testing.T, types ...btf.Type) []byte {
	t.Helper()
	return elfWithSection(t, ".BTF", types...)
}

// elfWithSection is elfWithBTF with the section named secName.
func elfWithSection(t *testing.T, secName string, types ...btf.Type) []byte {
	t.Helper()
	return buildELF(t, elfSpec{typ: elf.ET_EXEC, machine: elf.EM_X86_64, btfSection: secName}, types...)
}

// vmlinuxWithBTF is elfWithBTF plus what a bootable vmlinux has: empty
// kernel sections and a PVH entry note.
func vmlinuxWithBTF(t *testing.T, types ...btf.Type) []byte {
	t.Helper()
	return buildELF(t, elfSpec{typ: elf.ET_EXEC, machine: elf.EM_X86_64, btfSection: ".BTF", empty: []string{".init.text", "__ex_table"}, pvh: true}, types...)
}

// elfSpec describes an ELF file for buildELF.
type elfSpec struct {
	typ        elf.Type
	machine    elf.Machine
	btfSection string   // name of the section holding the BTF
	empty      []string // names of empty sections to add
	pvh        bool     // add a PT_NOTE segment with the Xen PVH entry note
}

// buildELF builds a little-endian 64-bit ELF file as spec says, with BTF
// for types.
func buildELF(t *testing.T, spec elfSpec, types ...btf.Type) []byte {
	t.Helper()
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := append([]string{spec.btfSection, ".shstrtab"}, spec.empty...)
	shstrtab := []byte{0}
	nameOff := make([]uint32, len(names))
	for i, n := range names {
		nameOff[i] = uint32(len(shstrtab))
		shstrtab = append(append(shstrtab, n...), 0)
	}
	var note []byte
	if spec.pvh {
		// namesz, descsz, type XEN_ELFNOTE_PHYS32_ENTRY, "Xen", entry.
		note = binary.LittleEndian.AppendUint32(note, 4)
		note = binary.LittleEndian.AppendUint32(note, 4)
		note = binary.LittleEndian.AppendUint32(note, 18)
		note = append(note, "Xen\x00\x00\x00\x10\x00"...)
	}
	const ehsize, phentsize, shentsize = 64, 56, 64
	phnum := 0
	if spec.pvh {
		phnum = 1
	}
	btfOff := uint64(ehsize + phnum*phentsize)
	noteOff := btfOff + uint64(len(raw))
	strOff := noteOff + uint64(len(note))
	shOff := (strOff + uint64(len(shstrtab)) + 7) &^ 7

	var out bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(spec.typ), Machine: uint16(spec.machine), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shentsize, Shnum: uint16(1 + len(names)), Shstrndx: 2,
	}
	if spec.pvh {
		hdr.Phoff, hdr.Phentsize, hdr.Phnum = ehsize, phentsize, uint16(phnum)
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&out, binary.LittleEndian, hdr)
	if spec.pvh {
		binary.Write(&out, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_NOTE), Off: noteOff, Filesz: uint64(len(note)), Align: 4})
	}
	out.Write(raw)
	out.Write(note)
	out.Write(shstrtab)
	out.Write(make([]byte, int(shOff)-out.Len()))
	sections := []elf.Section64{
		{},
		{Name: nameOff[0], Type: uint32(elf.SHT_PROGBITS), Off: btfOff, Size: uint64(len(raw)), Addralign: 4},
		{Name: nameOff[1], Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstrtab)), Addralign: 1},
	}
	for i := range spec.empty {
		sections = append(sections, elf.Section64{Name: nameOff[2+i], Type: uint32(elf.SHT_PROGBITS), Off: strOff, Addralign: 1})
	}
	for _, s := range sections {
		binary.Write(&out, binary.LittleEndian, s)
	}
	return out.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInspect(t *testing.T) {
	schedExtOps := &btf.Struct{Name: "sched_ext_ops", Size: 8, Members: []btf.Member{{Name: "flags", Type: &btf.Int{Name: "u64", Size: 8}}}}
	other := &btf.Struct{Name: "task_struct", Size: 8, Members: []btf.Member{{Name: "pid", Type: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}}}}

	tests := []struct {
		name string
		// files to create in a temp dir; the image is "image" unless
		// imageName says otherwise.
		image      func(t *testing.T) []byte
		imageName  string
		neighbours map[string]string

		release     string
		compression string
		source      string // exact, or a "file:" suffix
		schedExt    bool
		missing     []string
		warnings    int
	}{
		{
			name: "gzip with ikconfig",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "6.99.0-test (x@y) #1", compress(t, "gzip", fakeVmlinux(t, "6.99.0-test", fullConfig)))
			},
			release:     "6.99.0-test",
			compression: "gzip",
			source:      SourceIKConfig,
			schedExt:    true,
		},
		{
			name: "ikconfig without sched_ext",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "6.99.0-test", compress(t, "gzip", fakeVmlinux(t, "6.99.0-test", withoutOption(fullConfig, "CONFIG_SCHED_CLASS_EXT"))))
			},
			release:     "6.99.0-test",
			compression: "gzip",
			source:      SourceIKConfig,
			missing:     []string{"CONFIG_SCHED_CLASS_EXT"},
		},
		{
			// A file next to the image is used without decompressing.
			name: "neighbour file wins over ikconfig",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "6.99.0-test", compress(t, "gzip", fakeVmlinux(t, "6.99.0-test", fullConfig)))
			},
			neighbours: map[string]string{"config": withoutOption(fullConfig, "CONFIG_BPF_JIT")},
			release:    "6.99.0-test", compression: "gzip", source: "file:config",
			missing: []string{"CONFIG_BPF_JIT"},
		},
		{
			name: "banner when the header has no version",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "", compress(t, "gzip", fakeVmlinux(t, "6.99.1-banner", fullConfig)))
			},
			release: "6.99.1-banner", compression: "gzip", source: SourceIKConfig, schedExt: true,
		},
		{
			name: "zstd with config file",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "7.0.0-z", compress(t, "zstd", fakeVmlinux(t, "7.0.0-z", "")))
			},
			neighbours:  map[string]string{"config": withoutOption(fullConfig, "CONFIG_CPUSETS")},
			release:     "7.0.0-z",
			compression: "zstd",
			source:      "file:config",
			schedExt:    true,
			warnings:    1,
		},
		{
			name: "xz with /boot-style config-RELEASE",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "7.0.0-x", compress(t, "xz", fakeVmlinux(t, "7.0.0-x", "")))
			},
			imageName:  "vmlinuz-7.0.0-x",
			neighbours: map[string]string{"config-7.0.0-x": withoutOption(withoutOption(fullConfig, "CONFIG_DEBUG_INFO_BTF"), "CONFIG_BPF_JIT")},
			release:    "7.0.0-x", compression: "xz", source: "file:config-7.0.0-x",
			missing: []string{"CONFIG_BPF_JIT", "CONFIG_DEBUG_INFO_BTF"},
		},
		{
			name: "lz4 legacy payload",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "7.0.0-l", compress(t, "lz4", fakeVmlinux(t, "7.0.0-l", fullConfig)))
			},
			release:     "7.0.0-l",
			compression: "lz4",
			source:      SourceIKConfig,
			schedExt:    true,
		},
		{
			name: "lzma payload",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "7.0.0-m", compress(t, "lzma", fakeVmlinux(t, "7.0.0-m", fullConfig)))
			},
			release:     "7.0.0-m",
			compression: "lzma",
			source:      SourceIKConfig,
			schedExt:    true,
		},
		{
			name: "BTF fallback with sched_ext_ops",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "7.1.0", compress(t, "gzip", elfWithBTF(t, schedExtOps, other)))
			},
			release:     "7.1.0",
			compression: "gzip",
			source:      SourceBTF,
			schedExt:    true,
		},
		{
			name:        "BTF fallback without sched_ext_ops",
			image:       func(t *testing.T) []byte { return fakeBzImage(t, "6.1.0", compress(t, "none", elfWithBTF(t, other))) },
			release:     "6.1.0",
			compression: "none",
			source:      SourceBTF,
			missing:     []string{"CONFIG_SCHED_CLASS_EXT"},
		},
		{
			name:      "ELF vmlinux with BTF",
			image:     func(t *testing.T) []byte { return vmlinuxWithBTF(t, schedExtOps) },
			imageName: "vmlinux",
			source:    SourceBTF,
			schedExt:  true,
		},
		{
			name: "no config and no BTF",
			image: func(t *testing.T) []byte {
				return fakeBzImage(t, "5.10.0", compress(t, "gzip", elfWithSection(t, ".BSS", other)))
			},
			release:     "5.10.0",
			compression: "gzip",
			source:      SourceNone,
			missing:     []string{"CONFIG_DEBUG_INFO_BTF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := tt.imageName
			if name == "" {
				name = "image"
			}
			path := writeFile(t, filepath.Join(dir, name), tt.image(t))
			for n, content := range tt.neighbours {
				writeFile(t, filepath.Join(dir, n), []byte(content))
			}
			info, err := Inspect(path)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if info.Release != tt.release {
				t.Errorf("Release = %q, want %q", info.Release, tt.release)
			}
			if info.Compression != tt.compression {
				t.Errorf("Compression = %q, want %q", info.Compression, tt.compression)
			}
			wantSource := tt.source
			if rest, ok := strings.CutPrefix(tt.source, SourceFile); ok {
				wantSource = SourceFile + filepath.Join(dir, rest)
			}
			if info.ConfigSource != wantSource {
				t.Errorf("ConfigSource = %q, want %q", info.ConfigSource, wantSource)
			}
			if info.SchedExt != tt.schedExt {
				t.Errorf("SchedExt = %v, want %v (missing %v, notes %v)", info.SchedExt, tt.schedExt, info.Missing, info.Notes)
			}
			if !slices.Equal(info.Missing, tt.missing) {
				t.Errorf("Missing = %q, want %q", info.Missing, tt.missing)
			}
			if len(info.Warnings) != tt.warnings {
				t.Errorf("Warnings = %q, want %d", info.Warnings, tt.warnings)
			}
			err = info.SupportError()
			if tt.schedExt != (err == nil) {
				t.Fatalf("SupportError() = %v with SchedExt %v", err, tt.schedExt)
			}
			if err != nil {
				var ue *UnsupportedError
				if !errors.Is(err, ErrNotSupported) || !errors.As(err, &ue) {
					t.Fatalf("SupportError() = %v, want an *UnsupportedError wrapping ErrNotSupported", err)
				}
				for _, m := range tt.missing {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not name %s", err, m)
					}
				}
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Inspect(filepath.Join(dir, "does-not-exist")); !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrBadImage) {
		t.Errorf("Inspect(missing) = %v, want ErrNotExist and not ErrBadImage", err)
	}
}

// TestInspectBadImage feeds Inspect files that are no kernel, or a broken
// one: each must give a *BadImageError naming the file and what is wrong,
// never a verdict on sched_ext.
func TestInspectBadImage(t *testing.T) {
	other := &btf.Struct{Name: "task_struct", Size: 8, Members: []btf.Member{{Name: "pid", Type: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}}}}
	good := func(t *testing.T, kind string) []byte {
		return fakeBzImage(t, "6.99.0", compress(t, kind, fakeVmlinux(t, "6.99.0", fullConfig)))
	}
	// payloadAt returns the offset of the payload inside a fakeBzImage.
	const payloadAt = 2 * 512
	tests := []struct {
		name   string
		image  func(t *testing.T) []byte
		config bool   // put a good config next to the image
		reason string // substring of the error
	}{
		{name: "empty", image: func(*testing.T) []byte { return nil }, reason: "empty file"},
		{name: "script", image: func(*testing.T) []byte { return []byte("#!/bin/sh\nexit 0\n") }, reason: `a script ("#!/bin/sh")`},
		{name: "text", image: func(*testing.T) []byte { return []byte("hello, world\n") }, reason: "a text file"},
		{name: "binary junk", image: func(*testing.T) []byte { return bytes.Repeat([]byte{0xde, 0xad, 0, 1}, 300) }, reason: "neither a bzImage"},
		{name: "cpio", image: func(*testing.T) []byte { return []byte("070701000000000000") }, reason: "cpio archive"},
		{name: "gzip data", image: func(t *testing.T) []byte { return compress(t, "gzip", []byte("x")) }, reason: "gzip data"},
		{name: "boot sector only", image: func(t *testing.T) []byte {
			b := make([]byte, 0x200)
			b[0x1fe], b[0x1ff] = 0x55, 0xaa
			return b
		}, reason: "truncated: a boot sector"},
		{name: "ELF program", image: func(t *testing.T) []byte {
			return buildELF(t, elfSpec{typ: elf.ET_DYN, machine: elf.EM_X86_64, btfSection: ".text"})
		}, reason: "an ELF shared object or PIE executable without a kernel's sections"},
		{name: "BPF object", image: func(t *testing.T) []byte {
			return buildELF(t, elfSpec{typ: elf.ET_REL, machine: elf.EM_BPF, btfSection: ".BTF"}, other)
		}, reason: "an ELF BPF object"},
		{name: "arm64 vmlinux", image: func(t *testing.T) []byte {
			return buildELF(t, elfSpec{typ: elf.ET_EXEC, machine: elf.EM_AARCH64, btfSection: ".BTF", empty: []string{".init.text"}, pvh: true}, other)
		}, reason: "a kernel for aarch64: scxvm boots x86-64 guests"},
		{name: "vmlinux without PVH note", image: func(t *testing.T) []byte {
			return buildELF(t, elfSpec{typ: elf.ET_EXEC, machine: elf.EM_X86_64, btfSection: ".BTF", empty: []string{".init.text", "__ex_table"}}, other)
		}, reason: "an ELF vmlinux without a PVH entry note"},
		{name: "truncated ELF vmlinux", image: func(t *testing.T) []byte {
			b := vmlinuxWithBTF(t, other)
			return b[:len(b)-10]
		}, reason: "corrupt or truncated ELF file"},
		{name: "truncated header", image: func(t *testing.T) []byte { return good(t, "gzip")[:0x210] }, reason: "not a Linux kernel"},
		{name: "truncated bzImage", image: func(t *testing.T) []byte {
			b := good(t, "zstd")
			return b[:payloadAt+100]
		}, config: true, reason: "truncated: the boot header puts the compressed kernel at bytes [1024, "},
		{name: "syssize beyond the file", image: func(t *testing.T) []byte {
			b := good(t, "gzip")
			binary.LittleEndian.PutUint32(b[offSysSize:], uint32(len(b)))
			return b
		}, config: true, reason: "truncated: the boot header says"},
		{name: "payload too large", image: func(t *testing.T) []byte {
			b := fakeBzImage(t, "6.99", []byte{1, 2})
			binary.LittleEndian.PutUint32(b[offPayloadLength:], 1<<30)
			return b
		}, reason: "truncated"},
		{name: "unknown compression", image: func(t *testing.T) []byte {
			return fakeBzImage(t, "6.99", bytes.Repeat([]byte{0x42}, 64))
		}, config: true, reason: "no known compression format"},
		{name: "corrupt gzip payload", image: func(t *testing.T) []byte {
			b := good(t, "gzip")
			b[payloadAt+40] ^= 0xff
			return b
		}, config: true, reason: "corrupt compressed kernel: gzip payload"},
		{name: "corrupt zstd payload", image: func(t *testing.T) []byte {
			b := good(t, "zstd")
			for i := payloadAt + 20; i < payloadAt+60; i++ {
				b[i] = 0
			}
			return b
		}, config: true, reason: "corrupt compressed kernel: zstd payload"},
		{name: "recorded size mismatch", image: func(t *testing.T) []byte {
			p := compress(t, "xz", fakeVmlinux(t, "6.99.0", ""))
			binary.LittleEndian.PutUint32(p[len(p)-4:], 12345)
			return fakeBzImage(t, "6.99.0", p)
		}, config: true, reason: "the image records 12345"},
		{name: "payload not ELF", image: func(t *testing.T) []byte {
			return fakeBzImage(t, "6.99.0", compress(t, "gzip", []byte("not an ELF file at all")))
		}, config: true, reason: "result is not an ELF file"},
		{name: "corrupt embedded config", image: func(t *testing.T) []byte {
			v := fakeVmlinux(t, "6.99.0", "")
			v = append(v, "IKCFG_STgarbageIKCFG_ED"...)
			return fakeBzImage(t, "6.99.0", compress(t, "gzip", v))
		}, reason: "corrupt: embedded config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, filepath.Join(dir, "vmlinuz"), tt.image(t))
			if tt.config {
				// A good config must not hide a broken image.
				writeFile(t, filepath.Join(dir, "config"), []byte(fullConfig))
			}
			info, err := Inspect(path)
			var bad *BadImageError
			if !errors.Is(err, ErrBadImage) || !errors.As(err, &bad) {
				t.Fatalf("Inspect = %+v, %v; want a *BadImageError", info, err)
			}
			if errors.Is(err, ErrNotSupported) {
				t.Errorf("%v also matches ErrNotSupported", err)
			}
			if bad.Path != path || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not contain %q", err, tt.reason)
			}
			var out bytes.Buffer
			if err := Check(&out, path); !errors.Is(err, ErrBadImage) {
				t.Errorf("Check = %v, want ErrBadImage", err)
			}
		})
	}
}

// TestInspectSystemBinary is the case a user types by mistake: a program
// of the host given as --kernel.
func TestInspectSystemBinary(t *testing.T) {
	exe, err := os.Executable() // this test binary: an ELF program
	if err != nil {
		t.Fatal(err)
	}
	_, err = Inspect(exe)
	if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "without a kernel's sections") {
		t.Fatalf("Inspect(%s) = %v, want ErrBadImage: without a kernel's sections", exe, err)
	}
	if _, err := Lookup(t.TempDir(), exe); !errors.Is(err, ErrBadImage) {
		t.Errorf("Lookup(%s) = %v, want ErrBadImage", exe, err)
	}
}

// TestInspectUnsupportedCompression: a payload this package cannot
// decompress (lzo) is not a broken image; the config next to it decides.
func TestInspectUnsupportedCompression(t *testing.T) {
	dir := t.TempDir()
	payload := append([]byte{0x89, 'L', 'Z', 'O', 0x00}, make([]byte, 64)...)
	path := writeFile(t, filepath.Join(dir, "vmlinuz"), fakeBzImage(t, "6.99.0", payload))
	writeFile(t, filepath.Join(dir, "config"), []byte(fullConfig))
	info, err := Inspect(path)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if !info.SchedExt || info.Compression != "lzo" || len(info.Notes) == 0 || !strings.Contains(info.Notes[0], "cannot decompress") {
		t.Errorf("Inspect = SchedExt %v, compression %q, notes %q; want supported, lzo, a note", info.SchedExt, info.Compression, info.Notes)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good", "bzImage"), fakeBzImage(t, "6.99.0", compress(t, "gzip", fakeVmlinux(t, "6.99.0", fullConfig))))
	bad := writeFile(t, filepath.Join(dir, "bad", "bzImage"), fakeBzImage(t, "6.12.0", compress(t, "gzip", fakeVmlinux(t, "6.12.0", withoutOption(fullConfig, "CONFIG_SCHED_CLASS_EXT")))))

	var out bytes.Buffer
	if err := Check(&out, good); err != nil {
		t.Fatalf("Check(good) = %v\n%s", err, out.String())
	}
	for _, want := range []string{"release:   6.99.0", "sched_ext: supported", "config:    ikconfig"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	err := Check(&out, bad)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Check(bad) = %v, want ErrNotSupported", err)
	}
	for _, want := range []string{"sched_ext: NOT supported", "missing: CONFIG_SCHED_CLASS_EXT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(fullConfig + "# CONFIG_FOO is not set\nCONFIG_BAR=n\nnot a line\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		value            string
		builtin, enabled bool
	}{
		{"CONFIG_BPF", "y", true, true},
		{"BPF", "y", true, true},
		{"VSOCKETS", "m", false, true},
		{"CONFIG_LOCALVERSION", `"-test"`, false, false},
		{"CONFIG_FOO", "", false, false},
		{"CONFIG_BAR", "", false, false},
	}
	for _, tt := range tests {
		if got := cfg.Get(tt.name); got != tt.value {
			t.Errorf("Get(%s) = %q, want %q", tt.name, got, tt.value)
		}
		if got := cfg.Builtin(tt.name); got != tt.builtin {
			t.Errorf("Builtin(%s) = %v, want %v", tt.name, got, tt.builtin)
		}
		if got := cfg.Enabled(tt.name); got != tt.enabled {
			t.Errorf("Enabled(%s) = %v, want %v", tt.name, got, tt.enabled)
		}
	}
}
