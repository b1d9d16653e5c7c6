package debarchive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/deb"
)

// Visit is called for each entry of a .deb's data.tar, with the entry's
// contents as r. Returning stop ends the unpacking (the download still
// runs to its end for verification).
type Visit func(h *tar.Header, r io.Reader) (stop bool, err error)

// Deb downloads the package pkg of the index from rel's mirror into a
// temporary file under tmpDir, unpacks its data.tar while it downloads,
// calling visit for each entry, and verifies the download's size and
// SHA256 against the index; progress, when not nil, is given the bytes as
// they arrive. The temporary file is removed. Deb returns a
// *VerifyError for a bad file; what visit saw of it must then be thrown
// away.
func (c *Client) Deb(ctx context.Context, rel *Release, pkg *control.BinaryIndex, tmpDir string, progress io.Writer, visit Visit) error {
	url := rel.Mirror + "/" + strings.TrimLeft(pkg.Filename, "/")
	name := path.Base(pkg.Filename)
	want := control.FileHash{Algorithm: "sha256", Hash: pkg.SHA256, Size: int64(pkg.Size), Filename: pkg.Filename}
	if want.Hash == "" {
		return &VerifyError{File: url, Err: fmt.Errorf("the index gives no SHA256 for %s: %w", pkg.Package, ErrChecksum)}
	}
	step := "download " + name
	resp, err := c.get(ctx, step, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.CreateTemp(tmpDir, ".deb-*")
	if err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()

	g := newGrowingFile(f)
	h := sha256.New()
	dl := make(chan error, 1)
	go func() {
		var w io.Writer = io.MultiWriter(g, h)
		if progress != nil {
			w = io.MultiWriter(g, h, progress)
		}
		// One byte more than the index allows tells an oversized file.
		n, err := io.Copy(w, io.LimitReader(resp.Body, want.Size+1))
		if err != nil {
			err = &FetchError{Step: step, URL: url, Err: err}
		} else {
			err = check(h, n, want, url)
		}
		g.finish(err)
		dl <- err
	}()

	// An unpack error may come from a corrupt download: the download runs
	// to its end either way, and a bad checksum is the error reported.
	uerr := unpack(g, visit)
	if derr := <-dl; derr != nil {
		return derr
	}
	if uerr != nil {
		return fmt.Errorf("unpack %s: %w", name, uerr)
	}
	return nil
}

// unpack walks the data.tar member of the .deb in r.
func unpack(r io.ReaderAt, visit Visit) error {
	ar, err := deb.LoadAr(r)
	if err != nil {
		return err
	}
	for {
		e, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("no data.tar member")
		}
		if err != nil {
			return err
		}
		if !strings.HasPrefix(e.Name, "data.tar") {
			continue
		}
		var data io.ReadCloser
		if strings.HasSuffix(e.Name, ".xz") {
			data, err = newXZReader(e.Data)
		} else {
			data, err = Decompress(e.Name, e.Data)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		defer data.Close()
		tr := tar.NewReader(data)
		for {
			th, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
			stop, err := visit(th, tr)
			if err != nil || stop {
				return err
			}
		}
	}
}

// growingFile is an io.ReaderAt over a file that is still being written:
// a read waits until the bytes it asks for have arrived, or the download
// has ended. It lets the .deb be unpacked while it downloads.
type growingFile struct {
	f    *os.File
	mu   sync.Mutex
	cond *sync.Cond
	n    int64 // bytes written so far
	done bool
	err  error // why the download ended early
}

func newGrowingFile(f *os.File) *growingFile {
	g := &growingFile{f: f}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Write appends p to the file and wakes the readers.
func (g *growingFile) Write(p []byte) (int, error) {
	n, err := g.f.Write(p)
	g.mu.Lock()
	g.n += int64(n)
	g.mu.Unlock()
	g.cond.Broadcast()
	return n, err
}

// finish marks the end of the download; err is why it failed, or nil.
func (g *growingFile) finish(err error) {
	g.mu.Lock()
	g.done, g.err = true, err
	g.mu.Unlock()
	g.cond.Broadcast()
}

// ReadAt implements io.ReaderAt.
func (g *growingFile) ReadAt(p []byte, off int64) (int, error) {
	g.mu.Lock()
	for !g.done && g.n < off+int64(len(p)) {
		g.cond.Wait()
	}
	n, done, err := g.n, g.done, g.err
	g.mu.Unlock()
	if off >= n {
		if done && err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	want := p
	if avail := n - off; int64(len(want)) > avail {
		want = want[:avail]
	}
	k, rerr := g.f.ReadAt(want, off)
	if rerr == nil && k < len(p) {
		rerr = io.EOF
		if err != nil {
			rerr = err
		}
	}
	return k, rerr
}
