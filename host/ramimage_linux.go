package host

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// newRAMFile returns two descriptors of a new, empty memory file: one for
// QEMU to back the guest's memory with, one for the host to copy it from
// when it saves the VM.
func newRAMFile() (qemu, host *os.File, err error) {
	fd, err := unix.MemfdCreate("scxvm-guest-ram", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("memfd for guest memory: %w", err)
	}
	host = os.NewFile(uintptr(fd), "scxvm-guest-ram")
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		host.Close()
		return nil, nil, fmt.Errorf("memfd for guest memory: %w", err)
	}
	return os.NewFile(uintptr(dup), "scxvm-guest-ram"), host, nil
}

// ramPage is the granule of the image's holes.
const ramPage = 4096

// copyRAM writes the first size bytes of the guest memory in src into
// dst from offset 0, leaving dst's file offset at size, where QEMU's
// stream follows. Pages the guest never touched (src's holes) and pages
// of zeros stay holes: a 1 GiB guest that booted takes about a tenth of
// that on disk.
func copyRAM(dst, src *os.File, size int64) error {
	if err := dst.Truncate(size); err != nil {
		return err
	}
	sfd := int(src.Fd())
	buf := make([]byte, 1<<20)
	zero := make([]byte, ramPage)
	for off := int64(0); off < size; {
		data, err := unix.Seek(sfd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole after off
		}
		if err != nil {
			return fmt.Errorf("seek data: %w", err)
		}
		end, err := unix.Seek(sfd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole: %w", err)
		}
		end = min(end, size)
		for p := data; p < end; {
			n := int(min(int64(len(buf)), end-p))
			if _, err := src.ReadAt(buf[:n], p); err != nil {
				return fmt.Errorf("read guest memory at %#x: %w", p, err)
			}
			// Write each run of pages that are not all zeros.
			for i := 0; i < n; {
				for i < n && bytes.Equal(buf[i:min(i+ramPage, n)], zero[:min(ramPage, n-i)]) {
					i += ramPage
				}
				j := i
				for j < n && !bytes.Equal(buf[j:min(j+ramPage, n)], zero[:min(ramPage, n-j)]) {
					j += ramPage
				}
				if j > i {
					if _, err := dst.WriteAt(buf[i:min(j, n)], p+int64(i)); err != nil {
						return err
					}
				}
				i = j
			}
			p += int64(n)
		}
		off = end
	}
	_, err := dst.Seek(size, io.SeekStart)
	return err
}
