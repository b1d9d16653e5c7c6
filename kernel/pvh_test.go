package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/cachedir"
)

// elfNote is one entry of a PT_NOTE segment.
type elfNote struct {
	name string
	typ  uint32
	desc []byte
}

// elfWithNotes builds a minimal ELF64 executable whose only segment is a
// PT_NOTE holding notes, followed by filler bytes (the "kernel").
func elfWithNotes(t *testing.T, filler int, notes ...elfNote) []byte {
	t.Helper()
	var nb bytes.Buffer
	pad := func() {
		for nb.Len()%4 != 0 {
			nb.WriteByte(0)
		}
	}
	for _, n := range notes {
		binary.Write(&nb, binary.LittleEndian, [3]uint32{uint32(len(n.name) + 1), uint32(len(n.desc)), n.typ})
		nb.WriteString(n.name + "\x00")
		pad()
		nb.Write(n.desc)
		pad()
	}
	const ehsize, phentsize = 64, 56
	noteOff := uint64(ehsize + phentsize)
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: ehsize, Ehsize: ehsize, Phentsize: phentsize, Phnum: 1,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, hdr)
	binary.Write(&out, binary.LittleEndian, elf.Prog64{
		Type: uint32(elf.PT_NOTE), Off: noteOff, Filesz: uint64(nb.Len()), Memsz: uint64(nb.Len()), Align: 4,
	})
	out.Write(nb.Bytes())
	out.Write(bytes.Repeat([]byte("kernel text "), filler/12))
	return out.Bytes()
}

var (
	pvhNote   = elfNote{"Xen", xenElfnotePhys32Entry, []byte{0x00, 0x31, 0xaf, 0x03}}
	otherXen  = elfNote{"Xen", 6, []byte("linux\x00")}
	otherName = elfNote{"GNU", xenElfnotePhys32Entry, []byte{1, 2, 3, 4}} // right type, wrong owner
)

