package vmtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/initramfs"
	"github.com/scxvm/scxvm/protocol"
)

// Warm starts. Run boots from a base image (the agent, the kernel's
// modules and config: nothing that differs per run) and sends the rest
// (scheduler binaries, their libraries, Config.ExtraFiles) over the
// channel after the agent's first Hello, with the wall clock and fresh
// entropy (protocol's PutFile and Resume); the agent answers with a
// second Hello. When the VM may be saved (not Config.Cold), the host
// first parks the agent (Park, Parked: nothing in flight), saves the VM's
// state into the cache (host.VM.SaveState) and lets it go on. A later run
// of the same machine restores that state instead of booting and goes
// straight to the files, over a channel opened anew (rejoin: over vsock
// the restore reset the agent's connection, and the host dials the parked
// agent). A restore that fails (a damaged file, another QEMU, a vsock
// agent that never answered) deletes the state and boots cold, with a
// note.

// restoreTimeout bounds a restored guest's answer to Resume.
const restoreTimeout = 30 * time.Second

// entropyBytes is how much fresh randomness a guest gets.
const entropyBytes = 64

// stateVM is what warm starts need from the VM (host's *VM).
type stateVM interface {
	Start() host.StartInfo
	SaveState(ctx context.Context) (host.SaveInfo, error)
	DropState() error
}

// warmRun is a session's warm start plan.
type warmRun struct {
	// overlay goes into the guest over the channel.
	overlay []initramfs.OverlayFile
	// restored: the VM started from a saved state; save: save one after
	// the first Hello.
	restored, save bool
}

// restoreTimeout bounds a restored guest's answer to Resume: a restore
// takes well under a second, the files go at a few MB/s under TCG (the
// bound allows 256 KB/s), and a boot would not take longer than boot.
func (w *warmRun) restoreTimeout(boot time.Duration) time.Duration {
	return min(restoreTimeout, boot) + w.filesTime()
}

// filesTime is what the files may take over the channel: a second per
// 256 KB.
func (w *warmRun) filesTime() time.Duration {
	var n int64
	for _, f := range w.overlay {
		if fi, err := os.Stat(f.Src); err == nil && f.Link == "" {
			n += fi.Size()
		}
	}
	return time.Duration(n/(256<<10)) * time.Second
}

// Bounds of the wait for a parked agent's Parked on a vsock connection
// the host made after a restore; it doubles from one connection to the
// next. The agent sends Parked as soon as it accepts. A connection the
// guest took before its transport reset (the reset event and the
// connection request race after a restore) is reset on the guest's side
// only: the host's end sees nothing, so only this bound ends it. A live
// agent slower than the bound loses that connection and takes the next.
const (
	rejoinAnswerMin = time.Second
	rejoinAnswerMax = 8 * time.Second
)

// restoreError is a restored guest that did not come up: Run deletes the
// state and boots cold.
type restoreError struct{ err error }

func (e *restoreError) Error() string { return "restore: " + e.err.Error() }
func (e *restoreError) Unwrap() error { return e.err }

// startInfo reads how the VM came up into the result and the session's
// plan.
func (s *session) startInfo() {
	sv, ok := s.vm.(stateVM)
	if !ok || s.warm == nil {
		return
	}
	si := sv.Start()
	s.res.Start = si.Mode
	switch {
	case si.Mode == host.StartWarm:
		s.warm.restored = true
		s.res.Snapshot = &SnapshotInfo{Path: si.State}
	case s.cfg.Cold:
		s.res.StartNote = "cold boot asked for (--cold)"
	case len(s.cfg.Shares) > 0:
		// QEMU refuses to migrate a guest that has a virtio-9p export
		// mounted.
		s.res.StartNote = "a guest with --share directories is not saved"
	default:
		s.res.StartNote = si.Note
		s.warm.save = si.Key != ""
	}
}

