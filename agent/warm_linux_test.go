package agent

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

// putChunks sends data as PutFile chunks of n bytes; damaged sends a
// wrong CRC-32C.
func putChunks(t *testing.T, g *guest, path string, data []byte, n int, damaged bool) {
	t.Helper()
	h := protocol.NewFileHash()
	h.Write(data)
	sum := h.Sum32()
	if damaged {
		sum++
	}
	for off := 0; ; off += n {
		end := min(off+n, len(data))
		m := &protocol.PutFile{Path: path, Mode: 0o750, Size: int64(len(data)), Offset: int64(off), Data: data[off:end], Last: end == len(data)}
		if m.Last {
			m.CRC32C = sum
		}
		if err := g.host.Send(m); err != nil {
			t.Fatal(err)
		}
		if m.Last {
			return
		}
	}
}

// park sends Park and waits for Parked; only kernel log batches may come
// before it.
func (g *guest) park() {
	g.t.Helper()
	if err := g.host.Send(&protocol.Park{Reason: "test"}); err != nil {
		g.t.Fatal(err)
	}
	for {
		m := g.recv()
		if _, ok := m.(*protocol.Parked); ok {
			return
		}
		if _, ok := m.(*protocol.KernelLog); !ok {
			g.t.Fatalf("got %s before parked", m.MessageType())
		}
	}
}

func TestSessionParkPutFileResume(t *testing.T) {
	g := newGuest(t, func(c *Config) { c.NoClock = true })
	if _, ok := g.recv().(*protocol.Hello); !ok {
		t.Fatal("first message is no Hello")
	}
	g.park()
	// Parked: a kernel line must wait for the Resume.
	g.kernel(1, "while parked")

	dir := t.TempDir()
	data := []byte(strings.Repeat("scheduler binary ", 1000))
	bin := filepath.Join(dir, "sched", "scx_test")
	putChunks(t, g, bin, data, 4096, false)
	link := filepath.Join(dir, "lib", "libx.so")
	if err := g.host.Send(&protocol.PutFile{Path: link, Link: "libx.so.1", Mode: 0o777}); err != nil {
		t.Fatal(err)
	}
	if err := g.host.Send(&protocol.Resume{WallClock: time.Now(), Entropy: []byte{1, 2, 3}, Files: 2, Restored: true}); err != nil {
		t.Fatal(err)
	}
	if m := g.recv(); m.MessageType() != protocol.TypeHello {
		t.Fatalf("answer to resume: %s (%+v), want hello first (nothing sent while parked)", m.MessageType(), m)
	}
	got, err := os.ReadFile(bin)
	if err != nil || string(got) != string(data) {
		t.Fatalf("file: %v, %d bytes, want %d", err, len(got), len(data))
	}
	if fi, _ := os.Stat(bin); fi.Mode().Perm() != 0o750 {
		t.Errorf("mode %v, want 0750", fi.Mode().Perm())
	}
	if target, err := os.Readlink(link); err != nil || target != "libx.so.1" {
		t.Errorf("link: %q, %v", target, err)
	}
	// The kernel line held back by the park arrives now.
	if kl, ok := g.recv().(*protocol.KernelLog); !ok || kl.Lines[0].Text != "while parked" {
		t.Errorf("after hello: %+v, want the held kernel line", kl)
	}
	// No temporary file is left.
	ents, _ := os.ReadDir(filepath.Dir(bin))
	if len(ents) != 1 {
		t.Errorf("sched dir holds %d entries, want 1", len(ents))
	}
}

func TestSessionPutFileDamaged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		send  func(t *testing.T, g *guest, path string)
		files int
		want  string
	}{
		{"checksum", func(t *testing.T, g *guest, path string) {
			putChunks(t, g, path, []byte("contents"), 3, true)
		}, 1, "crc32c"},
		{"missing-file", func(t *testing.T, g *guest, path string) {
			putChunks(t, g, path, []byte("contents"), 3, false)
		}, 2, "1 files arrived, the host sent 2"},
		{"out-of-order", func(t *testing.T, g *guest, path string) {
			g.host.Send(&protocol.PutFile{Path: path, Size: 8, Offset: 4, Data: []byte("ents"), Last: true})
		}, 1, "out of order"},
		{"unfinished", func(t *testing.T, g *guest, path string) {
			g.host.Send(&protocol.PutFile{Path: path, Size: 8, Offset: 0, Data: []byte("cont")})
		}, 1, "last chunk did not come"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuest(t, func(c *Config) { c.NoClock = true })
			g.recv() // Hello
			path := filepath.Join(t.TempDir(), "f")
			tc.send(t, g, path)
			g.host.Send(&protocol.Resume{Files: tc.files})
			for {
				m := g.recv()
				if m.MessageType() == protocol.TypeKernelLog {
					continue
				}
				e, ok := m.(*protocol.Error)
				if !ok || !e.Fatal || e.Op != "put file" || !strings.Contains(e.Message, tc.want) {
					t.Fatalf("answer %s %+v, want a fatal put file error with %q", m.MessageType(), m, tc.want)
				}
				break
			}
			if _, err := os.Stat(path); err == nil && tc.name != "missing-file" {
				t.Errorf("damaged file %s was put in place", path)
			}
			if err := <-g.done; err == nil {
				t.Error("Serve returned nil after a failed resume")
			}
		})
	}
}

