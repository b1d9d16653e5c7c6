package fetch

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
)

// imageFiles takes the kernel image and its config out of the packages
// that hold them. Both the old layout (/boot/vmlinuz-REL,
// /boot/config-REL) and the merged one (/usr/lib/modules/REL/{vmlinuz,config})
// are understood.
type imageFiles struct {
	release string
	dir     string

	mu    sync.Mutex // several packages are unpacked at once
	found map[string]bool
}

// wanted maps the paths of a package to the file they become.
func (m *imageFiles) wanted(name string) string {
	r := m.release
	switch name {
	case "boot/vmlinuz-" + r, "usr/lib/modules/" + r + "/vmlinuz", "lib/modules/" + r + "/vmlinuz":
		return "vmlinuz"
	case "boot/config-" + r, "usr/lib/modules/" + r + "/config", "lib/modules/" + r + "/config":
		return "config"
	}
	return ""
}

// visit extracts h when it is the image or the config; done reports that
// both have been found.
func (m *imageFiles) visit(h *tar.Header, r io.Reader) (done bool, err error) {
	name := cleanPath(h.Name)
	out := m.wanted(name)
	if out == "" || h.Typeflag != tar.TypeReg {
		return m.done(), nil
	}
	if err := writeFile(filepath.Join(m.dir, out), r); err != nil {
		return false, err
	}
	m.mu.Lock()
	if m.found == nil {
		m.found = make(map[string]bool)
	}
	m.found[out] = true
	m.mu.Unlock()
	return m.done(), nil
}

func (m *imageFiles) done() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.found["vmlinuz"] && m.found["config"]
}

// check fails when the image or the config is missing.
func (m *imageFiles) check(pkg string) error {
	for _, f := range []string{"vmlinuz", "config"} {
		if !m.found[f] {
			return fmt.Errorf("%s holds no %s of release %s (looked for /boot/%s-%[3]s and /usr/lib/modules/%[3]s/%[2]s)", pkg, f, m.release, f)
		}
	}
	return nil
}

// cleanPath turns a tar entry name ("./usr/lib/...") into a relative path.
func cleanPath(name string) string {
	p := path.Clean("/" + name)
	return p[1:]
}

// writeFile writes r to path, mode 0644.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
