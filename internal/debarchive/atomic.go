package debarchive

import (
	"fmt"
	"os"
	"path/filepath"
)

// atomicFile is written under a temporary name in the directory of path
// and renamed to path by commit, so path never holds a partial file.
type atomicFile struct {
	*os.File
	path string
	done bool
}

func newAtomicFile(path string) (*atomicFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return nil, err
	}
	return &atomicFile{File: f, path: path}, nil
}

func (a *atomicFile) commit() error {
	if a.done {
		return fmt.Errorf("commit %s: already closed", a.path)
	}
	a.done = true
	if err := a.Chmod(0o644); err != nil {
		a.Close()
		os.Remove(a.Name())
		return err
	}
	if err := a.Close(); err != nil {
		os.Remove(a.Name())
		return err
	}
	if err := os.Rename(a.Name(), a.path); err != nil {
		os.Remove(a.Name())
		return err
	}
	return nil
}

// abort removes the temporary file unless commit succeeded; it is safe to
// call more than once.
func (a *atomicFile) abort() {
	if a.done {
		return
	}
	a.done = true
	a.Close()
	os.Remove(a.Name())
}
