package kernel

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree makes a kernel source tree's top level in a temp dir: the
// marker files, and each of files (path -> source file to copy, or "" for
// an empty file).
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{"Makefile": "", "Kconfig": "", "scripts/kconfig/merge_config.sh": ""}
	for p, src := range base {
		if _, ok := files[p]; !ok {
			files[p] = src
		}
	}
	for p, src := range files {
		dst := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if src == "" {
			if err := os.WriteFile(dst, nil, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		copyFile(t, src, dst)
	}
	return dir
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenTreeErrors: a directory that cannot be booted says what was
// looked for and what to do, and matches ErrBadImage (exit 132).
func TestOpenTreeErrors(t *testing.T) {
	self, err := os.Executable() // an ELF without a PVH note
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "Makefile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(empty, "Makefile")
	tests := []struct {
		name    string
		dir     string
		notTree bool
		want    []string
	}{
		{"no tree", empty, true, []string{"not a kernel tree", "looked for Makefile, Kconfig, scripts/kconfig", "Makefile, .config, source", "found only Makefile"}},
		{"a file", file, true, []string{"not a directory"}},
		{"not configured", fakeTree(t, map[string]string{}), false, []string{"no .config", "scxvm kernel build"}},
		{"not built", fakeTree(t, map[string]string{".config": ""}), false, []string{"not built", "arch/x86/boot/bzImage and vmlinux", "make bzImage"}},
		{"vmlinux without PVH", fakeTree(t, map[string]string{".config": "", "vmlinux": self}), false, []string{"no PVH entry note", "CONFIG_PVH=y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenTree(tt.dir)
			if err == nil {
				t.Fatal("OpenTree succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !errors.Is(err, ErrBadImage) {
				t.Errorf("error %v does not match ErrBadImage", err)
			}
			if errors.Is(err, ErrNotTree) != tt.notTree {
				t.Errorf("errors.Is(%v, ErrNotTree) = %v, want %v", err, !tt.notTree, tt.notTree)
			}
			// Lookup gives the same error for a directory.
			if _, lerr := Lookup(t.TempDir(), tt.dir); tt.dir != file && (lerr == nil || lerr.Error() != err.Error()) {
				t.Errorf("Lookup(%s) = %v, want %v", tt.dir, lerr, err)
			}
		})
	}
}

// TestTreeKernel builds fake trees from the cached 6.12 kernel's files and
// checks what Lookup, Inspect and Schedulers make of them.
func TestTreeKernel(t *testing.T) {
	k := requireKernel(t, Build612)
	if k.VMLinux == "" {
		t.Skipf("SKIPPING: %s has no vmlinux (make schedulers extracts it)", k.Dir)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("bzImage", func(t *testing.T) {
		dir := fakeTree(t, map[string]string{
			"arch/x86/boot/bzImage":         k.Image,
			".config":                       k.Config,
			"vmlinux":                       k.VMLinux,
			"include/config/kernel.release": k.Dir + "/release",
		})
		got, err := Lookup(t.TempDir(), dir)
		if err != nil {
			t.Fatal(err)
		}
		want := &Kernel{Name: dir, Tree: dir, Image: filepath.Join(dir, "arch/x86/boot/bzImage"), Config: filepath.Join(dir, ".config"),
			VMLinux: filepath.Join(dir, "vmlinux"), Release: k.Release}
		if got.Name != want.Name || got.Tree != want.Tree || got.Image != want.Image || got.Config != want.Config || got.VMLinux != want.VMLinux || got.Release != want.Release || got.Dir != "" {
			t.Errorf("Lookup = %+v, want %+v", got, want)
		}
		info, err := Inspect(got.Image)
		if err != nil {
			t.Fatal(err)
		}
		if info.ConfigSource != SourceFile+got.Config || !info.SchedExt {
			t.Errorf("Inspect: config from %s, sched_ext %v; want the tree's .config, supported", info.ConfigSource, info.SchedExt)
		}
		// Schedulers: none built yet, then the tree's.
		_, err = Schedulers(t.TempDir(), got)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "make -C "+filepath.Join(dir, "tools/sched_ext")) {
			t.Errorf("Schedulers without any = %v, want ErrNotExist naming make -C DIR/tools/sched_ext", err)
		}
		bin := filepath.Join(dir, "tools/sched_ext/build/bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, self, filepath.Join(bin, "scx_simple"))
		if err := os.WriteFile(filepath.Join(bin, "scx_notelf"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		scheds, err := Schedulers(t.TempDir(), got)
		if err != nil || len(scheds) != 1 || scheds["scx_simple"] != filepath.Join(bin, "scx_simple") {
			t.Errorf("Schedulers = %v, %v; want scx_simple from %s", scheds, err, bin)
		}
	})
	t.Run("vmlinux only", func(t *testing.T) {
		dir := fakeTree(t, map[string]string{".config": k.Config, "vmlinux": k.VMLinux})
		tr, err := OpenTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Image != filepath.Join(dir, "vmlinux") || tr.Release != "" {
			t.Errorf("Image %s release %q, want the vmlinux and no release", tr.Image, tr.Release)
		}
		info, err := Inspect(tr.Image)
		if err != nil || info.ConfigSource != SourceFile+tr.Config || info.Release != k.Release {
			t.Errorf("Inspect(vmlinux) = %+v, %v; want the tree's .config and release %s", info, err, k.Release)
		}
	})
	t.Run("build directory", func(t *testing.T) {
		src := fakeTree(t, map[string]string{})
		out := t.TempDir()
		for p, from := range map[string]string{"Makefile": "", ".config": k.Config, "arch/x86/boot/bzImage": k.Image} {
			dst := filepath.Join(out, p)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if from == "" {
				if err := os.WriteFile(dst, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				copyFile(t, from, dst)
			}
		}
		if err := os.Symlink(src, filepath.Join(out, "source")); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(src, "tools/sched_ext/build/bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, self, filepath.Join(bin, "scx_qmap"))
		tr, err := OpenTree(out)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Source != src || tr.VMLinux != "" || len(tr.Modules) != 0 {
			t.Errorf("tree %+v: want source %s, no vmlinux, no modules", tr, src)
		}
		scheds, err := Schedulers("", tr.Kernel(out))
		if err != nil || scheds["scx_qmap"] != filepath.Join(bin, "scx_qmap") {
			t.Errorf("Schedulers = %v, %v; want the source tree's scx_qmap", scheds, err)
		}
	})
	t.Run("find from below", func(t *testing.T) {
		dir := fakeTree(t, map[string]string{".config": k.Config, "arch/x86/boot/bzImage": k.Image, "tools/sched_ext/README.md": ""})
		tr, err := FindTree(filepath.Join(dir, "tools/sched_ext"))
		if err != nil || tr == nil || tr.Dir != dir {
			t.Fatalf("FindTree(tools/sched_ext) = %+v, %v; want %s", tr, err, dir)
		}
		// Subdirectories with a Makefile and Kconfig of their own are not
		// the top.
		if IsTree(filepath.Join(dir, "tools")) || IsTree(filepath.Join(dir, "arch/x86")) {
			t.Error("IsTree true below the top")
		}
		if tr, err := FindTree(t.TempDir()); tr != nil || err != nil {
			t.Errorf("FindTree(outside) = %+v, %v; want nothing", tr, err)
		}
		unbuilt := fakeTree(t, map[string]string{})
		if _, err := FindTree(unbuilt); !errors.Is(err, ErrBadImage) || errors.Is(err, ErrNotTree) {
			t.Errorf("FindTree(unbuilt tree) = %v, want a tree error", err)
		}
	})
	t.Run("vsock modules", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(cfg, []byte("CONFIG_VSOCKETS=m\nCONFIG_VIRTIO_VSOCKETS=m\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{".config": cfg, "arch/x86/boot/bzImage": k.Image}
		for _, m := range treeVsockModules {
			files[m] = ""
		}
		dir := fakeTree(t, files)
		tr, err := OpenTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Modules) != 3 || !strings.HasSuffix(tr.Modules[0], "/vsock.ko") || !strings.HasSuffix(tr.Modules[2], "/vmw_vsock_virtio_transport.ko") {
			t.Errorf("Modules = %v, want the three vsock modules in load order", tr.Modules)
		}
	})
}
