// Package debarchivetest serves a fake Debian archive over HTTP for tests:
// suites with an InRelease signed by a throwaway key generated at run
// time, Packages indices, and .deb files built from in-memory trees.
package debarchivetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ulikunitz/xz"
)

// File is one file of a package's data.tar.
type File struct {
	Name string // path, e.g. "boot/vmlinuz-6.12.0"
	Data []byte
}

// Package is a binary package of a suite.
type Package struct {
	Name, Version string
	Depends       string // Depends field, may be empty
	Files         []File
	// Compression of data.tar: "xz" (default), "gz" or "none".
	Compression string
}

// Archive is a fake Debian archive. Add suites, then Start it.
type Archive struct {
	// Key signs InRelease files; Keyring holds its public part.
	Key     *openpgp.Entity
	Keyring openpgp.EntityList
	// ValidUntil of the InRelease files (default: a week from now).
	ValidUntil time.Time
	// ByHash serves indices under by-hash/SHA256/ and says so.
	ByHash bool

	mu     sync.Mutex
	files  map[string][]byte // URL path -> content
	hook   func(w http.ResponseWriter, r *http.Request) bool
	server *httptest.Server
	t      testing.TB
}

// New returns an archive with a fresh signing key.
func New(t testing.TB) *Archive {
	t.Helper()
	key := NewKey(t, "scxvm test archive")
	return &Archive{Key: key, Keyring: openpgp.EntityList{key}, ValidUntil: time.Now().Add(7 * 24 * time.Hour), files: map[string][]byte{}, t: t}
}

// NewKey generates a throwaway signing key.
func NewKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", "test@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Start serves the archive; its URL is the mirror. It stops with the test.
func (a *Archive) Start() string {
	a.server = httptest.NewServer(http.HandlerFunc(a.serve))
	a.t.Cleanup(a.server.Close)
	return a.server.URL + "/debian"
}

// Close stops serving (a mirror that has gone away).
func (a *Archive) Close() { a.server.Close() }

// Hook, when it returns true, has answered the request itself.
func (a *Archive) Hook(h func(w http.ResponseWriter, r *http.Request) bool) {
	a.mu.Lock()
	a.hook = h
	a.mu.Unlock()
}

// Set replaces a file of the archive (path below the mirror, e.g.
// "pool/main/l/linux/x.deb").
func (a *Archive) Set(p string, data []byte) {
	a.mu.Lock()
	a.files["/debian/"+p] = data
	a.mu.Unlock()
}

// Get returns a file of the archive.
func (a *Archive) Get(p string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.files["/debian/"+p]
}

func (a *Archive) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	hook := a.hook
	data, ok := a.files[r.URL.Path]
	a.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.Write(data)
}

// DebPath is where a package's .deb is in the pool.
func DebPath(p Package) string {
	return "pool/main/l/" + p.Name + "/" + p.Name + "_" + strings.ReplaceAll(p.Version, ":", "%3a") + "_amd64.deb"
}

// AddSuite adds suite (with codename) holding pkgs in main/binary-amd64,
// its Packages index compressed as indexExt (".xz", ".gz" or "").
func (a *Archive) AddSuite(suite, codename, indexExt string, pkgs ...Package) {
	a.t.Helper()
	var index bytes.Buffer
	for _, p := range pkgs {
		d := BuildDeb(a.t, p)
		a.Set(DebPath(p), d)
		sum := sha256.Sum256(d)
		fmt.Fprintf(&index, "Package: %s\nVersion: %s\nArchitecture: amd64\n", p.Name, p.Version)
		if p.Depends != "" {
			fmt.Fprintf(&index, "Depends: %s\n", p.Depends)
		}
		fmt.Fprintf(&index, "Filename: %s\nSize: %d\nSHA256: %s\nDescription: test package\n\n", DebPath(p), len(d), hex.EncodeToString(sum[:]))
	}
	idx := compress(a.t, index.Bytes(), strings.TrimPrefix(indexExt, "."))
	name := "main/binary-amd64/Packages" + indexExt
	sum := sha256.Sum256(idx)
	if a.ByHash {
		a.Set("dists/"+suite+"/main/binary-amd64/by-hash/SHA256/"+hex.EncodeToString(sum[:]), idx)
	} else {
		a.Set("dists/"+suite+"/"+name, idx)
	}
	var rel bytes.Buffer
	fmt.Fprintf(&rel, "Origin: Debian\nSuite: %s\nCodename: %s\nDate: %s\n", suite, codename, time.Now().UTC().Format(time.RFC1123))
	fmt.Fprintf(&rel, "Valid-Until: %s\n", a.ValidUntil.UTC().Format(time.RFC1123))
	if a.ByHash {
		rel.WriteString("Acquire-By-Hash: yes\n")
	}
	fmt.Fprintf(&rel, "Architectures: amd64\nComponents: main\nSHA256:\n %s %d %s\n", hex.EncodeToString(sum[:]), len(idx), name)
	a.Set("dists/"+suite+"/InRelease", Sign(a.t, a.Key, rel.Bytes()))
}

// Sign clearsigns text with key.
func Sign(t testing.TB, key *openpgp.Entity, text []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// BuildDeb makes a .deb (ar archive: debian-binary, control.tar.gz,
// data.tar.*) of p.
func BuildDeb(t testing.TB, p Package) []byte {
	t.Helper()
	comp := p.Compression
	if comp == "" {
		comp = "xz"
	}
	control := tarOf(t, []File{{Name: "./control", Data: []byte("Package: " + p.Name + "\nVersion: " + p.Version + "\n")}})
	data := tarOf(t, p.Files)
	dataName := "data.tar"
	if comp != "none" {
		dataName += "." + comp
		data = compress(t, data, comp)
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name string, b []byte) {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(b))
		ar.Write(b)
		if len(b)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", compress(t, control, "gz"))
	member(dataName, data)
	return ar.Bytes()
}

// tarOf makes a tar of files, sorted by name as dpkg-deb does, with their
// parent directories.
func tarOf(t testing.TB, files []File) []byte {
	t.Helper()
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dirs := map[string]bool{}
	for _, f := range sorted {
		name := "./" + strings.TrimPrefix(f.Name, "./")
		for d := path.Dir(name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.Data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compress compresses b with "xz", "gz", or nothing ("" or "none").
func compress(t testing.TB, b []byte, how string) []byte {
	t.Helper()
	var out bytes.Buffer
	switch how {
	case "xz":
		w, err := xz.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "gz":
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
	default:
		return b
	}
	return out.Bytes()
}
