package kernel

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
)

// TestRealBadImages breaks copies of the cached kernels the ways a failed
// build or copy does, with the real config next to them (which alone would
// say "supported"): Inspect must call each a bad image, and accept the
// intact copy and the ELF vmlinux.
func TestRealBadImages(t *testing.T) {
	k := requireKernel(t, Debian)
	raw, err := os.ReadFile(k.Image)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), raw...)
	for i := len(raw) / 2; i < len(raw)/2+64; i++ {
		flipped[i] ^= 0x5a
	}
	for _, tt := range []struct {
		name   string
		data   []byte
		reason string // "" means a good image
	}{
		{"intact", raw, ""},
		{"truncated", raw[:len(raw)/2], "truncated: the boot header says"},
		{"corrupt payload", flipped, "corrupt compressed kernel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each decompresses a whole kernel
			dir := t.TempDir()
			path := writeFile(t, filepath.Join(dir, "vmlinuz"), tt.data)
			writeFile(t, filepath.Join(dir, "config"), cfg)
			info, err := Inspect(path)
			if tt.reason == "" {
				if err != nil || !info.SchedExt {
					t.Fatalf("Inspect(intact copy) = %+v, %v; want supported", info, err)
				}
				return
			}
			if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Inspect = %v, want ErrBadImage with %q", err, tt.reason)
			}
			t.Log(err)
		})
	}
	t.Run("vmlinux", func(t *testing.T) {
		t.Parallel()
		if k.VMLinux == "" {
			testenv.Prereq(t, "no vmlinux extracted for the Debian kernel (run `make schedulers`)")
		}
		info, err := Inspect(k.VMLinux)
		if err != nil || info.Format != "elf" || info.Release != k.Release {
			t.Fatalf("Inspect(%s) = %+v, %v; want an ELF kernel of release %s", k.VMLinux, info, err, k.Release)
		}
		// The same vmlinux with its PVH note turned into another note
		// type: QEMU refuses to boot it, so it is a bad image.
		raw, err := os.ReadFile(k.VMLinux)
		if err != nil {
			t.Fatal(err)
		}
		note := []byte{4, 0, 0, 0, 8, 0, 0, 0, xenElfnotePhys32Entry, 0, 0, 0, 'X', 'e', 'n', 0}
		i := bytes.Index(raw, note)
		if i < 0 {
			t.Fatalf("%s: no PVH note found", k.VMLinux)
		}
		raw[i+8] = 0x7f
		path := writeFile(t, filepath.Join(t.TempDir(), "vmlinux"), raw)
		if _, err := Inspect(path); !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "without a PVH entry note") {
			t.Errorf("Inspect(vmlinux without PVH note) = %v, want ErrBadImage", err)
		}
	})
}
