package vmtest

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/initramfs"
	"github.com/scxvm/scxvm/protocol"
)

// fakeStateVM is a fake VM that can be saved and restored.
type fakeStateVM struct {
	*fakeVM
	si      host.StartInfo
	mu      sync.Mutex
	saves   int
	dropped bool
}

func (v *fakeStateVM) Start() host.StartInfo { return v.si }
func (v *fakeStateVM) SaveState(ctx context.Context) (host.SaveInfo, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.saves++
	return host.SaveInfo{Path: v.si.State, Size: 1 << 20}, nil
}
func (v *fakeStateVM) DropState() error { v.dropped = true; return nil }

// warmAgent is a fake agent of a cold (hello first) or restored guest: it
// answers Park, assembles PutFile chunks into files and, at Resume, goes
// on as serveJobs (whose Hello answers the Resume).
func warmAgent(cold bool, files map[string][]byte, parked *bool) func(*protocol.Conn, *fakeVM) {
	return func(c *protocol.Conn, vm *fakeVM) {
		if cold && c.Send(hello()) != nil {
			return
		}
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			switch m := m.(type) {
			case *protocol.Park:
				*parked = true
				c.Send(&protocol.Parked{})
			case *protocol.PutFile:
				files[m.Path] = append(files[m.Path], m.Data...)
				if m.Last {
					h := protocol.NewFileHash()
					h.Write(files[m.Path])
					if h.Sum32() != m.CRC32C {
						c.Send(&protocol.Error{Op: "put file", Message: "checksum", Fatal: true})
						return
					}
				}
			case *protocol.Resume:
				if m.Files != len(files) || len(m.Entropy) == 0 || m.WallClock.IsZero() {
					c.Send(&protocol.Error{Op: "put file", Message: "bad resume", Fatal: true})
					return
				}
				serveJobs(nil)(c, vm)
				return
			}
		}
	}
}

func TestSessionWarm(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "scx_test")
	data := []byte(strings.Repeat("x", 3*protocol.PutFileChunk/2))
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	overlay := []initramfs.OverlayFile{{Dst: "/sched/scx_test", Src: bin, Mode: 0o755}}
	for _, tc := range []struct {
		name          string
		si            host.StartInfo
		cold          bool
		wantSave      bool
		wantPark      bool
		wantStart     string
		restoreFailed bool
	}{
		{"cold-save", host.StartInfo{Mode: host.StartCold, Key: "k", State: "/cache/snapshot/vmstate-k", Note: "no saved state yet"}, true, true, true, host.StartCold, false},
		{"cold-off", host.StartInfo{Mode: host.StartCold}, true, false, false, host.StartCold, false},
		{"warm", host.StartInfo{Mode: host.StartWarm, Key: "k", State: "/cache/snapshot/vmstate-k"}, false, false, false, host.StartWarm, false},
		{"warm-dead", host.StartInfo{Mode: host.StartWarm, Key: "k", State: "/cache/snapshot/vmstate-k"}, false, false, false, host.StartWarm, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			parked := false
			agent := warmAgent(tc.cold, files, &parked)
			if tc.restoreFailed {
				agent = func(*protocol.Conn, *fakeVM) {} // QEMU exits at once
			}
			vm := &fakeStateVM{fakeVM: newFakeVM(agent), si: tc.si}
			s := newSession(t, Config{}, vm)
			s.warm = &warmRun{overlay: overlay}
			s.startInfo()
			err := s.run(context.Background())
			var re *restoreError
			if tc.restoreFailed {
				if !errors.As(err, &re) {
					t.Fatalf("err %v, want a restore error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if !s.res.Passed || s.res.Start != tc.wantStart {
				t.Errorf("passed %v, start %q (%s)", s.res.Passed, s.res.Start, s.res.StartNote)
			}
			if (vm.saves == 1) != tc.wantSave || parked != tc.wantPark {
				t.Errorf("%d saves, parked %v; want save %v, park %v", vm.saves, parked, tc.wantSave, tc.wantPark)
			}
			if string(files["/sched/scx_test"]) != string(data) {
				t.Errorf("the guest got %d bytes of the scheduler, want %d", len(files["/sched/scx_test"]), len(data))
			}
			if sn := s.res.Snapshot; sn == nil || sn.Files != 1 || sn.FileBytes != int64(len(data)) || sn.Saved != tc.wantSave {
				t.Errorf("snapshot %+v", sn)
			}
		})
	}
}

// fakeVsockVM is a restored vsock VM: each Accept is a new connection to
// the parked agent, whose side of the nth one (from 1) agent serves.
type fakeVsockVM struct {
	*fakeStateVM
	mu      sync.Mutex
	accepts int
	agent   func(n int, c *protocol.Conn, vm *fakeVM)
}

func (v *fakeVsockVM) Transport() string { return protocol.TransportVsock }

func (v *fakeVsockVM) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	v.mu.Lock()
	v.accepts++
	n := v.accepts
	v.mu.Unlock()
	h, g := net.Pipe()
	go func() {
		defer g.Close()
		v.agent(n, protocol.NewConn(g), v.fakeVM)
	}()
	return h, nil
}

