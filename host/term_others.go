//go:build !linux

package host

import "os"

// MakeRaw returns ErrUnsupported outside Linux.
func MakeRaw(f *os.File) (restore func() error, err error) {
	return nil, ErrUnsupported
}
