package kernel

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("HOME", "/h/u")
	t.Setenv("SCXVM_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "")
	if got := DefaultCacheDir(); got != "/h/u/.cache/scxvm" {
		t.Errorf("with HOME only: %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := DefaultCacheDir(); got != "/xdg/scxvm" {
		t.Errorf("with XDG_CACHE_HOME: %q", got)
	}
	t.Setenv("SCXVM_CACHE_DIR", "/c")
	if got := DefaultCacheDir(); got != "/c" {
		t.Errorf("with SCXVM_CACHE_DIR: %q", got)
	}
}

// fakeCache lays out a cache the way `scxvm kernel fetch` does.
func fakeCache(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	kdir := filepath.Join(cache, "kernels", "debian-7.3.4-1")
	writeFile(t, filepath.Join(kdir, "vmlinuz"), fakeBzImage(t, "7.3.4+deb13-amd64", compress(t, "gzip", fakeVmlinux(t, "7.3.4+deb13-amd64", ""))))
	writeFile(t, filepath.Join(kdir, "config"), []byte(fullConfig))
	writeFile(t, filepath.Join(kdir, "release"), []byte("7.3.4+deb13-amd64\n"))
	writeFile(t, filepath.Join(kdir, ".complete"), nil)
	writeFile(t, filepath.Join(kdir, "modules", "order"), []byte("vsock.ko\nvmw_vsock_virtio_transport_common.ko\n"))
	writeFile(t, filepath.Join(kdir, "modules", "vsock.ko"), []byte("x"))
	writeFile(t, filepath.Join(kdir, "modules", "vmw_vsock_virtio_transport_common.ko"), []byte("x"))
	if err := os.Symlink("debian-7.3.4-1", filepath.Join(cache, "kernels", "debian")); err != nil {
		t.Fatal(err)
	}
	// A scheduler (any ELF will do) and a non-scheduler file.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cache, "schedulers", "debian-7.3.4-1", "scx_simple"), exe)
	writeFile(t, filepath.Join(cache, "schedulers", "debian-7.3.4-1", "scx_broken"), []byte("not elf"))
	writeFile(t, filepath.Join(cache, "schedulers", "debian-7.3.4-1", "build.log"), []byte("log"))
	return cache
}

func TestLookup(t *testing.T) {
	cache := fakeCache(t)
	for _, name := range []string{"", Debian} {
		k, err := Lookup(cache, name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		kdir := filepath.Join(cache, "kernels", "debian-7.3.4-1")
		if k.Dir != kdir || k.Image != filepath.Join(kdir, "vmlinuz") || k.Config != filepath.Join(kdir, "config") {
			t.Errorf("Lookup(%q) = %+v", name, k)
		}
		if k.Release != "7.3.4+deb13-amd64" {
			t.Errorf("Release = %q", k.Release)
		}
		want := []string{filepath.Join(kdir, "modules", "vsock.ko"), filepath.Join(kdir, "modules", "vmw_vsock_virtio_transport_common.ko")}
		if !slices.Equal(k.Modules, want) {
			t.Errorf("Modules = %q, want %q", k.Modules, want)
		}
		scheds, err := Schedulers(cache, k)
		if err != nil {
			t.Fatalf("Schedulers: %v", err)
		}
		if len(scheds) != 1 || scheds["scx_simple"] == "" {
			t.Errorf("Schedulers = %v, want only scx_simple", scheds)
		}
	}

	// A path: config and modules come from next to the image.
	k, err := Lookup(cache, filepath.Join(cache, "kernels", "debian", "vmlinuz"))
	if err != nil {
		t.Fatalf("Lookup(path): %v", err)
	}
	if k.Release != "7.3.4+deb13-amd64" || k.Config == "" || len(k.Modules) != 2 || k.Dir != "" {
		t.Errorf("Lookup(path) = %+v", k)
	}
	if _, err := Schedulers(cache, k); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Schedulers(path kernel) = %v, want ErrNotExist", err)
	}
}

func TestLookupMissing(t *testing.T) {
	cache := t.TempDir()
	tests := []struct{ name, hint string }{
		{Debian, "scxvm kernel fetch"},
		{Build612, "make kernel-build"},
		{Stock612, "scxvm kernel fetch stock-6.12"},
		{filepath.Join(cache, "nope", "bzImage"), ""},
	}
	for _, tt := range tests {
		_, err := Lookup(cache, tt.name)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Lookup(%q) = %v, want ErrNotExist", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.hint) {
			t.Errorf("Lookup(%q) = %q, want the hint %q", tt.name, err, tt.hint)
		}
	}

	// An incomplete entry (no .complete marker) is missing too.
	writeFile(t, filepath.Join(cache, "kernels", "debian", "vmlinuz"), []byte("partial"))
	if _, err := Lookup(cache, Debian); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup(incomplete) = %v, want ErrNotExist", err)
	}
}

func TestLookupModuleListedButMissing(t *testing.T) {
	cache := fakeCache(t)
	os.Remove(filepath.Join(cache, "kernels", "debian", "modules", "vsock.ko"))
	if _, err := Lookup(cache, Debian); err == nil || !strings.Contains(err.Error(), "vsock.ko") {
		t.Errorf("Lookup = %v, want an error naming vsock.ko", err)
	}
}