// TestRejoinParked: the host's connections to a parked agent after a
// vsock restore, until one brings Parked.
func TestRejoinParked(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []func(c *protocol.Conn) // the agent's side of each connection
		timeout time.Duration
		want    int    // connections made
		wantErr string // "": rejoined on the last connection
	}{
		{"first", []func(*protocol.Conn){sendParked}, time.Second, 1, ""},
		{"reset then parked", []func(*protocol.Conn){closeConn, closeConn, sendParked}, 5 * time.Second, 3, ""},
		{"not parked", []func(*protocol.Conn){sendHello, sendParked}, 5 * time.Second, 2, ""},
		// The guest's reset took the first connection without a word to
		// the host.
		{"silent then parked", []func(*protocol.Conn){silent, sendParked}, 5 * time.Second, 2, ""},
		{"nobody", []func(*protocol.Conn){closeConn, closeConn, closeConn, closeConn, closeConn, closeConn, closeConn, closeConn, closeConn, closeConn}, 50 * time.Millisecond, 0, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			accept := func(ctx context.Context) (io.ReadWriteCloser, error) {
				if n == len(tc.answers) {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				h, g := net.Pipe()
				go tc.answers[n](protocol.NewConn(g))
				n++
				return h, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			c, err := rejoinParked(ctx, accept, t.Logf)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n != tc.want {
				t.Errorf("%d connections, want %d", n, tc.want)
			}
			// The rejoined connection is the live one: its agent echoes.
			if err := c.Send(&protocol.Resume{Files: 7}); err != nil {
				t.Fatal(err)
			}
			if m, err := c.Recv(); err != nil || m.(*protocol.Resume).Files != 7 {
				t.Errorf("after the rejoin: %v %v, want the echo", m, err)
			}
		})
	}
}

func closeConn(c *protocol.Conn) { c.Close() }

// silent holds the connection without a word until the host closes it.
func silent(c *protocol.Conn) { c.Recv(); c.Close() }

func sendHello(c *protocol.Conn) { c.Send(hello()); c.Recv(); c.Close() }

// sendParked answers as a parked agent that accepted the connection, then
// echoes one message.
func sendParked(c *protocol.Conn) {
	defer c.Close()
	if c.Send(&protocol.Parked{}) != nil {
		return
	}
	if m, err := c.Recv(); err == nil {
		c.Send(m)
	}
}

// TestSessionWarmVsock: a restored vsock guest is reached over the host's
// connections, and a first one that the guest's reset took is retried.
func TestSessionWarmVsock(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "scx_test")
	data := []byte(strings.Repeat("v", 4096))
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		agent    func(n int, c *protocol.Conn, vm *fakeVM)
		files    map[string][]byte
		wantErr  bool
		accepted int
	}{
		{"reset then parked", nil, map[string][]byte{}, false, 2},
		{"never parked", func(n int, c *protocol.Conn, vm *fakeVM) {
			if n == 3 {
				vm.exit() // the agent gave up: the guest powers off
			}
		}, nil, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parked := false
			agent := tc.agent
			if agent == nil {
				agent = func(n int, c *protocol.Conn, vm *fakeVM) {
					if n == 1 {
						return // the guest's transport reset took it
					}
					if c.Send(&protocol.Parked{}) != nil {
						return
					}
					warmAgent(false, tc.files, &parked)(c, vm)
					vm.exit()
				}
			}
			base := newFakeVM(func(c *protocol.Conn, vm *fakeVM) { c.Recv() }) // the device's own stream: unused
			vm := &fakeVsockVM{
				fakeStateVM: &fakeStateVM{fakeVM: base, si: host.StartInfo{Mode: host.StartWarm, Key: "k", State: "/cache/snapshot/vmstate-k"}},
				agent:       agent,
			}
			s := newSession(t, Config{}, vm)
			s.warm = &warmRun{overlay: []initramfs.OverlayFile{{Dst: "/sched/scx_test", Src: bin, Mode: 0o755}}}
			s.startInfo()
			err := s.run(context.Background())
			if tc.wantErr {
				var re *restoreError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), "vsock") {
					t.Fatalf("err %v, want a restore error naming vsock", err)
				}
				if vm.accepts < tc.accepted {
					t.Errorf("%d connections, want retries until QEMU exited", vm.accepts)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if !s.res.Passed || s.res.Start != host.StartWarm || s.res.Transport != protocol.TransportVsock {
				t.Errorf("passed %v, start %q, transport %q", s.res.Passed, s.res.Start, s.res.Transport)
			}
			if vm.accepts != tc.accepted {
				t.Errorf("%d connections, want %d", vm.accepts, tc.accepted)
			}
			if string(tc.files["/sched/scx_test"]) != string(data) {
				t.Errorf("the guest got %d bytes of the scheduler, want %d", len(tc.files["/sched/scx_test"]), len(data))
			}
		})
	}
}
