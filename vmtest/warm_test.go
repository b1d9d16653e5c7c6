package vmtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
					sum := sha256.Sum256(files[m.Path])
					if hex.EncodeToString(sum[:]) != m.SHA256 {
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
