package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

// putChunks sends data as PutFile chunks of n bytes.
func putChunks(t *testing.T, g *guest, path string, data []byte, n int, sum string) {
	t.Helper()
	if sum == "" {
		h := sha256.Sum256(data)
		sum = hex.EncodeToString(h[:])
	}
	for off := 0; ; off += n {
		end := min(off+n, len(data))
		m := &protocol.PutFile{Path: path, Mode: 0o750, Size: int64(len(data)), Offset: int64(off), Data: data[off:end], Last: end == len(data)}
		if m.Last {
			m.SHA256 = sum
		}
		if err := g.host.Send(m); err != nil {
			t.Fatal(err)
		}
		if m.Last {
			return
		}
	}
}

func TestSessionParkPutFileResume(t *testing.T) {
	g := newGuest(t, func(c *Config) { c.NoClock = true })
	if _, ok := g.recv().(*protocol.Hello); !ok {
		t.Fatal("first message is no Hello")
	}
	if err := g.host.Send(&protocol.Park{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for {
		m := g.recv()
		if _, ok := m.(*protocol.Parked); ok {
			break
		}
		if _, ok := m.(*protocol.KernelLog); !ok {
			t.Fatalf("got %s before parked", m.MessageType())
		}
	}
	// Parked: a kernel line must wait for the Resume.
	g.kernel(1, "while parked")

	dir := t.TempDir()
	data := []byte(strings.Repeat("scheduler binary ", 1000))
	bin := filepath.Join(dir, "sched", "scx_test")
	putChunks(t, g, bin, data, 4096, "")
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
			putChunks(t, g, path, []byte("contents"), 3, strings.Repeat("0", 64))
		}, 1, "checksum"},
		{"missing-file", func(t *testing.T, g *guest, path string) {
			putChunks(t, g, path, []byte("contents"), 3, "")
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
