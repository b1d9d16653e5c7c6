package initramfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenBoundedCache checks the cache accounting of images: a build
// prunes the least recently used images beyond the bound, never one that
// is held, and a cache hit counts as a use.
func TestOpenBoundedCache(t *testing.T) {
	in := t.TempDir()
	root := t.TempDir()
	cfgFor := func(name string) Config {
		data := writeFile(t, filepath.Join(in, name), []byte(name), 0o644)
		return Config{Agent: agentBin, Files: []File{{Src: data, Dst: "/data"}}, CacheDir: root}
	}
	a, err := Open(context.Background(), cfgFor("a"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Built || filepath.Dir(a.Path) != filepath.Join(root, "initramfs") {
		t.Fatalf("first Open = %+v, want a build in %s/initramfs", a, root)
	}
	fi, err := os.Stat(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	// A bound of one and a half images: each new build leaves room for
	// itself only, unless an older image is held.
	max := fi.Size() * 3 / 2
	cfgB := cfgFor("b")
	cfgB.CacheMax = max
	b, err := Open(context.Background(), cfgB)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Pruned) != 0 {
		t.Errorf("build of b pruned %v while a is held", b.Pruned)
	}
	a.Close()
	a.Close() // idempotent
	b.Close()

	// A cache hit of a makes b the least recently used.
	past := time.Now().Add(-time.Hour)
	os.Chtimes(a.Path, past, past)
	os.Chtimes(b.Path, past.Add(time.Minute), past.Add(time.Minute))
	cfgA := cfgFor("a")
	cfgA.CacheMax = max
	if a2, err := Open(context.Background(), cfgA); err != nil || a2.Built || a2.Path != a.Path {
		t.Fatalf("Open(a) again = %+v, %v; want the cached %s", a2, err, a.Path)
	} else {
		a2.Close()
	}
	cfgC := cfgFor("c")
	cfgC.CacheMax = max
	c, err := Open(context.Background(), cfgC)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Pruned) != 2 || c.Pruned[0] != b.Path || c.Pruned[1] != a.Path {
		t.Errorf("build of c pruned %v, want b then a (least recently used first)", c.Pruned)
	}
	if _, err := os.Stat(c.Path); err != nil {
		t.Errorf("the new image itself: %v", err)
	}
	// Build still returns a usable path after a prune took its image.
	if p, err := Build(context.Background(), cfgB); err != nil || p != b.Path {
		t.Errorf("rebuild of b = %s, %v", p, err)
	} else if _, err := os.Stat(p); err != nil {
		t.Errorf("rebuilt image: %v", err)
	}
}
