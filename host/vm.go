package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/vsock"
	"github.com/scxvm/scxvm/host/console"
	"github.com/scxvm/scxvm/protocol"
)

// ConsoleEvent is a kernel failure report found on the serial console.
type ConsoleEvent = console.Event

// VM is a running QEMU guest. Its methods are safe for concurrent use.
// Wait (or Close) must be called to release its resources.
type VM struct {
	cfg             Config
	plan            Plan
	boot            BootInfo
	start           StartInfo
	qmp             *qmp          // the QMP monitor (Config.State), or nil
	stateFile       os.FileInfo   // the state restored from (warm)
	ramFile         *os.File      // the guest's memory, for SaveState (plan.RAMShared)
	restored        time.Duration // QEMU start to the restored guest running (under mu)
	accelReason     string
	transportReason string
	started         time.Time

	console     *console.Monitor
	consolePath string

	agent    net.Conn // virtio-serial: host end of the port's socket
	listener vsockListener
	dial     dialFunc // vsock, restored: how Accept reaches the parked agent
	stderr   *tailBuffer
	cleanup  []func() // run once by Close, after QEMU is gone

	killFn func() error // kills QEMU's process group

	done    chan struct{} // closed when QEMU exited and the console is drained
	waitErr error         // valid after done

	mu       sync.Mutex
	stopErr  error // why we killed QEMU (timeout, context), nil if not us
	accepted bool  // the virtio-serial stream was handed out

	acceptMu sync.Mutex // one vsock Accept at a time

	closeOnce sync.Once
}

// dialFunc connects to port of the guest with vsock CID cid.
type dialFunc func(ctx context.Context, cid, port uint32) (net.Conn, error)

// dialVsock is the real dialFunc.
func dialVsock(ctx context.Context, cid, port uint32) (net.Conn, error) {
	return vsock.DialContext(ctx, cid, port, nil)
}

// vsockListener is the part of *vsock.Listener the VM uses.
type vsockListener interface {
	net.Listener
	SetDeadline(time.Time) error
}

// Accel returns the accelerator in use: "kvm" or "tcg".
func (vm *VM) Accel() string { return vm.plan.Accel }

// AccelReason explains the accelerator choice, for example why KVM was
// not used.
func (vm *VM) AccelReason() string { return vm.accelReason }

// Boot says how the kernel was booted: through PVH (an ELF vmlinux) or
// the bzImage, the file given to QEMU, and why.
func (vm *VM) Boot() BootInfo { return vm.boot }

// Transport returns the agent transport in use: "vsock" or
// "virtio-serial".
func (vm *VM) Transport() string { return vm.plan.Transport }

// TransportReason explains the transport choice.
func (vm *VM) TransportReason() string { return vm.transportReason }

// Plan returns the decisions Start made (accelerator, transport, fds).
func (vm *VM) Plan() Plan { return vm.plan }

// Started returns when QEMU was started.
func (vm *VM) Started() time.Time { return vm.started }

// ConsolePath returns the file holding the full serial console log. It
// is kept after Close.
func (vm *VM) ConsolePath() string { return vm.consolePath }

// ConsoleTail returns up to n of the most recent console lines.
func (vm *VM) ConsoleTail(n int) []string { return vm.console.Tail(n) }

// Events returns a channel of kernel failure reports (panic, oops, BUG,
// WARNING, RCU stall, hung task) as they are detected on the console,
// each with its context. Sends never block: a slow reader may miss some,
// which Incidents still lists. The channel is closed once QEMU has exited
// and the console is drained.
func (vm *VM) Events() <-chan ConsoleEvent { return vm.console.Events() }

// Incidents returns every kernel failure report detected so far.
func (vm *VM) Incidents() []ConsoleEvent { return vm.console.Incidents() }

// Done returns a channel closed when QEMU has exited and its console is
// drained; Wait then returns at once.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Accept returns the stream to the guest agent: for virtio-serial the
// host end of the port (available at once; reads block until the guest
// writes), for vsock the first connection from this guest. A vsock VM
// restored from a saved state gets no connection from its agent (a
// restore resets the guest's vsock connections, and the agent is parked):
// Accept dials the agent's port (protocol.VsockAgentPort) at the VM's
// fresh CID, again and again until the restored guest listens, and each
// call dials anew. The stream is a net.Conn, so deadlines work. Accept
// fails if QEMU exits first or ctx ends. With virtio-serial it can be
// called only once.
func (vm *VM) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	if vm.dial != nil {
		return dialGuest(ctx, vm.dial, vm.plan.GuestCID, protocol.VsockAgentPort, vm.done, vm.cfg.logf)
	}
	if vm.agent != nil {
		vm.mu.Lock()
		defer vm.mu.Unlock()
		if vm.accepted {
			return nil, errors.New("accept: the virtio-serial stream was already accepted")
		}
		vm.accepted = true
		return vm.agent, nil
	}
	// Not under vm.mu: this blocks, and stop needs the lock to kill.
	vm.acceptMu.Lock()
	defer vm.acceptMu.Unlock()
	return vm.acceptVsock(ctx)
}

