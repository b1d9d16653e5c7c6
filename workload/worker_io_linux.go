package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// IoSyncWrite, IoRandRead and IoConvoy: block I/O on a private file in
// os.TempDir.

// ioBlockBytes is the I/O kinds' block size (and O_DIRECT alignment).
const ioBlockBytes = 4 << 10

// setupIO creates the worker's file (O_DSYNC for IoSyncWrite), fills it
// for the reading kinds and opens the O_DIRECT reader. Without a device
// behind the file, or without O_DIRECT, the worker emulates the device's
// wait with a sleep and says so.
func (w *worker) setupIO() error {
	t := w.t
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if t.Kind == spec.IoSyncWrite {
		flags |= unix.O_DSYNC
	}
	dir := os.TempDir()
	fd, err := unix.Open(dir, unix.O_TMPFILE|flags, 0o600)
	if err != nil {
		name := filepath.Join(dir, "scxvm-io-"+strconv.Itoa(os.Getpid())+"-"+strconv.Itoa(unix.Gettid()))
		if fd, err = unix.Open(name, unix.O_CREAT|unix.O_EXCL|flags, 0o600); err != nil {
			return fmt.Errorf("work_type: %s file in %s: %w", t.Kind, dir, err)
		}
		unix.Unlink(name)
	}
	w.ioFd = fd
	block, err := anonMap(ioBlockBytes) // page aligned, as O_DIRECT wants
	if err != nil {
		return fmt.Errorf("work_type: %s block: %w", t.Kind, err)
	}
	w.k.ioBlock = block
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) == nil && (st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC) {
		w.k.ioEmulate = true
		w.degrade("%s is a memory file system: no device wait, a %v sleep stands in for it (set TMPDIR to a disk-backed directory for real I/O)", dir, ioSleep)
	}
	if t.Kind == spec.IoSyncWrite {
		return nil
	}
	w.k.ioBlocks = int64(t.FileBytes / ioBlockBytes)
	if err := w.fillIO(t.FileBytes); err != nil {
		return fmt.Errorf("work_type.file_bytes: fill %d bytes in %s: %w", t.FileBytes, dir, err)
	}
	rd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		w.k.ioRead = fd
		if !w.k.ioEmulate {
			w.k.ioEmulate = true
			w.degrade("O_DIRECT refused in %s (%v): buffered reads, a %v sleep stands in for the device", dir, err, ioSleep)
		}
		return nil
	}
	w.k.ioRead = rd
	return nil
}

// fillIO writes n bytes to the file and syncs them, so that O_DIRECT reads
// reach the device rather than a hole.
func (w *worker) fillIO(n int) error {
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for off := 0; off < n; off += len(chunk) {
		if _, err := unix.Pwrite(w.ioFd, chunk[:min(len(chunk), n-off)], int64(off)); err != nil {
			return err
		}
	}
	return unix.Fdatasync(w.ioFd)
}

func (w *worker) pwriteBlock(off int64) {
	w.k.ioBlock[0] = byte(w.x)
	w.sys6(unix.SYS_PWRITE64, uintptr(w.ioFd), uintptr(unsafe.Pointer(&w.k.ioBlock[0])), ioBlockBytes, uintptr(off), 0, 0)
}

func (w *worker) preadBlock(off int64) {
	w.sys6(unix.SYS_PREAD64, uintptr(w.k.ioRead), uintptr(unsafe.Pointer(&w.k.ioBlock[0])), ioBlockBytes, uintptr(off), 0, 0)
	w.x += uint64(w.k.ioBlock[1])
}

func (w *worker) fdatasync() {
	w.syscall(unix.SYS_FDATASYNC, uintptr(w.ioFd), 0, 0)
}

// deviceWait stands in for the device on a memory file system.
func (w *worker) deviceWait() bool {
	if !w.k.ioEmulate {
		return true
	}
	return w.sleep(int64(ioSleep))
}

func (w *worker) ioSyncWrite() bool {
	for i := range w.t.Blocks {
		w.pwriteBlock(int64(i) * ioBlockBytes)
	}
	w.fdatasync()
	w.units += uint64(w.t.Blocks)
	return w.deviceWait()
}

func (w *worker) ioRandRead() bool {
	w.preadBlock(int64(w.m.rand()%uint64(w.k.ioBlocks)) * ioBlockBytes)
	w.units++
	return w.deviceWait()
}

func (w *worker) ioConvoy() bool {
	w.pwriteBlock(w.k.ioCursor * ioBlockBytes)
	w.k.ioCursor = (w.k.ioCursor + 1) % w.k.ioBlocks
	w.preadBlock(int64(w.m.rand()%uint64(w.k.ioBlocks)) * ioBlockBytes)
	w.units += 2
	if (w.iters+1)%uint64(w.t.SyncEvery) != 0 {
		return true
	}
	w.fdatasync()
	return w.deviceWait()
}
