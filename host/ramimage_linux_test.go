package host

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCopyRAM copies a memory file with untouched pages, touched pages of
// zeros and pages of data: the image has the same contents, holes for
// both kinds of empty pages, and its offset at the end of the memory.
func TestCopyRAM(t *testing.T) {
	const size = 64 << 20
	qemu, src, err := newRAMFile()
	if err != nil {
		t.Fatal(err)
	}
	defer qemu.Close()
	defer src.Close()
	if err := src.Truncate(size); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	data := bytes.Repeat([]byte("guest"), 2000) // 10000 bytes: not page aligned
	for _, off := range []int64{0, 5 << 20, 5<<20 + 3*ramPage, size - 10000} {
		copy(want[off:], data)
		if _, err := src.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	// Touched but zero: 8 MiB the guest cleared.
	if _, err := src.WriteAt(make([]byte, 8<<20), 20<<20); err != nil {
		t.Fatal(err)
	}

	dst, err := os.Create(filepath.Join(t.TempDir(), "image"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := copyRAM(dst, src, size); err != nil {
		t.Fatal(err)
	}
	if off, _ := dst.Seek(0, io.SeekCurrent); off != size {
		t.Errorf("offset after the copy %d, want %d", off, size)
	}
	got := make([]byte, size)
	if _, err := dst.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the image differs from the memory")
	}
	fi, err := dst.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// Four data runs of at most 4 pages each; file systems may
	// allocate a little more.
	if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used > 1<<20 {
		t.Errorf("the image takes %d bytes on disk, want holes for the empty pages", used)
	}
}
