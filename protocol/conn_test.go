package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// unixPair returns the two ends of a unix stream socket connection made
// through a listener in a temporary directory.
func unixPair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "scxvm-proto") // t.TempDir paths can exceed sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.UnixConn, 1)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	a, err := net.DialUnix("unix", nil, ln.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.FailNow()
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestConnUnixConcurrent sends from several goroutines on both ends of a
// real unix socket while each end reads concurrently, and checks that every
// message arrives whole, once, in per-sender order. Run it with -race.
func TestConnUnixConcurrent(t *testing.T) {
	a, b := unixPair(t)
	host, agent := NewConn(a), NewConn(b)
	const senders, perSender = 4, 300

	send := func(c *Conn, side uint32) *sync.WaitGroup {
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range perSender {
					p := &Progress{JobID: side*100 + uint32(s), At: time.Duration(i),
						Iterations: make([]uint64, 64), SchedState: "enabled"}
					p.Iterations[i%64] = uint64(i)
					if err := c.Send(p); err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			})
		}
		return &wg
	}
	recv := func(c *Conn, side uint32, done chan<- struct{}) {
		defer close(done)
		next := make([]time.Duration, senders)
		for range senders * perSender {
			m, err := c.Recv()
			if err != nil {
				t.Errorf("receive: %v", err)
				return
			}
			p := m.(*Progress)
			s := int(p.JobID) - int(side)*100
			if s < 0 || s >= senders || p.At != next[s] || p.Iterations[int(p.At)%64] != uint64(p.At) {
				t.Errorf("unexpected message %+v (want sender %d at %d)", p, s, next[max(0, min(s, senders-1))])
				return
			}
			next[s]++
		}
	}
	hostDone, agentDone := make(chan struct{}), make(chan struct{})
	go recv(host, 2, hostDone) // the host reads what the agent sends
	go recv(agent, 1, agentDone)
	wa := send(agent, 2)
	wh := send(host, 1)
	wa.Wait()
	wh.Wait()
	<-hostDone
	<-agentDone

	// Bye, then close: the other end sees Bye then io.EOF.
	if err := agent.Send(&Bye{Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	if err := agent.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err := host.Recv(); err != nil || m.(*Bye).Reason != "done" {
		t.Fatalf("got %v, %v; want bye", m, err)
	}
	if _, err := host.Recv(); err != io.EOF {
		t.Fatalf("after the peer closed: %v, want io.EOF", err)
	}
}

func TestConnClose(t *testing.T) {
	a, _ := unixPair(t)
	c := NewConn(a)
	recvErr := make(chan error, 1)
	go func() {
		_, err := c.Recv()
		recvErr <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := <-recvErr; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Recv after Close: %v, want ErrClosed", err)
	}
	if err := c.Send(&Bye{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Recv(); !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
}

func TestConnDeadlines(t *testing.T) {
	a, b := unixPair(t)
	c, peer := NewConn(a), NewConn(b)

	// A read deadline that fires between frames can be retried.
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv past deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := peer.Send(&Bye{Reason: "1"}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Recv(); err != nil || m.(*Bye).Reason != "1" {
		t.Fatalf("Recv after a timed-out Recv: %v, %v", m, err)
	}

	// RecvContext: cancellation and deadline, then the Conn still works.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.RecvContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("RecvContext canceled: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.RecvContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecvContext past deadline: %v, want context.DeadlineExceeded", err)
	}
	if err := peer.Send(&Bye{Reason: "2"}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.RecvContext(context.Background()); err != nil || m.(*Bye).Reason != "2" {
		t.Fatalf("RecvContext after interrupted ones: %v, %v", m, err)
	}
	if err := c.SendContext(context.Background(), &Bye{Reason: "3"}); err != nil {
		t.Fatal(err)
	}
	if m, err := peer.Recv(); err != nil || m.(*Bye).Reason != "3" {
		t.Fatalf("peer got %v, %v", m, err)
	}
}

// pipeRWC is a stream without deadlines.
type pipeRWC struct {
	io.Reader
	io.Writer
	closed chan struct{}
	once   sync.Once
}

func (p *pipeRWC) Close() error {
	p.once.Do(func() {
		close(p.closed)
		p.Reader.(*io.PipeReader).Close()
	})
	return nil
}

func TestConnWithoutDeadlines(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	rwc := &pipeRWC{Reader: pr, Writer: io.Discard, closed: make(chan struct{})}
	c := NewConn(rwc)
	for name, set := range map[string]func(time.Time) error{
		"SetDeadline": c.SetDeadline, "SetReadDeadline": c.SetReadDeadline, "SetWriteDeadline": c.SetWriteDeadline,
	} {
		if err := set(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
			t.Errorf("%s: %v, want os.ErrNoDeadline", name, err)
		}
	}
	// Cancellation falls back to closing the Conn.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.RecvContext(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrClosed) {
		t.Fatalf("RecvContext: %v, want DeadlineExceeded and ErrClosed", err)
	}
	select {
	case <-rwc.closed:
	default:
		t.Error("stream not closed")
	}
}

func TestAcceptHello(t *testing.T) {
	good := &Hello{ProtocolVersion: Version, Agent: CurrentBuild(), Transport: TransportVirtioSerial}
	tests := []struct {
		name      string
		agentOpts []Option
		first     Message
		wantErr   string // "" for success
		version   bool   // the error must be a *VersionError
	}{
		{name: "ok", first: good},
		{name: "hello version", first: &Hello{ProtocolVersion: Version + 1}, wantErr: fmt.Sprintf("protocol version mismatch: host speaks %d, agent speaks %d", Version, Version+1), version: true},
		{name: "frame version", agentOpts: []Option{withVersion(Version + 4)}, first: good, wantErr: fmt.Sprintf("protocol version mismatch: host speaks %d, agent speaks %d", Version, Version+4), version: true},
		{name: "not hello", first: &Progress{}, wantErr: "handshake: got progress, want hello"},
		{name: "agent error", first: &Error{Op: "agent", Message: "no sched_ext"}, wantErr: "agent reports error in agent: no sched_ext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := unixPair(t)
			host, agent := NewConn(a), NewConn(b, tt.agentOpts...)
			if err := agent.Send(tt.first); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h, err := host.AcceptHello(ctx)
			if tt.wantErr == "" {
				if err != nil || !reflect.DeepEqual(h, good) {
					t.Fatalf("AcceptHello = %+v, %v", h, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("AcceptHello error %v, want one containing %q", err, tt.wantErr)
			}
			var verr *VersionError
			if tt.version != errors.As(err, &verr) || tt.version != errors.Is(err, ErrVersion) {
				t.Errorf("error %v: VersionError %v, want %v", err, !tt.version, tt.version)
			}
			if !tt.version {
				return
			}
			// The agent is told, when it can read this version's frames.
			m, err := agent.RecvContext(ctx)
			if tt.agentOpts != nil {
				if !errors.Is(err, ErrVersion) {
					t.Errorf("agent of another version read %v, %v; want ErrVersion", m, err)
				}
				return
			}
			if e, ok := m.(*Error); err != nil || !ok || !e.Fatal || !strings.Contains(e.Message, tt.wantErr) {
				t.Errorf("agent got %#v, %v; want a fatal handshake Error", m, err)
			}
		})
	}
	if err := CheckHello(nil); err == nil {
		t.Error("CheckHello(nil) succeeded")
	}
}
