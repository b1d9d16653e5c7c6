package debarchive

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	ulikunitz "github.com/ulikunitz/xz"
)

// The files in testdata are 96 KiB of text compressed by xz-utils 5.4:
//
//	xz -T2 --block-size=16KiB [--check=crc32|sha256]  blocks-*.xz
//	xz -T1                                              noblocksize.xz
//	two files of xz -T2 --block-size=16KiB, concatenated twostreams.xz
//
// Multi-threaded xz records the block sizes in the block headers (what
// dpkg-deb writes for large packages); single-threaded xz does not.

// wantXZ decodes an xz file with another decoder than the one under test.
func wantXZ(t *testing.T, data []byte) []byte {
	t.Helper()
	r, err := ulikunitz.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readXZFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeXZ(data []byte) ([]byte, error) {
	r, err := newXZReader(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestXZReaderDecodes(t *testing.T) {
	for _, name := range []string{"blocks-crc64.xz", "blocks-crc32.xz", "blocks-sha256.xz", "noblocksize.xz", "twostreams.xz"} {
		t.Run(name, func(t *testing.T) {
			data := readXZFile(t, name)
			want := wantXZ(t, data)
			got, err := decodeXZ(data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes, want the %d bytes of another decoder", len(got), len(want))
			}
		})
	}
}

// TestXZReaderParallel checks that the blocks of a multi-threaded file are
// found by their headers (and so decoded in parallel), not decoded by the
// sequential fallback.
func TestXZReaderParallel(t *testing.T) {
	data := readXZFile(t, "blocks-crc64.xz")
	r, err := newXZReader(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if p := r.(*xzParallel); p.seq != nil {
		t.Fatal("a file with block sizes in its headers was decoded sequentially")
	}
}

func TestXZReaderDamage(t *testing.T) {
	good := readXZFile(t, "blocks-crc64.xz")
	single := readXZFile(t, "noblocksize.xz")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated in a block", good[:len(good)/2], ""},
		{"truncated footer", good[:len(good)-3], ""},
		{"byte flipped in block data", flip(good, 200), ""},
		{"byte flipped in the index", flip(good, len(good)-20), ""},
		{"byte flipped in a block header", flip(good, 14), ""},
		{"sequential file damaged", flip(single, len(single)/2), ""},
		{"not xz", []byte("this is not an xz file at all"), "bad stream header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeXZ(tt.data)
			if err == nil {
				t.Fatalf("decoded %d bytes of a damaged file without an error", len(got))
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func flip(data []byte, at int) []byte {
	out := bytes.Clone(data)
	out[at] ^= 0x55
	return out
}

// TestXZReaderCloseEarly closes a reader before its end: the decoders
// stop and no goroutine is left behind.
func TestXZReaderCloseEarly(t *testing.T) {
	data := readXZFile(t, "blocks-crc64.xz")
	before := runtime.NumGoroutine()
	for range 20 {
		r, err := newXZReader(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if _, err := r.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read after Close succeeded")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after closing, %d before", n, before)
	}
}

// BenchmarkXZ compares the block-parallel decoder with xi2/xz alone on a
// multi-threaded xz file: SCXVM_XZ_BENCH names one (a .deb's data.tar.xz,
// say); without it, the test file.
func BenchmarkXZ(b *testing.B) {
	var data []byte
	var err error
	if f := os.Getenv("SCXVM_XZ_BENCH"); f != "" {
		data, err = os.ReadFile(f)
	} else {
		data, err = os.ReadFile(filepath.Join("testdata", "blocks-crc64.xz"))
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Run("parallel", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeXZ(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("xi2", func(b *testing.B) {
		for b.Loop() {
			r, err := Decompress("x.xz", bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
