package cachedir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "4096", want: 4096},
		{in: "500K", want: 500 << 10},
		{in: "500M", want: 500 << 20},
		{in: "2G", want: 2 << 30},
		{in: "2g", want: 2 << 30},
		{in: "2GB", want: 2 << 30},
		{in: "2GiB", want: 2 << 30},
		{in: "1.5G", want: 3 << 29},
		{in: " 1T ", want: 1 << 40},
		{in: "0", bad: true},
		{in: "-1G", bad: true},
		{in: "", bad: true},
		{in: "G", bad: true},
		{in: "2X", bad: true},
		{in: "NaN", bad: true},
		{in: "lots", bad: true},
	} {
		got, err := ParseSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0:         "0 B",
		1023:      "1023 B",
		1536:      "1.5 KiB",
		329 << 20: "329.0 MiB",
		2 << 30:   "2.0 GiB",
		3 << 40:   "3.0 TiB",
		5 << 50:   "5120.0 TiB",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMaxFromEnv(t *testing.T) {
	t.Setenv(EnvMax, "")
	if n, err := MaxFromEnv(); n != DefaultMax || err != nil {
		t.Errorf("unset: %d, %v; want DefaultMax", n, err)
	}
	t.Setenv(EnvMax, "300M")
	if n, err := MaxFromEnv(); n != 300<<20 || err != nil {
		t.Errorf("300M: %d, %v", n, err)
	}
	if c := New(t.TempDir(), 0); c.Max() != 300<<20 {
		t.Errorf("New(root, 0).Max() = %d, want the environment's 300M", c.Max())
	}
	if c := New(t.TempDir(), 5); c.Max() != 5 {
		t.Errorf("New(root, 5).Max() = %d, want 5", c.Max())
	}
	t.Setenv(EnvMax, "big")
	if n, err := MaxFromEnv(); n != DefaultMax || err == nil {
		t.Errorf("invalid: %d, %v; want DefaultMax and an error", n, err)
	}
}

// fill creates an entry of size bytes used at the given time.
func fill(t *testing.T, c *Cache, area, name string, size int, used time.Time) string {
	t.Helper()
	p, err := c.WriteFile(area, name, func(f *os.File) error {
		_, err := f.Write(bytes.Repeat([]byte{'x'}, size))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, used, used); err != nil {
		t.Fatal(err)
	}
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestPruneLRUAcrossAreas(t *testing.T) {
	root := t.TempDir()
	c := New(root, 1) // replaced below once sizes are known
	base := time.Now().Add(-time.Hour)
	const blk = 64 << 10
	oldest := fill(t, c, Initramfs, "a.cpio", blk, base)
	second := fill(t, c, VMLinux, "b.elf", blk, base.Add(time.Minute))
	third := fill(t, c, Initramfs, "c.cpio", blk, base.Add(2*time.Minute))
	newest := fill(t, c, VMLinux, "d.elf", blk, base.Add(3*time.Minute))

	// Not entries: dot files, subdirectories, other directories.
	keep := []string{
		filepath.Join(root, Initramfs, ".lock"),
		filepath.Join(root, Initramfs, "sum", "memo"),
		filepath.Join(root, "kernels", "debian", "vmlinuz"),
	}
	for _, p := range keep {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{'k'}, blk), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, base.Add(-time.Hour), base.Add(-time.Hour))
	}

	total, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	each := total / 4
	if each < blk {
		t.Fatalf("usage %d for 4 entries of %d bytes", total, blk)
	}
	// Room for two and a half entries: the two oldest go.
	c = New(root, 2*each+each/2)
	res, err := c.Prune()
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{oldest: false, second: false, third: true, newest: true} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), !want, want)
		}
	}
	for _, p := range keep {
		if !exists(p) {
			t.Errorf("%s was removed: it is not an entry", p)
		}
	}
	if len(res.Removed) != 2 || res.Freed != 2*each || res.Kept != 2*each {
		t.Errorf("result: removed %d, freed %d, kept %d; want 2, %d, %d", len(res.Removed), res.Freed, res.Kept, 2*each, 2*each)
	}
	if res.Removed[0].Path != oldest || res.Removed[1].Path != second {
		t.Errorf("removed %s then %s, want oldest first", res.Removed[0].Path, res.Removed[1].Path)
	}
	// Within the bound: nothing more goes.
	if res, err := c.Prune(); err != nil || len(res.Removed) != 0 {
		t.Errorf("second prune removed %d (%v), want nothing", len(res.Removed), err)
	}
}