// runRestored is run's part for a restored guest: the channel to the
// parked agent, the files, Resume and its Hello, then the jobs. A guest
// that does not come up, or whose agent is not this scxvm's, is a
// restoreError.
func (s *session) runRestored(ctx, live context.Context) error {
	rctx, rcancel := context.WithTimeout(live, s.warm.restoreTimeout(s.cfg.bootTimeout()))
	defer rcancel()
	defer func() {
		if s.conn != nil {
			s.conn.Close()
		}
	}()
	err := s.rejoin(rctx)
	s.cfg.logf("agent channel open after %v", s.vm.Since())
	var hello *protocol.Hello
	if err == nil {
		hello, err = s.resume(rctx)
	}
	if err == nil {
		if cerr := protocol.CurrentBuild().Compatible(hello.Agent); cerr != nil {
			err = fmt.Errorf("the snapshot's agent: %w", cerr) // a stale snapshot
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			s.vm.Kill()
			<-s.vmDone
			return ctx.Err()
		}
		var ie *InfraError
		if errors.As(err, &ie) {
			s.bye(live)
			return err
		}
		s.vm.Kill()
		<-s.vmDone
		if s.vmErr != nil {
			err = fmt.Errorf("%w (qemu: %v)", err, s.vmErr)
		}
		return &restoreError{err: err}
	}
	return s.welcome(ctx, live, hello, s.vm.Since())
}

// rejoin opens the channel to a restored guest's parked agent. A
// virtio-serial port survived the restore: the host's new socket is the
// channel, and the agent waits on it. A vsock connection did not: the
// restore reset the guest's connections and gave it a fresh CID, and the
// parked agent listens (protocol.VsockAgentPort); Accept dials it and the
// agent confirms with Parked (see rejoinParked).
func (s *session) rejoin(ctx context.Context) error {
	if s.vm.Transport() != protocol.TransportVsock {
		stream, err := s.vm.Accept(ctx)
		if err != nil {
			return fmt.Errorf("open the channel: %w", err)
		}
		s.conn = protocol.NewConn(stream)
		return nil
	}
	c, err := rejoinParked(ctx, s.vm.Accept, s.cfg.logf)
	if err != nil {
		return fmt.Errorf("vsock: reach the parked agent (port %d at the guest's new CID): %w", protocol.VsockAgentPort, err)
	}
	s.conn = c
	return nil
}

// rejoinParked connects to a parked agent through accept (a new
// connection each call) until one brings the agent's Parked within the
// answer bound (rejoinAnswerMin, doubling up to rejoinAnswerMax), or ctx
// ends. A connection that raced with the guest's transport reset (made
// before the reset, which took it) ends without one, or is silent: it is
// closed and the next one made.
func rejoinParked(ctx context.Context, accept func(context.Context) (io.ReadWriteCloser, error), logf func(string, ...any)) (*protocol.Conn, error) {
	var last error
	answer := rejoinAnswerMin
	for attempt := 1; ; attempt++ {
		stream, err := accept(ctx)
		if err != nil {
			if last != nil {
				return nil, fmt.Errorf("%w (before: %v)", err, last)
			}
			return nil, err
		}
		c := protocol.NewConn(stream)
		actx, cancel := context.WithTimeout(ctx, answer)
		answer = min(2*answer, rejoinAnswerMax)
		m, err := c.RecvContext(actx)
		cancel()
		if err == nil {
			if _, ok := m.(*protocol.Parked); ok {
				return c, nil
			}
			err = fmt.Errorf("got %s, want parked", m.MessageType())
		}
		c.Close()
		last = fmt.Errorf("connection %d: %w", attempt, err)
		logf("rejoin the parked agent: %v", last)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %v)", context.Cause(ctx), last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// await receives messages until want accepts one, filing kernel log
// lines meanwhile; a fatal Error of the agent ends the wait.
func (s *session) await(ctx context.Context, what string, want func(protocol.Message) bool) (protocol.Message, error) {
	for {
		m, err := s.conn.RecvContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("wait for %s: %w", what, err)
		}
		switch m := m.(type) {
		case *protocol.KernelLog:
			s.kernelLines(m, nil)
			continue
		case *protocol.Error:
			if m.Fatal {
				return m, fmt.Errorf("wait for %s: agent error in %s: %s", what, m.Op, m.Message)
			}
			s.cfg.logf("agent error in %s: %s", m.Op, m.Message)
			continue
		}
		if want(m) {
			return m, nil
		}
		s.cfg.logf("ignoring %s while waiting for %s", m.MessageType(), what)
	}
}

