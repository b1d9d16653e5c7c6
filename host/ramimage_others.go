//go:build !linux

package host

import (
	"errors"
	"os"
)

func newRAMFile() (qemu, host *os.File, err error) {
	return nil, nil, errors.New("guest memory files need Linux")
}

func copyRAM(dst, src *os.File, size int64) error {
	return errors.New("guest memory files need Linux")
}