func TestAcquireTouchesAndProtects(t *testing.T) {
	root := t.TempDir()
	c := New(root, 1)
	base := time.Now().Add(-time.Hour)
	old := fill(t, c, Initramfs, "old.cpio", 4096, base)
	young := fill(t, c, Initramfs, "young.cpio", 4096, base.Add(time.Minute))

	// Using the old entry makes it the most recently used...
	l, err := c.Acquire(old)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(old); time.Since(fi.ModTime()) > time.Minute {
		t.Errorf("Acquire did not touch %s: mtime %v", old, fi.ModTime())
	}
	es, err := c.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Path != old || !es[0].InUse || es[1].InUse {
		t.Errorf("Entries = %+v, want old (in use) before young", es)
	}
	// ...and while held, a prune to 1 byte removes only the other one.
	res, err := c.Prune()
	if err != nil {
		t.Fatal(err)
	}
	if !exists(old) || exists(young) {
		t.Errorf("after prune: old exists %v (held), young exists %v (free)", exists(old), exists(young))
	}
	if res.InUse == 0 || res.Kept != res.InUse {
		t.Errorf("result %+v: want the held entry counted in use and kept", res)
	}
	l.Close()
	l.Close() // idempotent
	if _, err := c.PruneAll(); err != nil {
		t.Fatal(err)
	}
	if exists(old) {
		t.Error("released entry survived PruneAll")
	}
	if _, err := c.Acquire(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Acquire of a removed entry: %v, want fs.ErrNotExist", err)
	}
}

// TestAcquireAfterRemoval covers the race Acquire guards against: the file
// is opened, a prune removes it, then the lock is taken.
func TestAcquireAfterRemoval(t *testing.T) {
	c := New(t.TempDir(), 1)
	p := fill(t, c, VMLinux, "x.elf", 4096, time.Now())
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PruneAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := acquireOpen(f, p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock after removal: %v, want fs.ErrNotExist", err)
	}
	// The same when a new file took the name meanwhile (pruned, then
	// built again): the lease must be on the file at the path, and the
	// caller retries.
	p = fill(t, c, VMLinux, "y.elf", 4096, time.Now())
	f, err = os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	fill(t, c, VMLinux, "y.elf", 4096, time.Now())
	if _, err := acquireOpen(f, p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock after replacement: %v, want fs.ErrNotExist", err)
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	root := t.TempDir()
	c := New(root, DefaultMax)
	dir := c.Dir(Initramfs)
	os.MkdirAll(dir, 0o755)
	stale, fresh := filepath.Join(dir, ".tmp-1.cpio"), filepath.Join(dir, ".tmp-2")
	for _, p := range []string{stale, fresh} {
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := c.Prune(); err != nil {
		t.Fatal(err)
	}
	if exists(stale) || !exists(fresh) {
		t.Errorf("stale temp exists %v (want removed), fresh temp exists %v (want kept: a writer may be busy)", exists(stale), exists(fresh))
	}
}

func TestWriteFileError(t *testing.T) {
	c := New(t.TempDir(), DefaultMax)
	_, err := c.WriteFile(VMLinux, "v.elf", func(f *os.File) error {
		f.WriteString("half")
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("WriteFile succeeded despite the write error")
	}
	des, _ := os.ReadDir(c.Dir(VMLinux))
	if len(des) != 0 {
		t.Errorf("left behind: %v", des)
	}
	p, err := c.WriteFile(VMLinux, "v.elf", func(f *os.File) error { _, err := f.WriteString("whole"); return err })
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "whole" {
		t.Errorf("entry holds %q", b)
	}
	// An existing entry is never replaced (a lease on it stays valid).
	if _, err := c.WriteFile(VMLinux, "v.elf", func(f *os.File) error { _, err := f.WriteString("other"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "whole" {
		t.Errorf("entry replaced: holds %q", b)
	}
	if des, _ := os.ReadDir(c.Dir(VMLinux)); len(des) != 1 {
		t.Errorf("area holds %d files, want the entry alone", len(des))
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("entry mode %v, want 0644", fi.Mode().Perm())
	}
}

// TestConcurrentUseAndPrune runs writers, users and pruners at once with a
// bound that fits one entry: every lease must find its file whole until it
// is released.
func TestConcurrentUseAndPrune(t *testing.T) {
	c := New(t.TempDir(), 8<<10)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 30 {
				name := fmt.Sprintf("e%d.cpio", (w+i)%6)
				want := bytes.Repeat([]byte{byte('a' + (w+i)%6)}, 4096)
				var l *Lease
				for range 10 {
					p, err := c.WriteFile(Initramfs, name, func(f *os.File) error { _, err := f.Write(want); return err })
					if err != nil {
						errs <- err
						return
					}
					if l, err = c.Acquire(p); err == nil {
						break
					} else if !errors.Is(err, fs.ErrNotExist) {
						errs <- err
						return
					}
				}
				if l == nil {
					errs <- fmt.Errorf("%s: never acquired", name)
					return
				}
				if _, err := c.Prune(); err != nil {
					errs <- err
				}
				got, err := os.ReadFile(l.Path())
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("%s held but unreadable or changed: %v", name, err)
				}
				l.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	es, _ := c.Entries()
	if n := len(es); n > 2 {
		t.Errorf("%d entries left, want the bound to hold them to about one: %v", n, slices.Collect(func(yield func(string) bool) {
			for _, e := range es {
				yield(filepath.Base(e.Path))
			}
		}))
	}
}
