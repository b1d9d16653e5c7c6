package fetch

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/scxvm/scxvm/internal/debarchive"
)

// moduleCollector takes a set of kernel modules and everything they depend
// on out of a modules package, decompressed to plain .ko files, and writes
// their load order. It works on the package's stream: a module is taken
// when it goes by, a dependency that went by earlier is taken from memory,
// and the stream can stop as soon as nothing is missing.
type moduleCollector struct {
	release string
	roots   []string // in the order asked for
	out     string   // the modules/ directory

	seen    map[string]seenModule // compressed modules that went by, not taken (yet)
	deps    map[string][]string   // taken modules and what they depend on
	pending map[string]bool       // needed, not seen yet
}

type seenModule struct {
	file string // name in the package, for its compression
	data []byte
}

func newModuleCollector(release string, roots []string, out string) *moduleCollector {
	m := &moduleCollector{
		release: release, roots: roots, out: out,
		seen:    make(map[string]seenModule),
		deps:    make(map[string][]string),
		pending: make(map[string]bool),
	}
	for _, r := range roots {
		m.pending[modName(r)] = true
	}
	return m
}

// modName normalises a module's name as the kernel does (- and _ are the
// same).
func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// moduleOf returns the module name of a package path under
// [usr/]lib/modules/REL/, or "".
func (m *moduleCollector) moduleOf(name string) string {
	rest, ok := strings.CutPrefix(name, "usr/lib/modules/"+m.release+"/")
	if !ok {
		if rest, ok = strings.CutPrefix(name, "lib/modules/"+m.release+"/"); !ok {
			return ""
		}
	}
	base := path.Base(rest)
	i := strings.Index(base, ".ko")
	if i <= 0 || !(base[i:] == ".ko" || strings.HasPrefix(base[i:], ".ko.")) {
		return ""
	}
	return modName(base[:i])
}

// visit looks at one entry of the package; done reports that every module
// needed has been taken.
func (m *moduleCollector) visit(h *tar.Header, r io.Reader) (done bool, err error) {
	name := cleanPath(h.Name)
	mod := m.moduleOf(name)
	if mod == "" || h.Typeflag != tar.TypeReg {
		return len(m.pending) == 0, nil
	}
	if _, taken := m.deps[mod]; taken {
		return len(m.pending) == 0, nil
	}
	if m.pending[mod] {
		if err := m.take(mod, path.Base(name), r); err != nil {
			return false, err
		}
	} else {
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(r, data); err != nil {
			return false, err
		}
		m.seen[mod] = seenModule{file: path.Base(name), data: data}
	}
	return len(m.pending) == 0, nil
}

// take decompresses module mod into out/mod.ko and marks what it depends
// on as needed, taking those that already went by.
func (m *moduleCollector) take(mod, file string, r io.Reader) error {
	delete(m.pending, mod)
	delete(m.seen, mod)
	d, err := debarchive.Decompress(file, r)
	if err != nil {
		return fmt.Errorf("module %s: %w", file, err)
	}
	plain, err := io.ReadAll(d)
	d.Close()
	if err != nil {
		return fmt.Errorf("module %s: %w", file, err)
	}
	deps, err := moduleDepends(plain)
	if err != nil {
		return fmt.Errorf("module %s: %w", file, err)
	}
	m.deps[mod] = deps
	if err := os.MkdirAll(m.out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(m.out, mod+".ko"), plain, 0o644); err != nil {
		return err
	}
	for _, dep := range deps {
		if _, taken := m.deps[dep]; taken || m.pending[dep] {
			continue
		}
		if s, ok := m.seen[dep]; ok {
			if err := m.take(dep, s.file, bytes.NewReader(s.data)); err != nil {
				return err
			}
			continue
		}
		m.pending[dep] = true
	}
	return nil
}

// finish fails when a needed module was not in the package, and writes
// the load order: each module after what it depends on, in the order the
// modules were asked for.
func (m *moduleCollector) finish() error {
	if len(m.pending) > 0 {
		var missing []string
		for p := range m.pending {
			missing = append(missing, p)
		}
		return fmt.Errorf("modules %s not found under lib/modules/%s", strings.Join(missing, ", "), m.release)
	}
	var order []string
	done := make(map[string]bool)
	var visit func(string)
	visit = func(mod string) {
		if done[mod] {
			return
		}
		done[mod] = true
		for _, d := range m.deps[mod] {
			visit(d)
		}
		order = append(order, mod+".ko")
	}
	for _, r := range m.roots {
		visit(modName(r))
	}
	m.seen = nil
	return os.WriteFile(filepath.Join(m.out, "order"), []byte(strings.Join(order, "\n")+"\n"), 0o644)
}

// moduleDepends reads the depends= field of a module's .modinfo section.
func moduleDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, err
	}
	var deps []string
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, modName(d))
				}
			}
		}
	}
	return deps, nil
}
