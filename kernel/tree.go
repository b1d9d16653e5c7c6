package kernel

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotTree is wrapped by the error for a directory that is no kernel
// tree at all (neither a source tree nor the output directory of a
// `make O=DIR` build).
var ErrNotTree = errors.New("not a kernel tree")

// Tree is a kernel developer's tree: a source tree built in place, or the
// output directory of an out-of-tree build (make O=DIR), with the files
// scxvm boots and checks.
type Tree struct {
	// Dir is the build directory (absolute): where .config and the
	// images are.
	Dir string
	// Source is the source tree: Dir itself, or the directory the
	// `source` link of an O= build directory points at.
	Source string
	// Image is arch/x86/boot/bzImage, or vmlinux when there is no
	// bzImage and vmlinux carries the PVH entry note QEMU boots it by.
	Image string
	// Config is the tree's .config.
	Config string
	// VMLinux is the tree's ELF vmlinux (its BTF), or "" when absent.
	VMLinux string
	// Release is include/config/kernel.release, or "" when absent.
	Release string
	// Modules are the tree's vsock modules (plain .ko files, load order)
	// when its .config builds them as modules and they are built.
	Modules []string
}

// TreeError says why a directory cannot be used as a kernel tree and what
// was looked for. It matches ErrBadImage (there is no usable kernel image
// in it) and, when the directory is no kernel tree at all, ErrNotTree.
type TreeError struct {
	Dir string
	// NotTree is set when Dir is neither a source tree nor a build
	// directory.
	NotTree bool
	// Reason says what is missing and what to do.
	Reason string
}

func (e *TreeError) Error() string { return fmt.Sprintf("kernel tree %s: %s", e.Dir, e.Reason) }

// Is matches ErrBadImage, and ErrNotTree when NotTree is set.
func (e *TreeError) Is(target error) bool {
	return target == ErrBadImage || (e.NotTree && target == ErrNotTree)
}

// Files that make a directory a kernel tree. A source tree's top level has
// Makefile, Kconfig and scripts/kconfig (subdirectories have Makefile and
// Kconfig too, never scripts/kconfig); an O= build directory has a
// generated Makefile, .config and the `source` link kbuild makes.
var (
	treeMarkers  = []string{"Makefile", "Kconfig", "scripts/kconfig"}
	buildMarkers = []string{"Makefile", ".config", "source"}
)

// treeImages are the images looked for in a built tree, in order.
var treeImages = []string{"arch/x86/boot/bzImage", "vmlinux"}

// treeVsockModules are the vsock modules a tree may build (=m), in load
// order.
var treeVsockModules = []string{"net/vmw_vsock/vsock.ko", "net/vmw_vsock/vmw_vsock_virtio_transport_common.ko", "net/vmw_vsock/vmw_vsock_virtio_transport.ko"}

// IsTree reports whether dir looks like the top of a kernel source tree
// or of a `make O=DIR` build directory, built or not.
func IsTree(dir string) bool { return hasAll(dir, treeMarkers) || hasAll(dir, buildMarkers) }

