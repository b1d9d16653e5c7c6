package host

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

// fakeDialer fails with errs in turn, then connects.
type fakeDialer struct {
	errs  []error
	calls int
	cid   uint32
	port  uint32
	conn  net.Conn
}

func (d *fakeDialer) dial(ctx context.Context, cid, port uint32) (net.Conn, error) {
	d.calls++
	d.cid, d.port = cid, port
	if d.calls <= len(d.errs) {
		return nil, d.errs[d.calls-1]
	}
	if d.conn == nil {
		return nil, errors.New("no more connections")
	}
	return d.conn, nil
}

func TestDialGuest(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "vsock", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name      string
		errs      []error
		connect   bool
		timeout   time.Duration
		exit      bool
		wantCalls int
		wantErr   string
	}{
		{name: "at once", connect: true, timeout: time.Second, wantCalls: 1},
		{name: "after the restore", errs: []error{syscall.ENODEV, syscall.ETIMEDOUT, refused, refused}, connect: true, timeout: 5 * time.Second, wantCalls: 5},
		{name: "nobody listens", errs: []error{refused, refused, refused, refused, refused, refused, refused, refused}, timeout: 100 * time.Millisecond, wantErr: "connection reset"},
		{name: "qemu exits", errs: []error{refused, refused, refused, refused, refused, refused, refused, refused}, timeout: 5 * time.Second, exit: true, wantErr: "qemu exited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDialer{errs: tc.errs}
			var peer net.Conn
			if tc.connect {
				d.conn, peer = net.Pipe()
				defer d.conn.Close()
				defer peer.Close()
			}
			done := make(chan struct{})
			if tc.exit {
				time.AfterFunc(30*time.Millisecond, func() { close(done) })
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			t0 := time.Now()
			c, err := dialGuest(ctx, d.dial, 77, 1023, done, t.Logf)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "vsock 77:1023") {
					t.Fatalf("err %v, want one naming vsock 77:1023 and %q", err, tc.wantErr)
				}
				if d.calls < 2 {
					t.Errorf("%d dials, want retries", d.calls)
				}
				if tc.exit && time.Since(t0) > 2*time.Second {
					t.Errorf("returned %v after QEMU's exit", time.Since(t0))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c != d.conn || d.calls != tc.wantCalls || d.cid != 77 || d.port != 1023 {
				t.Errorf("conn %v after %d dials of %d:%d, want the fake's after %d dials of 77:1023", c, d.calls, d.cid, d.port, tc.wantCalls)
			}
		})
	}
}

// TestAcceptDialsRestoredVsock: a restored vsock VM's Accept dials the
// agent's port at the VM's CID, each call anew.
func TestAcceptDialsRestoredVsock(t *testing.T) {
	var got []uint32
	vm := &VM{cfg: Config{}.withDefaults(), plan: Plan{Transport: protocol.TransportVsock, GuestCID: 99}, done: make(chan struct{})}
	vm.dial = func(ctx context.Context, cid, port uint32) (net.Conn, error) {
		got = append(got, cid, port)
		a, b := net.Pipe()
		b.Close()
		return a, nil
	}
	for range 2 {
		c, err := vm.Accept(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if want := []uint32{99, protocol.VsockAgentPort, 99, protocol.VsockAgentPort}; !slices.Equal(got, want) {
		t.Errorf("dialled %v, want %v", got, want)
	}
}
