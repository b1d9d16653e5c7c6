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

// elfWithSection is elfWithBTF with the section named secName (4 bytes).
func elfWithSection(t *testing.T, secName string, types ...btf.Type) []byte {
	t.Helper()
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(secName) != 4 {
		t.Fatalf("section name %q must have 4 bytes", secName)
	}
	shstrtab := []byte("\x00" + secName + "\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	btfOff := uint64(ehsize)
	strOff := btfOff + uint64(len(raw))
	shOff := (strOff + uint64(len(shstrtab)) + 7) &^ 7

	var out bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shentsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&out, binary.LittleEndian, hdr)
	out.Write(raw)
	out.Write(shstrtab)
	out.Write(make([]byte, int(shOff)-out.Len()))
	sections := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Off: btfOff, Size: uint64(len(raw)), Addralign: 4},
		{Name: 6, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstrtab)), Addralign: 1},
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
			image:     func(t *testing.T) []byte { return elfWithBTF(t, schedExtOps) },
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
	tests := map[string][]byte{
		"not a kernel":     []byte("hello, world\n"),
		"empty":            nil,
		"truncated header": fakeBzImage(t, "6.99", nil)[:0x210],
		"payload too large": func() []byte {
			b := fakeBzImage(t, "6.99", []byte{1, 2})
			binary.LittleEndian.PutUint32(b[offPayloadLength:], 1<<30)
			return b
		}(),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(dir, strings.ReplaceAll(name, " ", "_")), data)
			info, err := Inspect(path)
			if err == nil && info.SchedExt {
				t.Fatalf("Inspect(%s) = supported, want an error or unsupported", name)
			}
		})
	}
	if _, err := Inspect(filepath.Join(dir, "does-not-exist")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Inspect(missing) = %v, want ErrNotExist", err)
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