// saveState parks the agent and saves the VM; a failure is a note, never
// the run's failure.
func (s *session) saveState(ctx context.Context) {
	sv := s.vm.(stateVM)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	note := func(err error) {
		s.res.StartNote = fmt.Sprintf("snapshot not saved: %v", err)
		s.cfg.logf("%s", s.res.StartNote)
	}
	// A warm run does not see the boot's console: a boot that logged a
	// kernel incident (a WARNING, say) is not saved, so that every run of
	// that machine boots and reports it.
	if incs := s.vm.Incidents(); len(incs) > 0 {
		s.res.StartNote = fmt.Sprintf("no snapshot saved: the boot logged %s", incs[0])
		return
	}
	if err := s.conn.SendContext(ctx, &protocol.Park{Reason: "snapshot"}); err != nil {
		note(err)
		return
	}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := s.await(pctx, "parked", func(m protocol.Message) bool { _, ok := m.(*protocol.Parked); return ok })
	pcancel()
	if err != nil {
		note(err)
		return
	}
	info, err := sv.SaveState(ctx)
	if err != nil {
		note(err)
		return
	}
	s.res.Snapshot = &SnapshotInfo{Path: info.Path, Saved: true, SaveTime: info.Took, Size: info.Size}
	if s.res.StartNote == "" || s.res.StartNote == "no saved state yet" {
		s.res.StartNote = "no snapshot yet: booted and saved one"
	} else {
		s.res.StartNote += "; saved a new one"
	}
	s.cfg.logf("snapshot %s saved in %v (%s)", info.Path, info.Took.Round(time.Millisecond), sizeMB(info.Size))
}

func sizeMB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// resume sends the overlay, the clock and entropy, and returns the
// agent's Hello in answer.
func (s *session) resume(ctx context.Context) (*protocol.Hello, error) {
	t0 := time.Now()
	n, bytes, err := s.putFiles(ctx)
	if err != nil {
		return nil, err
	}
	ent := make([]byte, entropyBytes)
	rand.Read(ent)
	if err := s.conn.SendContext(ctx, &protocol.Resume{WallClock: time.Now(), Entropy: ent, Files: n, Restored: s.warm.restored}); err != nil {
		return nil, fmt.Errorf("send resume: %w", err)
	}
	m, err := s.await(ctx, "the agent's hello", func(m protocol.Message) bool { _, ok := m.(*protocol.Hello); return ok })
	if err != nil {
		if e, ok := m.(*protocol.Error); ok && e.Op == "put file" {
			return nil, &InfraError{Op: "put files into the guest", Err: errors.New(e.Message)}
		}
		return nil, err
	}
	h := m.(*protocol.Hello)
	if err := protocol.CheckHello(h); err != nil {
		return nil, err
	}
	if s.res.Snapshot == nil {
		s.res.Snapshot = &SnapshotInfo{}
	}
	s.res.Snapshot.Files, s.res.Snapshot.FileBytes, s.res.Snapshot.FileTime = n, bytes, time.Since(t0)
	if r, ok := s.vm.(interface{ RestoreTime() time.Duration }); ok && s.warm.restored {
		s.res.Snapshot.RestoreTime = r.RestoreTime()
	}
	if s.res.Snapshot.Path == "" && !s.res.Snapshot.Saved && n == 0 {
		s.res.Snapshot = nil
	}
	return h, nil
}

// putFiles sends the overlay as PutFile chunks; it returns the number of
// files and bytes sent.
func (s *session) putFiles(ctx context.Context) (int, int64, error) {
	var total int64
	for _, f := range s.warm.overlay {
		if f.Link != "" {
			if err := s.conn.SendContext(ctx, &protocol.PutFile{Path: f.Dst, Link: f.Link, Mode: uint32(f.Mode)}); err != nil {
				return 0, 0, fmt.Errorf("put %s: %w", f.Dst, err)
			}
			continue
		}
		n, err := s.putFile(ctx, f)
		if err != nil {
			return 0, 0, fmt.Errorf("put %s: %w", f.Dst, err)
		}
		total += n
	}
	return len(s.warm.overlay), total, nil
}

func (s *session) putFile(ctx context.Context, f initramfs.OverlayFile) (int64, error) {
	src, err := os.Open(f.Src)
	if err != nil {
		return 0, &InfraError{Op: "read " + f.Src, Err: err}
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return 0, &InfraError{Op: "read " + f.Src, Err: err}
	}
	h := protocol.NewFileHash()
	buf := make([]byte, protocol.PutFileChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(src, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return off, &InfraError{Op: "read " + f.Src, Err: rerr}
		}
		h.Write(buf[:n])
		last := off+int64(n) >= fi.Size() || rerr != nil
		m := &protocol.PutFile{Path: f.Dst, Mode: uint32(f.Mode), Size: fi.Size(), Offset: off, Data: buf[:n], Last: last}
		if last {
			m.CRC32C = h.Sum32()
			m.Size = off + int64(n)
		}
		if err := s.conn.SendContext(ctx, m); err != nil {
			return off, err
		}
		off += int64(n)
		if last {
			return off, nil
		}
	}
}
