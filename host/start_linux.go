package host

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/vsock"
	"github.com/scxvm/scxvm/host/console"
	"github.com/scxvm/scxvm/protocol"
	"golang.org/x/sys/unix"
)

// Start validates cfg, probes the accelerator and transport, and starts
// QEMU. The VM is killed when ctx ends or cfg.Timeout passes; Wait
// reports why. QEMU runs in its own process group with a parent-death
// signal, so it never outlives this process.
func Start(ctx context.Context, cfg Config) (_ *VM, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, f := range []struct{ what, path string }{{"kernel", cfg.Kernel}, {"initramfs", cfg.Initramfs}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("start vm: %s: %w", f.what, err)
		}
	}
	if _, err := KernelFormat(cfg.Kernel); err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	qemu, err := exec.LookPath(cfg.QEMU)
	if err != nil {
		return nil, fmt.Errorf("start vm: %w: %v (install qemu-system-x86, or set the QEMU path)", ErrNoQEMU, err)
	}
	cfg.QEMU = qemu

	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	boot, release, err := resolveBoot(cfg)
	if err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	if release != nil {
		closers = append(closers, func() { release.Close() })
	}
	cfg.Kernel = boot.Kernel
	vm := &VM{cfg: cfg, boot: boot, done: make(chan struct{}), stderr: &tailBuffer{max: 16 << 10}}

	if vm.plan.Accel, vm.accelReason, err = resolveAccel(cfg); err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	if vm.plan.Transport, vm.transportReason, err = resolveTransport(cfg); err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	cfg.logf("host: kernel %s (%s boot: %s), accel %s (%s), transport %s (%s)", cfg.Kernel, boot.Method, boot.Reason, vm.plan.Accel, vm.accelReason, vm.plan.Transport, vm.transportReason)

	// Files QEMU inherits; ExtraFiles[i] is fd 3+i in QEMU.
	var extra []*os.File
	inherit := func(f *os.File) int {
		extra = append(extra, f)
		return 2 + len(extra)
	}

	logFile, err := openConsoleLog(cfg.ConsoleLog)
	if err != nil {
		return nil, fmt.Errorf("start vm: console log: %w", err)
	}
	closers = append(closers, func() { logFile.Close() })
	vm.consolePath = logFile.Name()
	vm.console = console.NewMonitor(console.Options{Log: logFile})

	conHost, conGuest, err := socketPair("console")
	if err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	closers = append(closers, func() { conHost.Close(); conGuest.Close() })
	vm.plan.ConsoleFD = inherit(conGuest)

	switch vm.plan.Transport {
	case protocol.TransportVirtioSerial:
		agentHost, agentGuest, err := socketPair("agent")
		if err != nil {
			return nil, fmt.Errorf("start vm: %w", err)
		}
		closers = append(closers, func() { agentHost.Close(); agentGuest.Close() })
		vm.plan.SerialFD = inherit(agentGuest)
		if vm.agent, err = net.FileConn(agentHost); err != nil {
			return nil, fmt.Errorf("start vm: agent socket: %w", err)
		}
		closers = append(closers, func() { vm.agent.Close() })
	case protocol.TransportVsock:
		vhost, cid, err := reserveCID()
		if err != nil {
			return nil, fmt.Errorf("start vm: %w", err)
		}
		closers = append(closers, func() { vhost.Close() })
		// A fresh CID for every VM, restored ones included: the saved
		// guest's CID may be in use by the VM that saved it.
		vm.plan.GuestCID = cid
		vm.plan.VhostFD = inherit(vhost)
	}

	vm.plan.ShareModel = ShareModel(os.Geteuid() == 0)
	vm.start = StartInfo{Mode: StartCold}
	if cfg.State != StateOff {
		// The key leaves the vsock port out: it can be decided after.
		closers = append(closers, vm.planState(cfg, inherit)...)
	}
	if vm.plan.Transport == protocol.TransportVsock {
		if vm.start.Mode == StartWarm {
			// The restored agent is parked and listens; Accept dials it.
			vm.dial = dialVsock
		} else {
			l, err := vsock.ListenContextID(unix.VMADDR_CID_ANY, protocol.VsockPort, nil)
			if errors.Is(err, unix.EADDRINUSE) {
				// Another VM of ours listens on the default port: take
				// any port and tell the guest with scxvm.vsock_port.
				l, err = vsock.ListenContextID(unix.VMADDR_CID_ANY, 0, nil)
			}
			if err != nil {
				return nil, fmt.Errorf("start vm: listen on vsock: %w", err)
			}
			closers = append(closers, func() { l.Close() })
			vm.listener = l
			vm.plan.VsockPort = l.Addr().(*vsock.Addr).Port
		}
	}
	if _, err := KernelCmdline(cfg, vm.plan); err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	args := Args(cfg, vm.plan)
	cmd := exec.Command(qemu, args...)
	cmd.ExtraFiles = extra
	cmd.Stdout = vm.stderr
	cmd.Stderr = vm.stderr
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cfg.logf("host: %s %q", qemu, args)
	if vm.start.Mode == StartWarm {
		cfg.logf("host: restoring %s", vm.start.State)
	}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	vm.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start vm: %w: %v", ErrNoQEMU, err)
	}
	// QEMU has its copies now.
	for _, f := range extra {
		f.Close()
	}
	pid := cmd.Process.Pid
	vm.killFn = func() error {
		// The whole group: QEMU and anything it may have spawned.
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill qemu: %w", err)
		}
		return nil
	}

	conn, err := net.FileConn(conHost)
	conHost.Close()
	if err != nil {
		vm.killFn()
		cmd.Wait()
		return nil, fmt.Errorf("start vm: console socket: %w", err)
	}
	vm.cleanup = append(closers, func() { conn.Close() })
	closers = nil

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		var w io.Writer = vm.console
		if cfg.Interactive {
			w = io.MultiWriter(vm.console, cfg.Stdout)
		}
		io.Copy(w, conn)
	}()
	if cfg.Interactive {
		// This goroutine stays blocked in Stdin.Read after the VM ends
		// until the next read returns; it writes to a closed socket then.
		go io.Copy(conn, cfg.Stdin)
	}
	go vm.supervise(ctx, cmd, conn, logFile, drained)
	if vm.start.Mode == StartWarm {
		go vm.watchRestore(ctx)
	}
	return vm, nil
}

