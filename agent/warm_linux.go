package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/protocol"
)

// Warm start: the agent's side of Park, PutFile and Resume (see
// protocol/warm.go). PutFile writes into the guest's rootfs, the in-memory
// file system the image unpacked into, so a file lands where the image
// would have put it.

// Listener accepts the host's connection to a parked agent whose channel
// a restore broke (Config.ParkListen).
type Listener interface {
	// Accept waits for the next connection. Close makes it return an
	// error.
	Accept() (io.ReadWriteCloser, error)
	// Close stops listening. A second call does nothing.
	Close() error
}

// put is the file being received.
type put struct {
	path string
	tmp  *os.File
	hash hash.Hash32
	n    int64
}

// warmState is the session's warm start state.
type warmState struct {
	hello *protocol.Hello // gathered at Park
	cur   *put
	files int   // files completed
	err   error // first failure, reported at Resume
}

// drop removes a file that did not arrive whole.
func (w *warmState) drop() {
	if w.cur != nil {
		w.cur.tmp.Close()
		os.Remove(w.cur.tmp.Name())
		w.cur = nil
	}
}

// park answers Park: it waits for sends in flight, opens the way back
// for a restore (Config.ParkListen), sends Parked and keeps every other
// send waiting until unpark.
func (s *session) park(m *protocol.Park) {
	// The Hello's facts do not change in a snapshot: gather them now, not
	// after the restore, when TCG translates every code path afresh.
	s.warm.hello = startHello(s.cfg)()
	if !s.parked {
		s.gate.Lock()
		s.parked = true
	}
	if s.cfg.ParkListen != nil && s.rejoin == nil {
		// Before Parked: the host saves the VM once it has it.
		l, err := s.cfg.ParkListen()
		if err != nil {
			s.cfg.Logf("no way back after a restore: %v", err)
		}
		s.rejoin = l
	}
	s.cfg.Logf("parked for %s", orWord(m.Reason, "a snapshot"))
	if err := s.conn.Send(&protocol.Parked{At: time.Since(s.cfg.Start)}); err != nil {
		s.cfg.Logf("send parked: %v", err)
	}
}

// unpark lets sends go again after a park and closes the park's
// listener.
func (s *session) unpark() {
	s.closeRejoin()
	if s.parked {
		s.parked = false
		s.gate.Unlock()
	}
}

// closeRejoin closes the park's listener, if any: the host is on the
// channel the session has.
func (s *session) closeRejoin() {
	if s.rejoin != nil {
		s.rejoin.Close()
		s.rejoin = nil
	}
}

// rejoinHost waits for the host's new connection after the channel broke
// (cause) while parked, which a restore does to a vsock connection, and
// makes it the session's channel. It sends Parked on it first: the host
// waits for that before it sends anything, and a connection that cannot
// take it (one that the guest's transport reset took with the old
// channel) is dropped for the next one. It gives up after
// Config.RejoinTimeout or when ctx ends. The caller holds the gate
// (parked).
func (s *session) rejoinHost(ctx context.Context, cause error) error {
	s.cfg.Logf("channel lost while parked (%v): waiting for the host's new connection", cause)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RejoinTimeout)
	defer cancel()
	l := s.rejoin
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		rwc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("channel lost while parked (%w) and no new connection from the host: %w", cause, err)
		}
		c := protocol.NewConn(rwc)
		if err := c.Send(&protocol.Parked{At: time.Since(s.cfg.Start)}); err != nil {
			s.cfg.Logf("rejoin: %v; waiting for another connection", err)
			c.Close()
			continue
		}
		s.conn.Close()
		s.conn = c
		s.cfg.Logf("the host is back on a new connection")
		return nil
	}
}

func orWord(s, w string) string {
	if s == "" {
		return w
	}
	return s
}

// putFile handles one PutFile chunk.
func (s *session) putFile(m *protocol.PutFile) {
	w := &s.warm
	if w.err != nil {
		return
	}
	if err := w.put(m); err != nil {
		w.err = fmt.Errorf("put %s: %w", m.Path, err)
		w.drop()
	}
}