// fakeListener stands for the parked agent's vsock listener: the test
// hands it connections.
type fakeListener struct {
	conns  chan io.ReadWriteCloser
	closed chan struct{}
	once   sync.Once
}

func newFakeListener() *fakeListener {
	return &fakeListener{conns: make(chan io.ReadWriteCloser, 4), closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (io.ReadWriteCloser, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fakeListener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// parkedGuest is a guest whose session listens at Park (as over vsock),
// parked by the test.
func parkedGuest(t *testing.T, rejoin time.Duration) (*guest, *fakeListener) {
	t.Helper()
	l := newFakeListener()
	var listens atomic.Int32
	g := newGuest(t, func(c *Config) {
		c.NoClock = true
		c.RejoinTimeout = rejoin
		c.ParkListen = func() (Listener, error) {
			listens.Add(1)
			return l, nil
		}
	})
	if _, ok := g.recv().(*protocol.Hello); !ok {
		t.Fatal("first message is no Hello")
	}
	if listens.Load() != 0 {
		t.Fatal("the session listened before Park")
	}
	g.park()
	// The snapshot is taken once the host has Parked: the listener must
	// be in it.
	if listens.Load() != 1 {
		t.Fatalf("ParkListen called %d times before Parked, want 1", listens.Load())
	}
	return g, l
}

// TestSessionParkRejoin is a restore over vsock: the channel breaks while
// parked, the host connects again, and the run goes on over the new
// connection.
func TestSessionParkRejoin(t *testing.T) {
	g, l := parkedGuest(t, 10*time.Second)
	g.kernel(1, "while parked")
	// The restore resets the connection.
	g.host.Close()

	// A connection the reset took too: the agent's Parked fails on it.
	deadAgent, deadHost := socketPair(t)
	deadHost.Close()
	l.conns <- deadAgent
	a, h := socketPair(t)
	l.conns <- a
	g.host = protocol.NewConn(h)
	if m := g.recv(); m.MessageType() != protocol.TypeParked {
		t.Fatalf("first message on the new connection: %s, want parked", m.MessageType())
	}

	path := filepath.Join(t.TempDir(), "sched", "scx_test")
	data := []byte(strings.Repeat("restored ", 3000))
	putChunks(t, g, path, data, 4096, false)
	if err := g.host.Send(&protocol.Resume{WallClock: time.Now(), Entropy: []byte{1}, Files: 1, Restored: true}); err != nil {
		t.Fatal(err)
	}
	if m := g.recv(); m.MessageType() != protocol.TypeHello {
		t.Fatalf("answer to resume: %s (%+v), want hello", m.MessageType(), m)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != string(data) {
		t.Fatalf("file: %v, %d bytes, want %d", err, len(got), len(data))
	}
	if kl, ok := g.recv().(*protocol.KernelLog); !ok || kl.Lines[0].Text != "while parked" {
		t.Errorf("after hello: %+v, want the held kernel line", kl)
	}
	if !l.isClosed() {
		t.Error("the listener is still open after Resume")
	}
	if err := g.host.Send(&protocol.Bye{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for {
		if m := g.recv(); m.MessageType() == protocol.TypeBye {
			break
		}
	}
	if err := <-g.done; err != nil {
		t.Errorf("Serve: %v, want nil after a bye on the new connection", err)
	}
}

// TestSessionParkResumeOld is the run that saved the snapshot: Resume
// comes on the old channel, the listener closes, and a broken channel
// afterwards ends the session at once.
func TestSessionParkResumeOld(t *testing.T) {
	g, l := parkedGuest(t, 10*time.Second)
	if err := g.host.Send(&protocol.Resume{WallClock: time.Now(), Entropy: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	for {
		m := g.recv()
		if m.MessageType() == protocol.TypeHello {
			break
		}
		if m.MessageType() != protocol.TypeKernelLog {
			t.Fatalf("answer to resume: %s, want hello", m.MessageType())
		}
	}
	if !l.isClosed() {
		t.Fatal("the listener is still open after Resume")
	}
	g.host.Close()
	select {
	case err := <-g.done:
		if err == nil || strings.Contains(err.Error(), "parked") {
			t.Errorf("Serve: %v, want the channel's end (no rejoin after Resume)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session still runs 5s after its channel closed")
	}
}

// TestSessionRejoinTimeout: no host comes back after the channel broke
// while parked; the session ends after RejoinTimeout.
func TestSessionRejoinTimeout(t *testing.T) {
	g, l := parkedGuest(t, 300*time.Millisecond)
	t0 := time.Now()
	g.host.Close()
	select {
	case err := <-g.done:
		if err == nil || !strings.Contains(err.Error(), "no new connection") {
			t.Errorf("Serve: %v, want a rejoin failure", err)
		}
		if d := time.Since(t0); d < 300*time.Millisecond {
			t.Errorf("gave up after %v, before the rejoin timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session still waits 5s after a 300ms rejoin timeout")
	}
	if !l.isClosed() {
		t.Error("the listener is still open")
	}
}