func (vm *VM) acceptVsock(ctx context.Context) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		for {
			c, err := vm.listener.Accept()
			if err != nil {
				ch <- result{nil, err}
				return
			}
			if !vm.fromGuest(c.RemoteAddr()) {
				c.Close()
				continue
			}
			ch <- result{c, nil}
			return
		}
	}()
	stop := func(cause error) error {
		vm.listener.SetDeadline(time.Unix(1, 0))
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		vm.listener.SetDeadline(time.Time{})
		return cause
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("accept vsock: %w", r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		return nil, stop(fmt.Errorf("accept vsock: %w", context.Cause(ctx)))
	case <-vm.done:
		return nil, stop(fmt.Errorf("accept vsock: qemu exited before the guest connected: %v", vm.waitErr))
	}
}

// Bounds of dialGuest's pause between attempts.
const (
	dialBackoffMin = 5 * time.Millisecond
	dialBackoffMax = 200 * time.Millisecond
)

// dialGuest connects to port at guest cid through dial, retrying with a
// growing pause while the guest does not answer (QEMU still restoring:
// the connect times out or the device is not there; the guest's transport
// not back yet or nobody listening: reset, refused) until ctx ends or done
// (QEMU's exit) closes. It logs each new kind of failure once.
func dialGuest(ctx context.Context, dial dialFunc, cid, port uint32, done <-chan struct{}, logf func(string, ...any)) (net.Conn, error) {
	backoff := dialBackoffMin
	var last error
	for attempt := 1; ; attempt++ {
		c, err := dial(ctx, cid, port)
		if err == nil {
			if attempt > 1 {
				logf("host: connected to the agent at vsock %d:%d after %d attempts", cid, port, attempt)
			}
			return c, nil
		}
		if last == nil || err.Error() != last.Error() {
			logf("host: dial the agent at vsock %d:%d: %v (retrying)", cid, port, err)
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial the agent at vsock %d:%d: %w (%d attempts, the last: %v)", cid, port, context.Cause(ctx), attempt, last)
		case <-done:
			return nil, fmt.Errorf("dial the agent at vsock %d:%d: qemu exited (%d attempts, the last: %v)", cid, port, attempt, last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, dialBackoffMax)
	}
}

// Wait waits for QEMU to exit and the console to be drained. It returns
// nil when QEMU exited with status 0 (which includes a guest power-off
// and, thanks to -no-reboot and panic=-1, a guest panic: check
// Incidents), an error wrapping ErrTimeout when Config.Timeout fired, the
// context's error when the context given to Start ended, or an
// *ExitError.
func (vm *VM) Wait() error {
	<-vm.done
	return vm.waitErr
}

// Kill kills QEMU (SIGKILL to its process group) without waiting; Wait
// then returns an *ExitError. Killing an exited VM is not an error.
func (vm *VM) Kill() error {
	select {
	case <-vm.done:
		return nil
	default:
	}
	return vm.killFn()
}

// stop records why the VM is being killed and kills it.
func (vm *VM) stop(cause error) {
	vm.mu.Lock()
	if vm.stopErr == nil {
		vm.stopErr = cause
	}
	vm.mu.Unlock()
	vm.killFn()
}

// Close kills QEMU if it is still running, waits for it, and releases
// everything the VM holds: the agent stream, the vsock listener and
// device, the console log file descriptor. The console log file itself
// is kept (see ConsolePath). Close is idempotent and returns nil; use
// Wait for the VM's outcome.
func (vm *VM) Close() error {
	vm.closeOnce.Do(func() {
		vm.Kill()
		<-vm.done
		for i := len(vm.cleanup) - 1; i >= 0; i-- {
			vm.cleanup[i]()
		}
	})
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// openConsoleLog opens cfg.ConsoleLog, or a new temporary file.
func openConsoleLog(path string) (*os.File, error) {
	if path == "" {
		return os.CreateTemp("", "scxvm-console-*.log")
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

// fromGuest reports whether a vsock peer is this VM's guest.
func (vm *VM) fromGuest(a net.Addr) bool {
	va, ok := a.(*vsock.Addr)
	return ok && va.ContextID == vm.plan.GuestCID
}