func (w *warmState) put(m *protocol.PutFile) error {
	if !filepath.IsAbs(m.Path) {
		return errors.New("not an absolute path")
	}
	if m.Link != "" {
		if err := os.MkdirAll(filepath.Dir(m.Path), 0o755); err != nil {
			return err
		}
		os.Remove(m.Path)
		if err := os.Symlink(m.Link, m.Path); err != nil {
			return err
		}
		w.files++
		return nil
	}
	if m.Offset == 0 {
		if w.cur != nil {
			return fmt.Errorf("%s did not end", w.cur.path)
		}
		if err := os.MkdirAll(filepath.Dir(m.Path), 0o755); err != nil {
			return err
		}
		f, err := os.CreateTemp(filepath.Dir(m.Path), ".put-*")
		if err != nil {
			return err
		}
		w.cur = &put{path: m.Path, tmp: f, hash: protocol.NewFileHash()}
	}
	c := w.cur
	if c == nil || c.path != m.Path || c.n != m.Offset {
		return fmt.Errorf("chunk at offset %d out of order", m.Offset)
	}
	if _, err := c.tmp.Write(m.Data); err != nil {
		return err
	}
	c.hash.Write(m.Data)
	c.n += int64(len(m.Data))
	if !m.Last {
		return nil
	}
	w.cur = nil
	defer os.Remove(c.tmp.Name()) // after a successful rename, a no-op
	if err := c.tmp.Chmod(os.FileMode(m.Mode).Perm()); err != nil {
		c.tmp.Close()
		return err
	}
	if err := c.tmp.Close(); err != nil {
		return err
	}
	if c.n != m.Size {
		return fmt.Errorf("got %d bytes, want %d", c.n, m.Size)
	}
	if sum := c.hash.Sum32(); sum != m.CRC32C {
		return fmt.Errorf("crc32c %08x, want %08x", sum, m.CRC32C)
	}
	if err := os.Rename(c.tmp.Name(), m.Path); err != nil {
		return err
	}
	w.files++
	return nil
}

// resume handles Resume: the files' check, a fresh Hello (or a fatal
// Error) as the answer, then the clock and entropy. It returns the
// failure it reported.
//
// The Hello goes before the clock and the entropy: after a restore TCG
// translates every code path afresh, and the host prepares its next
// message while the guest sets them. Both are in place before the loop
// handles that message, so no job sees the snapshot's clock or entropy.
func (s *session) resume(m *protocol.Resume) error {
	defer s.unpark()
	received := time.Now()
	s.closeRejoin() // before the answer, which tells the host it is closed
	w := &s.warm
	err := w.err
	if w.cur != nil && err == nil {
		err = fmt.Errorf("put %s: the last chunk did not come", w.cur.path)
	}
	w.drop()
	if err == nil && w.files != m.Files {
		err = fmt.Errorf("%d files arrived, the host sent %d", w.files, m.Files)
	}
	hello := w.hello
	*w = warmState{}
	defer s.applyResume(m, received)
	if err != nil {
		s.cfg.Logf("resume: %v", err)
		s.conn.Send(&protocol.Error{Op: "put file", Message: err.Error(), Fatal: true})
		return err
	}
	if hello == nil {
		return sendHello(s.conn, s.cfg, nil)
	}
	// The Hello gathered at Park holds: nothing ran between Park and
	// Resume, so sched_ext's state is the one read then.
	if err := s.conn.Send(hello); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	return nil
}

// applyResume sets the wall clock of m, advanced by the time since the
// Resume was received, and credits its entropy.
func (s *session) applyResume(m *protocol.Resume, received time.Time) {
	if s.cfg.NoClock {
		return
	}
	if !m.WallClock.IsZero() {
		ts := unix.NsecToTimespec(m.WallClock.Add(time.Since(received)).UnixNano())
		if e := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); e != nil {
			s.cfg.Logf("set the wall clock: %v", e)
		}
	}
	if len(m.Entropy) > 0 {
		if e := addEntropy(m.Entropy); e != nil {
			s.cfg.Logf("add entropy: %v", e)
		}
	}
	if m.Restored {
		s.cfg.Logf("resumed from a snapshot")
	}
}

// Linux random ioctls (include/uapi/linux/random.h).
const (
	rndAddEntropy  = 0x40085203 // _IOW('R', 0x03, int[2])
	rndReseedCRNG  = 0x5207     // _IO('R', 0x07)
	bitsPerByteMax = 8
)

// addEntropy credits b to the kernel's pool and reseeds the CRNG, so that
// a restored guest does not repeat the random stream of its snapshot.
func addEntropy(b []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	info := make([]byte, 8+(len(b)+3)&^3)
	binary.NativeEndian.PutUint32(info[0:], uint32(len(b)*bitsPerByteMax))
	binary.NativeEndian.PutUint32(info[4:], uint32(len(b)))
	copy(info[8:], b)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&info[0]))); e != 0 {
		// Without CAP_SYS_ADMIN: mix it in uncredited.
		if _, err := f.Write(b); err != nil {
			return fmt.Errorf("RNDADDENTROPY: %w; write: %v", e, err)
		}
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndReseedCRNG, 0); e != 0 {
		return fmt.Errorf("RNDRESEEDCRNG: %w", e)
	}
	return nil
}