// supervise waits for QEMU, kills it on context end or timeout, and
// finishes the console once QEMU is gone.
func (vm *VM) supervise(ctx context.Context, cmd *exec.Cmd, conn net.Conn, logFile *os.File, drained <-chan struct{}) {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var timeout <-chan time.Time
	if vm.cfg.Timeout > 0 {
		t := time.NewTimer(vm.cfg.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case err = <-exited:
	case <-ctx.Done():
		vm.stop(fmt.Errorf("vm stopped: %w", context.Cause(ctx)))
		err = <-exited
	case <-timeout:
		vm.stop(fmt.Errorf("%w after %v", ErrTimeout, vm.cfg.Timeout))
		err = <-exited
	}
	// Anything left in QEMU's process group goes too.
	vm.killFn()

	// QEMU's end of the console is closed now; give the drain a moment
	// to read what is buffered, then force it.
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		conn.Close()
		<-drained
	}
	vm.console.Close()
	logFile.Sync()

	vm.mu.Lock()
	stopErr := vm.stopErr
	vm.mu.Unlock()
	switch {
	case stopErr != nil:
		vm.waitErr = stopErr
	case err != nil:
		ee := &ExitError{Code: -1, Stderr: vm.stderr.String()}
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			ee.Code = xe.ExitCode()
			if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				ee.Signal = ws.Signal()
			}
			vm.waitErr = ee
		} else {
			vm.waitErr = fmt.Errorf("wait for qemu: %w", err)
		}
	}
	close(vm.done)
}

// socketPair returns two connected stream sockets, both close-on-exec
// (exec.Cmd clears the flag on the files it passes).
func socketPair(name string) (host, guest *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s socketpair: %w", name, err)
	}
	return os.NewFile(uintptr(fds[0]), name+"-host"), os.NewFile(uintptr(fds[1]), name+"-guest"), nil
}

// vhostVsockSetGuestCID is VHOST_VSOCK_SET_GUEST_CID, _IOW(0xAF, 0x60, __u64).
const vhostVsockSetGuestCID = 0x4008af60

// reserveCID opens /dev/vhost-vsock and claims a random free guest CID
// on it, retrying on EADDRINUSE. QEMU inherits the device (vhostfd=), so
// concurrent VMs can never race for the same CID.
func reserveCID() (*os.File, uint32, error) {
	f, err := os.OpenFile("/dev/vhost-vsock", os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open vhost-vsock: %w (try: modprobe vhost_vsock)", err)
	}
	var b [4]byte
	for range 64 {
		if _, err := rand.Read(b[:]); err != nil {
			f.Close()
			return nil, 0, err
		}
		// CIDs 0-2 are reserved and the top values mean "any"; stay in
		// a comfortable range.
		cid := 3 + binary.LittleEndian.Uint32(b[:])%(1<<30)
		v := uint64(cid)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), vhostVsockSetGuestCID, uintptr(unsafe.Pointer(&v)))
		switch errno {
		case 0:
			return f, cid, nil
		case unix.EADDRINUSE:
			continue
		default:
			f.Close()
			return nil, 0, fmt.Errorf("set vsock guest cid %d: %w", cid, errno)
		}
	}
	f.Close()
	return nil, 0, errors.New("set vsock guest cid: no free cid after 64 tries")
}
