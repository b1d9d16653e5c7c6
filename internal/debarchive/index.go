package debarchive

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/version"
)

// indexVariants are the compressions of a Packages index in order of
// preference: gzip decodes fastest, xz is smallest.
var indexVariants = []string{".gz", ".xz", ".zst", ""}

// Packages returns the entries of the component/binary-arch Packages index
// of rel whose package name want accepts (all when want is nil). The index
// is verified against rel's size and SHA256; with a CacheDir it is kept
// there under its hash and read from there while rel names the same one.
func (c *Client) Packages(ctx context.Context, rel *Release, component, arch string, want func(name string) bool) (_ []control.BinaryIndex, err error) {
	base := component + "/binary-" + arch + "/Packages"
	var h control.FileHash
	var ext string
	found := false
	for _, ext = range indexVariants {
		if h, found = rel.File(base + ext); found {
			break
		}
	}
	if !found {
		return nil, &FetchError{Step: "find Packages index", URL: rel.URL, Err: fmt.Errorf("%s lists no %s: %w", rel.Suite, base, ErrNotFound)}
	}
	r, err := c.openIndex(ctx, rel, h)
	if err != nil {
		return nil, err
	}
	defer r.close()
	defer func() {
		// A cached copy that no longer verifies is dropped, so the next
		// run downloads it again.
		var ve *VerifyError
		if err != nil && r.cached != "" && errors.As(err, &ve) {
			os.Remove(r.cached)
		}
	}()
	// A file that does not decompress or parse may be a corrupt download:
	// then the checksum is what is reported.
	bad := func(what string, err error) error {
		if _, verr := io.Copy(io.Discard, r); verr != nil {
			return verr
		}
		return &VerifyError{File: rel.fileURL(h), Err: fmt.Errorf("%s: %w", what, err)}
	}
	dec, err := Decompress(h.Filename, r)
	if err != nil {
		return nil, bad("decompress", err)
	}
	defer dec.Close()
	pr, err := control.NewParagraphReader(bufio.NewReaderSize(dec, 1<<20), nil)
	if err != nil {
		return nil, bad("parse", err)
	}
	var out []control.BinaryIndex
	for {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad("parse", err)
		}
		if want != nil && !want(p.Values["Package"]) {
			continue
		}
		var b control.BinaryIndex
		if err := control.UnpackFromParagraph(*p, &b); err != nil {
			return nil, bad("parse "+p.Values["Package"], err)
		}
		out = append(out, b)
	}
	// The stream is consumed; reading it to the end checks size and hash.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	if err := r.commit(); err != nil {
		return nil, fmt.Errorf("cache %s: %w", h.Filename, err)
	}
	return out, nil
}

// Newest returns the entry of pkgs named name with the highest version.
func Newest(pkgs []control.BinaryIndex, name string) (*control.BinaryIndex, bool) {
	var best *control.BinaryIndex
	for i := range pkgs {
		p := &pkgs[i]
		if p.Package == name && (best == nil || version.Compare(p.Version, best.Version) > 0) {
			best = p
		}
	}
	return best, best != nil
}

// indexStream reads an index and verifies it at its end (io.EOF vouches
// for its size and SHA256); a download is written to the cache as it is
// read, and kept there by commit once it has been read to its verified end.
type indexStream struct {
	*verifier
	body   io.Closer
	cache  *atomicFile // nil when not caching
	cached string      // the cached copy being read, or ""
}

// openIndex opens the index h of rel: the cached copy when there is one,
// else the download.
func (c *Client) openIndex(ctx context.Context, rel *Release, h control.FileHash) (*indexStream, error) {
	url := rel.fileURL(h)
	var cached string
	if c.CacheDir != "" {
		cached = filepath.Join(c.CacheDir, "index", cacheKey(rel.Suite, h.Filename)+"."+h.Hash+indexExt(h.Filename))
		if f, err := os.Open(cached); err == nil {
			return &indexStream{verifier: newVerifier(f, h, cached), body: f, cached: cached}, nil
		}
	}
	resp, err := c.get(ctx, "download "+h.Filename+" of "+rel.Suite, url)
	if err != nil {
		return nil, err
	}
	s := &indexStream{body: resp.Body}
	var body io.Reader = resp.Body
	if cached != "" {
		if w, err := newAtomicFile(cached); err == nil {
			s.cache = w
			body = io.TeeReader(resp.Body, w)
		}
	}
	s.verifier = newVerifier(body, h, url)
	return s, nil
}

// commit keeps a downloaded index in the cache, in place of older copies of
// the same index; the stream must have been read to its verified end.
func (s *indexStream) commit() error {
	if s.cache == nil {
		return nil
	}
	path := s.cache.path
	if err := s.cache.commit(); err != nil {
		return err
	}
	s.cache = nil
	dir, base := filepath.Split(path)
	key := base[:strings.IndexByte(base, '.')]
	old, _ := filepath.Glob(filepath.Join(dir, key+".*"))
	for _, o := range old {
		if o != path {
			os.Remove(o)
		}
	}
	return nil
}

func (s *indexStream) close() {
	s.body.Close()
	if s.cache != nil {
		s.cache.abort()
	}
}

// cacheKey names an index in the cache without its hash.
func cacheKey(suite, file string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '+':
			return r
		}
		return '_'
	}, suite+"_"+strings.TrimSuffix(file, indexExt(file)))
}

func indexExt(name string) string {
	for _, ext := range indexVariants[:len(indexVariants)-1] {
		if strings.HasSuffix(name, ext) {
			return ext
		}
	}
	return ""
}

// verifier passes r through and, at its end, checks size and SHA256
// against h: a mismatch turns io.EOF into a *VerifyError.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want control.FileHash
	name string
	err  error
}

func newVerifier(r io.Reader, want control.FileHash, name string) *verifier {
	return &verifier{r: r, h: sha256.New(), want: want, name: name}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.want.Size {
		v.err = &VerifyError{File: v.name, Err: fmt.Errorf("more than the %d bytes the index gives: %w", v.want.Size, ErrChecksum)}
		return n, v.err
	}
	if errors.Is(err, io.EOF) {
		if v.err = check(v.h, v.n, v.want, v.name); v.err == nil {
			v.err = io.EOF
		}
		return n, v.err
	}
	return n, err
}

// check compares a finished hash and size with want.
func check(h hash.Hash, n int64, want control.FileHash, name string) error {
	if n != want.Size {
		return &VerifyError{File: name, Err: fmt.Errorf("size %d, the signed index says %d: %w", n, want.Size, ErrChecksum)}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hash {
		return &VerifyError{File: name, Err: fmt.Errorf("SHA256 %s, the signed index says %s: %w", got, want.Hash, ErrChecksum)}
	}
	return nil
}
