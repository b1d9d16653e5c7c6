package debarchive

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"pault.ag/go/debian/control"
)

// Mirrors are the archive URIs found in the system's apt sources.
type Mirrors struct {
	// Archive serves the release's main suites (e.g. bookworm,
	// bookworm-updates); "" when none was found.
	Archive string
	// Security serves the release's security suite; "" when none was found.
	Security string
	// Codename is the system's release codename (os-release
	// VERSION_CODENAME), "" when unknown.
	Codename string
}

// sourceEntry is one "deb" line of a .list file, or one stanza of a
// .sources file.
type sourceEntry struct {
	uris, suites []string
}

// FindMirrors reads the apt sources under etc (normally "/etc"):
// apt/sources.list, apt/sources.list.d/*.list (one-line format) and
// apt/sources.list.d/*.sources (deb822). Only enabled "deb" entries count.
// Archive is the first URI serving a suite of the system's codename that
// is not a security suite (else the first URI ending in /debian);
// Security is the first URI serving a security suite of the codename. It
// fails with ErrNoMirror when there are no sources or none fits.
func FindMirrors(etc string) (Mirrors, error) {
	m := Mirrors{Codename: codename(filepath.Join(etc, "os-release"))}
	var files []string
	if isRegular(filepath.Join(etc, "apt", "sources.list")) {
		files = append(files, filepath.Join(etc, "apt", "sources.list"))
	}
	for _, pat := range []string{"*.list", "*.sources"} {
		more, _ := filepath.Glob(filepath.Join(etc, "apt", "sources.list.d", pat))
		files = append(files, more...)
	}
	if len(files) == 0 {
		return m, fmt.Errorf("no apt sources in %s: %w", filepath.Join(etc, "apt", "sources.list{,.d}"), ErrNoMirror)
	}
	var fallback string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return m, fmt.Errorf("read apt sources: %w", err)
		}
		var entries []sourceEntry
		if strings.HasSuffix(f, ".sources") {
			entries, err = parseDeb822Sources(b)
			if err != nil {
				return m, fmt.Errorf("read apt sources %s: %w", f, err)
			}
		} else {
			entries = parseOneLineSources(b)
		}
		for _, e := range entries {
			for _, uri := range e.uris {
				uri = strings.TrimRight(uri, "/")
				for _, s := range e.suites {
					if m.Codename != "" && !strings.HasPrefix(s, m.Codename) {
						continue
					}
					if strings.Contains(s, "security") {
						if m.Security == "" {
							m.Security = uri
						}
					} else if m.Archive == "" {
						m.Archive = uri
					}
				}
				if fallback == "" && strings.HasSuffix(uri, "/debian") {
					fallback = uri
				}
			}
		}
	}
	if m.Archive == "" {
		m.Archive = fallback
	}
	if m.Archive == "" {
		return m, fmt.Errorf("no Debian archive among the apt sources in %s: %w", filepath.Join(etc, "apt"), ErrNoMirror)
	}
	return m, nil
}

// parseOneLineSources reads the "deb [options] URI SUITE COMPONENT..."
// lines of a sources.list file.
func parseOneLineSources(b []byte) []sourceEntry {
	var out []sourceEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, sourceEntry{uris: f[:1], suites: f[1:2]})
	}
	return out
}

// parseDeb822Sources reads the stanzas of a .sources file.
func parseDeb822Sources(b []byte) ([]sourceEntry, error) {
	pr, err := control.NewParagraphReader(bytes.NewReader(b), nil)
	if err != nil {
		return nil, err
	}
	paras, err := pr.All()
	if err != nil {
		return nil, err
	}
	var out []sourceEntry
	for _, p := range paras {
		v := make(map[string]string, len(p.Values))
		for k, val := range p.Values {
			v[strings.ToLower(k)] = val
		}
		if !fieldHas(v["types"], "deb") || strings.EqualFold(strings.TrimSpace(v["enabled"]), "no") {
			continue
		}
		out = append(out, sourceEntry{uris: strings.Fields(v["uris"]), suites: strings.Fields(v["suites"])})
	}
	return out, nil
}

func fieldHas(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}

// codename returns VERSION_CODENAME of an os-release file, or "".
func codename(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