// OpenTree reads dir as a built kernel tree. A directory that is no kernel
// tree, one that is not configured or not built, gives a *TreeError that
// says what was looked for and what to do.
func OpenTree(dir string) (*Tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kernel tree %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("kernel tree %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, &TreeError{Dir: dir, NotTree: true, Reason: "not a directory"}
	}
	if !IsTree(abs) {
		return nil, &TreeError{Dir: dir, NotTree: true, Reason: fmt.Sprintf(
			"not a kernel tree: looked for %s (the top of a kernel source tree) or %s (a make O=DIR build directory) and found %s",
			strings.Join(treeMarkers, ", "), strings.Join(buildMarkers, ", "), found(abs))}
	}
	t := &Tree{Dir: abs, Source: abs}
	if src, err := filepath.EvalSymlinks(filepath.Join(abs, "source")); err == nil && hasAll(src, treeMarkers) {
		t.Source = src
	}
	t.Config = filepath.Join(abs, ".config")
	if !isFile(t.Config) {
		return nil, &TreeError{Dir: dir, Reason: "no .config: the tree is not configured (scxvm kernel build " + dir + " configures and builds it for scxvm; a tree built with make O=DIR boots as DIR)"}
	}
	if p := filepath.Join(abs, "vmlinux"); isFile(p) {
		t.VMLinux = p
	}
	if b, err := os.ReadFile(filepath.Join(abs, "include", "config", "kernel.release")); err == nil {
		t.Release = strings.TrimSpace(string(b))
	}
	if p := filepath.Join(abs, "arch", "x86", "boot", "bzImage"); isFile(p) {
		t.Image = p
	} else if t.VMLinux != "" {
		ok, err := bootableELF(t.VMLinux)
		if err != nil {
			return nil, &TreeError{Dir: dir, Reason: fmt.Sprintf("no arch/x86/boot/bzImage, and vmlinux cannot be read: %v", err)}
		}
		if !ok {
			return nil, &TreeError{Dir: dir, Reason: "no arch/x86/boot/bzImage, and vmlinux has no PVH entry note QEMU could boot it by (make bzImage, or set CONFIG_PVH=y)"}
		}
		t.Image = t.VMLinux
	} else {
		return nil, &TreeError{Dir: dir, Reason: "not built: looked for " + strings.Join(treeImages, " and ") + " (make bzImage, or scxvm kernel build " + dir + ")"}
	}
	if cfg, err := readConfigFile(t.Config); err == nil && cfg.Get("CONFIG_VIRTIO_VSOCKETS") == "m" {
		var mods []string
		for _, m := range treeVsockModules {
			if p := filepath.Join(abs, m); isFile(p) {
				mods = append(mods, p)
			}
		}
		if len(mods) == len(treeVsockModules) {
			t.Modules = mods
		}
	}
	return t, nil
}

// FindTree returns the kernel tree that contains dir (dir itself or one of
// its parents), or nil and no error when dir is in none. A tree that is
// found but cannot be used (not configured, not built) is an error: a
// caller that looked for the tree it runs in must not boot another kernel
// in its place.
func FindTree(dir string) (*Tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("find kernel tree: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if IsTree(d) {
			return OpenTree(d)
		}
		if parent := filepath.Dir(d); parent == d {
			return nil, nil
		}
	}
}

// Kernel returns the tree as a Kernel to boot, named name.
func (t *Tree) Kernel(name string) *Kernel {
	return &Kernel{Name: name, Tree: t.Dir, Image: t.Image, Config: t.Config, Release: t.Release, VMLinux: t.VMLinux, Modules: t.Modules}
}

// SchedulerDirs are the directories where the tree's tools/sched_ext
// schedulers are built (`make -C tools/sched_ext`): DIR/tools/sched_ext/
// build/bin, and the source tree's for an O= build directory.
func (t *Tree) SchedulerDirs() []string {
	dirs := []string{filepath.Join(t.Dir, "tools", "sched_ext", "build", "bin")}
	if t.Source != t.Dir {
		dirs = append(dirs, filepath.Join(t.Source, "tools", "sched_ext", "build", "bin"))
	}
	return dirs
}

// treeSchedulers returns the schedulers built in the kernel tree dir, by
// name.
func treeSchedulers(k *Kernel) (map[string]string, error) {
	t := &Tree{Dir: k.Tree, Source: k.Tree}
	if src, err := filepath.EvalSymlinks(filepath.Join(k.Tree, "source")); err == nil && hasAll(src, treeMarkers) {
		t.Source = src
	}
	out := make(map[string]string)
	dirs := t.SchedulerDirs()
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if _, dup := out[e.Name()]; dup || !strings.HasPrefix(e.Name(), "scx_") || !e.Type().IsRegular() || !isELF(p) {
				continue
			}
			out[e.Name()] = p
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("schedulers of kernel tree %s: none in %s (build them: make -C %s): %w",
			k.Tree, strings.Join(dirs, " or "), filepath.Join(t.Source, "tools", "sched_ext"), fs.ErrNotExist)
	}
	return out, nil
}

// bootableELF reports whether the ELF file at path has the PVH note.
func bootableELF(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return HasPVHNote(f), nil
}

func hasAll(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// found lists which of the marker files dir has, for an error.
func found(dir string) string {
	var have []string
	seen := map[string]bool{}
	for _, n := range append(append([]string{}, treeMarkers...), buildMarkers...) {
		if seen[n] {
			continue
		}
		seen[n] = true
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			have = append(have, n)
		}
	}
	if len(have) == 0 {
		return "none of them"
	}
	return "only " + strings.Join(have, ", ")
}

// lookupTree is Lookup of a kernel tree.
func lookupTree(dir string) (*Kernel, error) {
	t, err := OpenTree(dir)
	if err != nil {
		return nil, err
	}
	return t.Kernel(dir), nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
