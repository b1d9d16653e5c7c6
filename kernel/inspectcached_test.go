package kernel

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestInspectCached checks that a bzImage whose vmlinux is cached gives
// the same Info as a full Inspect, without decompressing, and that its
// embedded config is read from the cached vmlinux.
func TestInspectCached(t *testing.T) {
	k := requireKernel(t, Build612)
	dir := t.TempDir()
	// No config next to the copy: the embedded one (IKCONFIG) is needed.
	img := filepath.Join(dir, "bzImage")
	b, err := os.ReadFile(k.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	t0 := time.Now()
	want, err := Inspect(img)
	full := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing cached yet: the same as Inspect.
	if got, err := InspectCached(cache, img); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("uncached: %+v, %v\nwant %+v", got, err, want)
	}
	p, err := ExtractPVH(cache, img, 0)
	if err != nil {
		t.Skipf("no PVH vmlinux: %v", err)
	}
	p.Close()
	t0 = time.Now()
	got, err := InspectCached(cache, img)
	cached := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cached: %+v\nwant %+v", got, want)
	}
	t.Logf("inspect %v, with the cached vmlinux %v (config source %s)", full, cached, got.ConfigSource)
	// With a config next to the image the vmlinux is not read at all:
	// a damaged cached vmlinux goes unnoticed.
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte("CONFIG_SCHED_CLASS_EXT=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.Path, []byte("garbage"), 0o644)
	if _, err := InspectCached(cache, img); err != nil {
		t.Errorf("with a config file: %v", err)
	}
}