func TestHasPVHNote(t *testing.T) {
	for _, tc := range []struct {
		name  string
		notes []elfNote
		want  bool
	}{
		{"pvh note", []elfNote{pvhNote}, true},
		{"pvh note after others", []elfNote{otherXen, otherName, pvhNote}, true},
		{"other xen notes", []elfNote{otherXen}, false},
		{"type 18 of another owner", []elfNote{otherName}, false},
		{"no notes", nil, false},
	} {
		ef, err := elf.NewFile(bytes.NewReader(elfWithNotes(t, 0, tc.notes...)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := HasPVHNote(ef); got != tc.want {
			t.Errorf("%s: HasPVHNote = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestExtractPVH(t *testing.T) {
	withNote := elfWithNotes(t, 64<<10, otherXen, pvhNote)
	for _, kind := range []string{"gzip", "zstd", "xz", "none"} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			img := writeFile(t, filepath.Join(t.TempDir(), "bzImage"), fakeBzImage(t, "6.99.0", compress(t, kind, withNote)))
			p, err := ExtractPVH(root, img, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !p.Extracted || filepath.Dir(p.Path) != filepath.Join(root, cachedir.VMLinux) {
				t.Errorf("first call: %+v, want an extraction into %s", p, filepath.Join(root, cachedir.VMLinux))
			}
			got, err := os.ReadFile(p.Path)
			if err != nil || !bytes.HasPrefix(got, withNote) {
				t.Fatalf("extracted vmlinux (%d bytes, %v) is not the payload's ELF (%d bytes)", len(got), err, len(withNote))
			}
			// The second use is a cache hit on the same file.
			p2, err := ExtractPVH(root, img, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer p2.Close()
			if p2.Extracted || p2.Path != p.Path {
				t.Errorf("second call: %+v, want the cached %s", p2, p.Path)
			}
		})
	}
}

func TestExtractPVHKeyedByContent(t *testing.T) {
	root := t.TempDir()
	a := elfWithNotes(t, 4096, pvhNote)
	b := elfWithNotes(t, 8192, pvhNote)
	img := filepath.Join(t.TempDir(), "bzImage")
	writeFile(t, img, fakeBzImage(t, "6.99.0", compress(t, "gzip", a)))
	pa, err := ExtractPVH(root, img, 0)
	if err != nil {
		t.Fatal(err)
	}
	pa.Close()
	// A rebuilt kernel at the same path is another entry.
	writeFile(t, img, fakeBzImage(t, "6.99.0", compress(t, "gzip", b)))
	pb, err := ExtractPVH(root, img, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	if pb.Path == pa.Path || !pb.Extracted {
		t.Fatalf("rebuilt kernel got %+v, the old one %s", pb, pa.Path)
	}
	if got, _ := os.ReadFile(pb.Path); !bytes.Equal(got, b) {
		t.Error("the rebuilt kernel's entry holds another vmlinux")
	}
}

func TestExtractPVHFallbacks(t *testing.T) {
	lzo := append([]byte{0x89, 'L', 'Z', 'O', 0x00}, make([]byte, 64)...)
	for _, tc := range []struct {
		name, why string
		image     []byte
	}{
		{"no note", "no PVH entry note (build it with CONFIG_PVH=y)", fakeBzImage(t, "6.99.0", compress(t, "gzip", elfWithNotes(t, 4096, otherXen)))},
		{"unsupported compression", "lzo: payload compression not supported", fakeBzImage(t, "6.99.0", lzo)},
		{"corrupt payload", "gzip payload", fakeBzImage(t, "6.99.0", compress(t, "gzip", []byte("not an elf file at all")))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			img := writeFile(t, filepath.Join(t.TempDir(), "bzImage"), tc.image)
			for i := range 2 { // the second answer comes from the marker
				_, err := ExtractPVH(root, img, 0)
				if !errors.Is(err, ErrNoPVH) || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("call %d: %v, want ErrNoPVH saying %q", i+1, err, tc.why)
				}
			}
			des, _ := os.ReadDir(filepath.Join(root, cachedir.VMLinux))
			if len(des) != 1 || !strings.HasSuffix(des[0].Name(), ".nopvh") {
				t.Errorf("vmlinux area holds %v, want only the negative marker", des)
			}
		})
	}
}

func TestExtractPVHLeaseAndBound(t *testing.T) {
	root := t.TempDir()
	imgs := make([]string, 3)
	for i := range imgs {
		imgs[i] = writeFile(t, filepath.Join(t.TempDir(), "bzImage"), fakeBzImage(t, "6.99.0", compress(t, "gzip", elfWithNotes(t, (i+1)*64<<10, pvhNote))))
	}
	// A bound that holds about one vmlinux: each extraction prunes the
	// previous one, unless it is still held.
	held, err := ExtractPVH(root, imgs[0], 100<<10)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ExtractPVH(root, imgs[1], 100<<10)
	if err != nil {
		t.Fatal(err)
	}
	second.Close()
	if _, err := os.Stat(held.Path); err != nil {
		t.Fatalf("held vmlinux was pruned: %v", err)
	}
	held.Close()
	third, err := ExtractPVH(root, imgs[2], 100<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if len(third.Pruned) != 2 {
		t.Errorf("third extraction pruned %v, want the two released ones", third.Pruned)
	}
	for _, p := range []string{held.Path, second.Path} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived the bound after its release", p)
		}
	}
}

// TestRealKernelsPVH extracts the cached test kernels' vmlinux into a
// temporary cache: both are built with CONFIG_PVH.
func TestRealKernelsPVH(t *testing.T) {
	for _, name := range []string{Debian, Build612} {
		t.Run(name, func(t *testing.T) {
			k := requireKernel(t, name)
			p, err := ExtractPVH(t.TempDir(), k.Image, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ef, err := elf.Open(p.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			if !HasPVHNote(ef) {
				t.Error("extracted vmlinux has no PVH note")
			}
			if rel := bannerRelease(mustRead(t, p.Path)); rel != k.Release {
				t.Errorf("extracted vmlinux is release %q, the kernel %q", rel, k.Release)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkExtractPVHCached is the per-run cost of the PVH boot once the
// vmlinux is cached: hashing the image and taking the lease.
func BenchmarkExtractPVHCached(b *testing.B) {
	k, err := Lookup(DefaultCacheDir(), Debian)
	if err != nil {
		b.Skipf("SKIPPING: %v", err)
	}
	root := b.TempDir()
	p, err := ExtractPVH(root, k.Image, 0)
	if err != nil {
		b.Fatal(err)
	}
	p.Close()
	for b.Loop() {
		p, err := ExtractPVH(root, k.Image, 0)
		if err != nil || p.Extracted {
			b.Fatalf("%+v, %v: want a cache hit", p, err)
		}
		p.Close()
	}
}
