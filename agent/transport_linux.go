package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/vsock"
	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/protocol"
)

// transportSpec is what the kernel command line asks for.
type transportSpec struct {
	Kind      string // protocol.TransportVirtioSerial or protocol.TransportVsock
	VsockPort uint32
}

// parseCmdline reads scxvm.transport and scxvm.vsock_port.
func parseCmdline(cmdline string) (transportSpec, error) {
	ts := transportSpec{Kind: protocol.TransportVirtioSerial, VsockPort: protocol.VsockPort}
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "scxvm.transport":
			switch v {
			case protocol.TransportVsock, protocol.TransportVirtioSerial:
				ts.Kind = v
			default:
				return ts, fmt.Errorf("kernel argument scxvm.transport=%q: want %s or %s", v, protocol.TransportVsock, protocol.TransportVirtioSerial)
			}
		case "scxvm.vsock_port":
			p, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return ts, fmt.Errorf("kernel argument scxvm.vsock_port=%q: %w", v, err)
			}
			ts.VsockPort = uint32(p)
		}
	}
	return ts, nil
}

// findPort finds the /dev node of the virtio-serial port named name by
// scanning sysRoot/sys/class/virtio-ports/*/name.
func findPort(sysRoot, name string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(sysRoot, "sys/class/virtio-ports/*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "name"))
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(b)) == name {
			return filepath.Join("/dev", filepath.Base(d)), nil
		}
	}
	return "", fmt.Errorf("no virtio-serial port named %q under %s (QEMU needs -device virtserialport,name=%s)",
		name, filepath.Join(sysRoot, "sys/class/virtio-ports"), name)
}

// openTransport opens the channel to the host, retrying within ctx while
// the device or the host's listener is not there yet. The result is a
// blocking file descriptor outside the Go runtime's poller whatever the
// transport, so that PID 1 can hand it to the session process.
func openTransport(ctx context.Context, ts transportSpec, logf func(string, ...any)) (*os.File, error) {
	backoff := 5 * time.Millisecond
	var last error
	for {
		rwc, err := openOnce(ts)
		if err == nil {
			return rwc, nil
		}
		if !errors.Is(err, last) && (last == nil || err.Error() != last.Error()) {
			logf("open %s transport: %v (retrying)", ts.Kind, err)
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open %s transport: %w (last error: %w)", ts.Kind, ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func openOnce(ts transportSpec) (*os.File, error) {
	if ts.Kind == protocol.TransportVsock {
		c, err := vsock.Dial(protocol.VsockHostCID, ts.VsockPort, nil)
		if err != nil {
			return nil, fmt.Errorf("dial vsock cid %d port %d: %w", protocol.VsockHostCID, ts.VsockPort, err)
		}
		defer c.Close()
		return blockingDup(c)
	}
	dev, err := findPort("/", protocol.VirtioPortName)
	if err != nil {
		return nil, err
	}
	// A blocking fd, kept out of the Go runtime's poller: reads and writes
	// are plain system calls, which avoids the lost-wakeup hang of
	// virtio-console ports under epoll. Only this process writes to it.
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dev, err)
	}
	return os.NewFile(uintptr(fd), dev), nil
}

// blockingDup returns a blocking duplicate of a connection's socket.
func blockingDup(c syscall.Conn) (*os.File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("vsock fd: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("vsock fd: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("dup vsock fd: %w", derr)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vsock fd: %w", err)
	}
	return os.NewFile(uintptr(fd), "vsock"), nil
}

// listenVsock listens for the host's connection to a parked agent
// (Config.ParkListen) on protocol.VsockAgentPort of any CID: a restore
// gives the guest a new CID, and a listener bound to the old one would
// not see connections to the new.
func listenVsock() (Listener, error) {
	l, err := vsock.ListenContextID(unix.VMADDR_CID_ANY, protocol.VsockAgentPort, nil)
	if err != nil {
		return nil, fmt.Errorf("listen on vsock port %d: %w", protocol.VsockAgentPort, err)
	}
	return &vsockListener{l: l}, nil
}

// vsockListener hands out connections from the host as blocking file
// descriptors, like openTransport's.
type vsockListener struct {
	l    *vsock.Listener
	once sync.Once
	err  error
}

// Accept returns the next connection from the host (CID 2); connections
// from elsewhere are closed.
func (v *vsockListener) Accept() (io.ReadWriteCloser, error) {
	for {
		c, err := v.l.Accept()
		if err != nil {
			return nil, err
		}
		if a, ok := c.RemoteAddr().(*vsock.Addr); !ok || a.ContextID != protocol.VsockHostCID {
			c.Close()
			continue
		}
		f, err := blockingDup(c.(*vsock.Conn))
		c.Close()
		if err != nil {
			return nil, err
		}
		return f, nil
	}
}

// Close closes the listener once.
func (v *vsockListener) Close() error {
	v.once.Do(func() { v.err = v.l.Close() })
	return v.err
}
