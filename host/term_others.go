//go:build !linux

package host

import "os"

// MakeRaw returns ErrUnsupported outside Linux.
func MakeRaw(f *os.File) (restore func() error, err error) {
	return nil, ErrUnsupported
}

// IsTerminal reports false outside Linux.
func IsTerminal(f *os.File) bool { return false }

// TermSize returns ErrUnsupported outside Linux.
func TermSize(f *os.File) (rows, cols int, err error) { return 0, 0, ErrUnsupported }
