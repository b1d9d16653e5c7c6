package kernel

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scxvm/scxvm/internal/cachedir"
)

// Names of the kernels the Makefile puts in the cache.
const (
	// Debian is Debian's sched_ext-capable 7.3 kernel (`scxvm kernel
	// fetch`, or `make kernel`).
	Debian = "debian"
	// Build612 is the 6.12 kernel built from kernel/fragment.config
	// (`make kernel-build`).
	Build612 = "6.12"
	// Stock612 is Debian 12's stock 6.12 kernel, which lacks sched_ext
	// (`scxvm kernel fetch stock-6.12`); tests use it as a negative example.
	Stock612 = "stock-6.12"
)

// makeTargets says which command fills the cache entry of each name.
var makeTargets = map[string]string{
	Debian:   "scxvm kernel fetch",
	Build612: "make kernel-build",
	Stock612: "scxvm kernel fetch stock-6.12",
}

// DefaultCacheDir returns $SCXVM_CACHE_DIR, else $XDG_CACHE_HOME/scxvm, else
// ~/.cache/scxvm (the same rule as the scripts in kernel/).
func DefaultCacheDir() string { return cachedir.DefaultRoot() }

// Kernel is a test kernel ready to boot.
type Kernel struct {
	// Name is the name it was looked up by ("debian", "6.12", or a path).
	Name string
	// Dir is the resolved cache directory; empty for a kernel given by path.
	Dir string
	// Tree is the kernel build tree the kernel comes from (OpenTree), or
	// "": its schedulers are the tree's tools/sched_ext ones.
	Tree string
	// Image is the absolute path of the bzImage/vmlinuz.
	Image string
	// Config is the path of its config file, or "" when unknown.
	Config string
	// Release is its uname -r, or "" when unknown.
	Release string
	// VMLinux is an ELF vmlinux with .BTF extracted from Image, or "" when
	// none has been extracted (`make schedulers` extracts one).
	VMLinux string
	// Modules are absolute paths of plain .ko files to load in this order.
	Modules []string
}

// Lookup finds a kernel in the cache at cacheDir by name: "debian" (also
// ""), "6.12", "stock-6.12", another directory name under
// cacheDir/kernels, the path of a kernel image, or the path of a built
// kernel tree (OpenTree; a directory that is none gives a *TreeError). A
// missing cache entry gives an error wrapping fs.ErrNotExist that names the
// command to run.
// A path whose file is plainly no kernel (empty, a script, an ELF program)
// gives a *BadImageError; Inspect reads the whole image and finds the rest.
func Lookup(cacheDir, name string) (*Kernel, error) {
	if name == "" {
		name = Debian
	}
	if isDir(name) && (strings.ContainsRune(name, os.PathSeparator) || name == "." || name == "..") {
		return lookupTree(name)
	}
	if strings.ContainsRune(name, os.PathSeparator) || isFile(name) {
		return lookupPath(name)
	}
	dir := filepath.Join(cacheDir, "kernels", name)
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil || !isFile(filepath.Join(resolved, ".complete")) {
		if isDir(name) {
			return lookupTree(name) // a tree named without a slash: --kernel linux
		}
		hint := "run `make kernel` or `make kernel-build`"
		if t, ok := makeTargets[name]; ok {
			hint = "run `" + t + "`"
		}
		return nil, fmt.Errorf("kernel %q not in cache %s (%s): %w", name, cacheDir, hint, fs.ErrNotExist)
	}
	k := &Kernel{Name: name, Dir: resolved}
	for _, img := range []string{"bzImage", "vmlinuz"} {
		if p := filepath.Join(resolved, img); isFile(p) {
			k.Image = p
			break
		}
	}
	if k.Image == "" {
		return nil, fmt.Errorf("kernel %q: no bzImage or vmlinuz in %s: %w", name, resolved, fs.ErrNotExist)
	}
	if p := filepath.Join(resolved, "config"); isFile(p) {
		k.Config = p
	}
	if p := filepath.Join(resolved, "vmlinux"); isFile(p) {
		k.VMLinux = p
	}
	if b, err := os.ReadFile(filepath.Join(resolved, "release")); err == nil {
		k.Release = strings.TrimSpace(string(b))
	}
	mods, err := readModules(filepath.Join(resolved, "modules"))
	if err != nil {
		return nil, fmt.Errorf("kernel %q: %w", name, err)
	}
	k.Modules = mods
	return k, nil
}

// lookupPath describes a kernel given by the path of its image; config and
// modules are taken from next to it when present.
func lookupPath(path string) (*Kernel, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	if !isFile(abs) {
		return nil, fmt.Errorf("kernel %s: %w", path, fs.ErrNotExist)
	}
	release, _, err := readImageHeader(abs)
	if errors.Is(err, ErrBadImage) {
		return nil, err // it names the file
	}
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	k := &Kernel{Name: path, Image: abs, Release: release}
	k.Config = configNextTo(abs, k.Release)
	dir := filepath.Dir(abs)
	if p := filepath.Join(dir, "vmlinux"); isFile(p) && p != abs {
		k.VMLinux = p
	}
	if mods, err := readModules(filepath.Join(dir, "modules")); err == nil {
		k.Modules = mods
	}
	return k, nil
}

// readImageHeader returns the release of the kernel image at path without
// decompressing it when the bzImage header has it.
func readImageHeader(path string) (release, format string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	head := make([]byte, 64*1024)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	if isBzImage(head) {
		if rel := headerRelease(head); rel != "" {
			return rel, "bzImage", nil
		}
	}
	img, err := readImage(path)
	if err != nil {
		return "", "", err
	}
	if img.release == "" {
		img.decompress()
	}
	return img.release, img.format, nil
}

// readModules reads dir/order (one .ko file name a line, load order) and
// returns absolute paths; no directory means no modules.
func readModules(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "order"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if !isFile(p) {
			return nil, fmt.Errorf("module %s listed in %s/order: %w", name, dir, fs.ErrNotExist)
		}
		mods = append(mods, p)
	}
	return mods, sc.Err()
}

// Schedulers returns the example schedulers `make schedulers` built for k,
// by name (scx_simple, scx_qmap, ...) to absolute path; for a kernel tree,
// those built in its tools/sched_ext/build/bin. It fails when none were
// built for this kernel.
func Schedulers(cacheDir string, k *Kernel) (map[string]string, error) {
	if k.Tree != "" {
		return treeSchedulers(k)
	}
	if k.Dir == "" {
		return nil, fmt.Errorf("kernel %s: schedulers are only built for cached kernels (`make schedulers`): %w", k.Name, fs.ErrNotExist)
	}
	dir := filepath.Join(cacheDir, "schedulers", filepath.Base(k.Dir))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("schedulers for kernel %q (run `make schedulers`): %w", k.Name, err)
	}
	out := make(map[string]string)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "scx_") || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if isELF(p) {
			out[e.Name()] = p
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("schedulers for kernel %q: none in %s (run `make schedulers`): %w", k.Name, dir, fs.ErrNotExist)
	}
	return out, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isELF(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
