package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/agent/kmsg"
	"github.com/scxvm/scxvm/agent/scxfs"
	"github.com/scxvm/scxvm/agent/stallwatch"
	"github.com/scxvm/scxvm/agent/supervise"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/workload/cgroup"
	"github.com/scxvm/scxvm/workload/topology"
)

// Defaults of Config.
const (
	// DefaultIdleTimeout is how long the session waits for the host's next
	// message between jobs before it gives up (the global watchdog).
	DefaultIdleTimeout = 120 * time.Second
	// kernelBatchLines and kernelBatchDelay bound a KernelLog batch.
	kernelBatchLines = 64
	kernelBatchDelay = 100 * time.Millisecond
	// finalSendTimeout bounds the last sends (Error, Bye): a host that
	// stopped reading must not keep the guest up.
	finalSendTimeout = 2 * time.Second
	// maxReportsBytes bounds the estimated size of one Reports message.
	maxReportsBytes = 16 << 20
	// DefaultRejoinTimeout is how long a parked session whose channel
	// broke waits for the host's new connection (Config.ParkListen): the
	// host of a restored run dials at once and retries for well under
	// this.
	DefaultRejoinTimeout = 60 * time.Second
)

// ErrIdle is returned by Serve when the host sent nothing for
// Config.IdleTimeout between jobs.
var ErrIdle = errors.New("host silent")

// ErrWatchdog is returned by Serve when a job outlived its watchdog.
var ErrWatchdog = errors.New("job watchdog expired")

// Config is the machine a session runs on. The zero value means the real
// guest; tests point the paths at fake trees.
type Config struct {
	// Transport names the channel for Hello (protocol.Transport*).
	Transport string
	// SysRoot is the root for /proc and /sys reads (topology, cmdline,
	// sysrq); default "/".
	SysRoot string
	// SchedExtDir is the sched_ext sysfs directory; default scxfs.Dir.
	SchedExtDir string
	// DebugDir is debugfs, read for sched_ext's debugfs files at a job's
	// start and end; default scxfs.DebugDir under SysRoot. TracingDir is
	// tracefs, where the session records the kernel's sched_ext debug
	// dump; default scxfs.TracingDir under SysRoot. "-" means none.
	DebugDir   string
	TracingDir string
	// CgroupParent is where job cgroups go; default /sys/fs/cgroup.
	CgroupParent string
	// CgroupOptions are passed to cgroup.NewManager.
	CgroupOptions []cgroup.Option
	// Kmsg is the kernel log stream (/dev/kmsg); nil sends no kernel log.
	// Serve closes it, when it is an io.Closer, on return.
	Kmsg io.Reader
	// IdleTimeout is the global watchdog; default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Supervise is the template for scheduler supervision; its
	// SchedExtDir and OnEvent are set by the session.
	Supervise supervise.Config
	// SysRq triggers a SysRq key; default writes SysRoot/proc/sysrq-trigger.
	SysRq func(key string) error
	// Start is when the agent started (default: when Serve is called);
	// BootTime is CLOCK_BOOTTIME then (default: read at Serve).
	Start    time.Time
	BootTime time.Duration
	// KernelRelease defaults to uname's release.
	KernelRelease string
	// HelloSent says the Hello went out already: PID 1 sends it before it
	// hands the stream to the session process.
	HelloSent bool
	// NoClock leaves the wall clock and the entropy pool alone on Resume
	// (tests outside a guest).
	NoClock bool
	// ParkListen, when not nil, is the way back to the host for a
	// transport whose connection does not survive a restore (vsock: the
	// restore resets it and gives the guest a new CID). Park calls it
	// before it sends Parked, so the snapshot holds the listener. If the
	// channel then breaks before a Resume, the session accepts the host's
	// next connection on it (within RejoinTimeout), sends Parked there
	// and goes on over it; a connection that fails that Parked is dropped
	// and the next one awaited. A Resume, or any other message, on the
	// old channel closes the listener. nil: a broken channel ends the
	// session, parked or not (virtio-serial survives a restore as is).
	ParkListen func() (Listener, error)
	// RejoinTimeout bounds the wait for the host's new connection after
	// the channel broke while parked; default DefaultRejoinTimeout.
	RejoinTimeout time.Duration
	// Logf receives diagnostic messages (the guest console); default none.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.SysRoot == "" {
		c.SysRoot = "/"
	}
	if c.SchedExtDir == "" {
		c.SchedExtDir = scxfs.Dir
	}
	switch c.DebugDir {
	case "":
		c.DebugDir = filepath.Join(c.SysRoot, scxfs.DebugDir)
	case "-":
		c.DebugDir = ""
	}
	switch c.TracingDir {
	case "":
		c.TracingDir = filepath.Join(c.SysRoot, scxfs.TracingDir)
	case "-":
		c.TracingDir = ""
	}
	if c.CgroupParent == "" {
		c.CgroupParent = "/sys/fs/cgroup"
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.RejoinTimeout <= 0 {
		c.RejoinTimeout = DefaultRejoinTimeout
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	if c.BootTime == 0 {
		c.BootTime = bootTime()
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.SysRq == nil {
		root := c.SysRoot
		c.SysRq = func(key string) error { return sysRq(root, key) }
	}
	if c.KernelRelease == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err == nil {
			c.KernelRelease = unix.ByteSliceToString(u.Release[:])
		}
	}
	c.Supervise.SchedExtDir = c.SchedExtDir
	if c.Supervise.Logf == nil {
		c.Supervise.Logf = c.Logf
	}
	return c
}

// bootTime reads CLOCK_BOOTTIME.
func bootTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// sysRq enables SysRq and triggers key.
func sysRq(root, key string) error {
	// Allow every SysRq function; the kernel default masks some.
	if err := os.WriteFile(filepath.Join(root, "proc/sys/kernel/sysrq"), []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable sysrq: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/sysrq-trigger"), []byte(key), 0o200); err != nil {
		return fmt.Errorf("sysrq %q: %w", key, err)
	}
	return nil
}

// session is one conversation with the host.
type session struct {
	cfg     Config
	conn    *protocol.Conn
	muted   atomic.Bool   // a hang step or the final messages silenced the agent
	closing atomic.Bool   // the host said Bye: no more scheduler events
	lost    chan struct{} // closed when a send failed
	lostO   sync.Once
	fatal   chan error // panics of background goroutines

	mu       sync.Mutex
	sup      *supervise.Supervisor
	supSpec  supervise.Spec
	supOwner *schedOwner
	backlog  []protocol.Message // arrived during a job, handled after it
	// sampler is the stall watch's, kept from job to job (its files stay
	// open); samplerMu is held by the job whose watch uses it.
	sampler   *stallwatch.Sampler
	samplerMu sync.Mutex
	// watch is the running job's stall watch (under mu), nil between jobs.
	watch *stallwatch.Watch
	// shellTTY is the console of a running shell job (under mu), nil
	// otherwise: Resize messages apply to it.
	shellTTY *os.File

	// gate is held shared by every send and exclusively from Park to
	// Resume (parked), so nothing is sent while the host saves the VM.
	// conn is replaced only while parked (a rejoin), under gate.
	gate   sync.RWMutex
	parked bool
	// rejoin is the listener of Config.ParkListen from Park to Resume
	// (session goroutine only), or nil.
	rejoin Listener
	// warm is the state of PutFile and Resume (session goroutine only).
	warm warmState
}

// Serve runs the agent's side of one conversation over rwc until the host
// says Bye, the stream ends, the idle watchdog or a job watchdog expires,
// or ctx ends. It sends Hello first. It returns nil after a Bye exchange.
// A panic inside Serve or its goroutines is reported to the host as a
// fatal Error and returned as an error. Serve closes rwc.
func Serve(ctx context.Context, rwc io.ReadWriteCloser, cfg Config) (err error) {
	cfg = cfg.withDefaults()
	s := &session{
		cfg:   cfg,
		conn:  protocol.NewConn(rwc),
		lost:  make(chan struct{}),
		fatal: make(chan error, 4),
	}
	defer func() { s.conn.Close() }() // the last channel: a rejoin replaces it
	defer s.closeStallWatch()
	if c, ok := cfg.Kmsg.(io.Closer); ok {
		defer c.Close()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("agent panic: %v\n%s", r, debug.Stack())
			s.final(&protocol.Error{Op: "agent", Message: err.Error(), Fatal: true}, &protocol.Bye{Reason: "agent panic"})
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.stopScheduler()

	if cfg.TracingDir != "" && cfg.Supervise.DumpTrace == nil {
		if dt, err := scxfs.EnableDumpTrace(cfg.TracingDir); err != nil {
			cfg.Logf("no sched_ext debug dumps: %v", err)
		} else {
			s.cfg.Supervise.DumpTrace = dt
		}
	}

	if !cfg.HelloSent {
		if err := sendHello(s.conn, cfg, nil); err != nil {
			return err
		}
	}

	s.primeStallWatch()
	msgs := make(chan protocol.Message, 16)
	recvErr := make(chan error, 1)
	s.goSafe(func() { s.receive(s.conn, msgs, recvErr) })
	if cfg.Kmsg != nil {
		s.goSafe(func() { s.kernelLog(ctx) })
	}
	return s.loop(ctx, msgs, recvErr)
}

// goSafe runs fn in a goroutine whose panic becomes a fatal session
// error; then, panic or not, it calls each of after (the fatal error is
// queued before after runs).
func (s *session) goSafe(fn func(), after ...func()) {
	go func() {
		defer func() {
			for _, f := range after {
				f()
			}
		}()
		defer func() {
			if r := recover(); r != nil {
				s.fatal <- fmt.Errorf("agent panic: %v\n%s", r, debug.Stack())
			}
		}()
		fn()
	}()
}

// sendHello gathers and sends the Hello; cfg has its defaults. gathered,
// when not nil, waits for a Hello gathered in the background.
func sendHello(c *protocol.Conn, cfg Config, gathered func() *protocol.Hello) error {
	t0 := time.Now()
	if gathered == nil {
		gathered = startHello(cfg)
	}
	h := gathered()
	h.Transport = cfg.Transport
	t1 := time.Now()
	if err := c.Send(h); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	cfg.Logf("hello sent %v after agent start (gathering %v, writing %v)", time.Since(cfg.Start).Round(time.Microsecond),
		t1.Sub(t0).Round(time.Microsecond), time.Since(t1).Round(time.Microsecond))
	return nil
}

// startHello gathers the Hello's facts in the background (the topology
// and the build id in parallel: under TCG each takes tens of
// milliseconds) and returns a function that waits for them.
func startHello(cfg Config) func() *protocol.Hello {
	topo := make(chan protocol.GuestTopology, 1)
	go func() { topo <- guestTopology(cfg.SysRoot) }()
	build := make(chan protocol.Build, 1)
	go func() { build <- protocol.CurrentBuild() }()
	h := &protocol.Hello{
		ProtocolVersion: protocol.Version,
		KernelRelease:   cfg.KernelRelease,
		BootTime:        cfg.BootTime,
		AgentStart:      cfg.Start,
		Transport:       cfg.Transport,
	}
	if b, err := os.ReadFile(filepath.Join(cfg.SysRoot, "proc/cmdline")); err == nil {
		h.KernelCmdline = strings.TrimSpace(string(b))
	}
	if st, err := scxfs.Read(cfg.SchedExtDir); err == nil {
		h.SchedExt = protocol.SchedExtInfo{Available: true, State: st.State, EnableSeq: st.EnableSeq, Ops: st.Ops}
	}
	return func() *protocol.Hello {
		h.Topology = <-topo
		h.Agent = <-build
		return h
	}
}

// layout describes t in the host's terms. Counts that do not divide
// evenly (offline cpus, asymmetric caches) are rounded down, so the
// result then differs from any layout the host can ask for.
func layout(t *topology.Topology) spec.Topology {
	l := spec.Topology{NUMANodes: max(len(t.Nodes()), 1), ThreadsPerCore: max(t.ThreadsPerCore(), 1)}
	l.LLCs = max(t.NumLLCs()/l.NUMANodes, 1)
	l.CoresPerLLC = max(t.NumCPUs()/(l.NUMANodes*l.LLCs*l.ThreadsPerCore), 1)
	return l
}

// guestTopology reads what the guest sees; fields it cannot read stay zero.
func guestTopology(root string) protocol.GuestTopology {
	var g protocol.GuestTopology
	t, err := topology.Read(root)
	if err == nil {
		g.CPUs = t.Possible.Len()
		g.Online = t.Online.String()
		g.Layout = layout(t)
		n := 0
		for _, c := range t.CPUs {
			n = max(n, c.ID+1)
		}
		g.CPULLC = make([]int, n)
		g.CPUNode = make([]int, n)
		for i := range n {
			g.CPULLC[i], g.CPUNode[i] = -1, -1
		}
		for _, c := range t.CPUs {
			g.CPULLC[c.ID], g.CPUNode[c.ID] = c.LLC, c.Node
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/meminfo")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb uint64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				g.MemoryBytes = kb << 10
				break
			}
		}
	}
	return g
}

// send sends m unless the agent is muted; a failed send marks the
// connection lost.
func (s *session) send(m protocol.Message) {
	if s.muted.Load() {
		return
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	if err := s.conn.Send(m); err != nil {
		s.cfg.Logf("send %s: %v", m.MessageType(), err)
		s.lostO.Do(func() { close(s.lost) })
	}
}

// final sends the last messages, bounded: a blocked stream must not keep
// the guest up.
func (s *session) final(ms ...protocol.Message) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, m := range ms {
			s.send(m)
		}
		// Nothing goes after the final messages (Bye is last).
		s.muted.Store(true)
	}()
	select {
	case <-done:
	case <-time.After(finalSendTimeout):
		s.cfg.Logf("final messages not sent within %v", finalSendTimeout)
	}
}

// receive reads c's messages into msgs until an error, which it sends to
// errc.
func (s *session) receive(c *protocol.Conn, msgs chan<- protocol.Message, errc chan<- error) {
	for {
		m, err := c.Recv()
		if err != nil {
			var fe *protocol.FrameError
			if errors.As(err, &fe) && (errors.Is(err, protocol.ErrUnknownType) || errors.Is(err, protocol.ErrChecksum) || errors.Is(err, protocol.ErrDecode)) {
				// The stream is still in step: report and go on.
				s.send(&protocol.Error{Op: "receive", Message: err.Error()})
				continue
			}
			errc <- err
			return
		}
		msgs <- m
	}
}

// loop handles host messages until the conversation ends. It reads what
// receive delivers on msgs and recvErr, and starts a new receive on them
// after a rejoin.
func (s *session) loop(ctx context.Context, msgs chan protocol.Message, recvErr chan error) error {
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	defer s.unpark()
	defer s.warm.drop()
	for {
		var m protocol.Message
		if b, ok := s.next(); ok {
			m = b
		} else {
			select {
			case m = <-msgs:
			case err := <-recvErr:
				if s.parked && s.rejoin != nil {
					// A restore reset the channel: the host comes back
					// over the listener.
					if rerr := s.rejoinHost(ctx, err); rerr != nil {
						return rerr
					}
					c := s.conn
					s.goSafe(func() { s.receive(c, msgs, recvErr) })
					idle.Reset(s.cfg.IdleTimeout)
					continue
				}
				if errors.Is(err, io.EOF) {
					return fmt.Errorf("host closed the channel without bye: %w", err)
				}
				return fmt.Errorf("receive: %w", err)
			case <-s.lost:
				return errors.New("channel to the host lost")
			case <-idle.C:
				s.unpark()
				err := fmt.Errorf("%w: no message from the host for %v", ErrIdle, s.cfg.IdleTimeout)
				s.stopScheduler()
				s.final(&protocol.Error{Op: "watchdog", Message: err.Error(), Fatal: true}, &protocol.Bye{Reason: "idle watchdog"})
				return err
			case err := <-s.fatal:
				s.unpark()
				s.final(&protocol.Error{Op: "agent", Message: err.Error(), Fatal: true}, &protocol.Bye{Reason: "agent panic"})
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		switch m.(type) {
		case *protocol.PutFile, *protocol.Resume, *protocol.Park:
		default:
			s.unpark() // the host gave up on the park
		}
		switch m := m.(type) {
		case *protocol.Park:
			idle.Stop() // the guest's clock stops while it is saved
			s.park(m)
			idle.Reset(s.cfg.IdleTimeout)
		case *protocol.PutFile:
			s.putFile(m)
		case *protocol.Resume:
			if err := s.resume(m); err != nil {
				return err
			}
		case *protocol.Job:
			idle.Stop()
			if err := s.runJob(ctx, m, msgs, recvErr); err != nil {
				return err
			}
			idle.Reset(s.cfg.IdleTimeout)
		case *protocol.Bye:
			s.cfg.Logf("host says bye (%s)", m.Reason)
			// The last JobResult told the host the scheduler's state; its
			// unload now is not news about any job.
			s.closing.Store(true)
			s.stopScheduler()
			s.final(&protocol.Bye{Reason: "host said bye"})
			return nil
		case *protocol.Resize:
			// No shell runs between jobs: nothing to resize.
		case *protocol.Error:
			s.cfg.Logf("host error in %s: %s", m.Op, m.Message)
			if m.Fatal {
				s.stopScheduler()
				s.final(&protocol.Bye{Reason: "host error: " + m.Message})
				return fmt.Errorf("host error in %s: %s", m.Op, m.Message)
			}
		default:
			s.send(&protocol.Error{Op: "session", Message: fmt.Sprintf("unexpected %s from the host", m.MessageType())})
		}
	}
}

// kernelLog forwards /dev/kmsg records as KernelLog batches and to the
// scheduler supervisor.
func (s *session) kernelLog(ctx context.Context) {
	recs := make(chan kmsg.Record, 256)
	s.goSafe(func() {
		defer close(recs)
		r := kmsg.NewReader(s.cfg.Kmsg)
		for {
			rec, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
					s.cfg.Logf("kernel log: %v", err)
				}
				return
			}
			select {
			case recs <- rec:
			case <-ctx.Done():
				return
			}
		}
	})
	var batch []protocol.KernelLine
	flush := func() {
		if len(batch) > 0 {
			s.send(&protocol.KernelLog{Lines: batch})
			batch = nil
		}
	}
	tick := time.NewTicker(kernelBatchDelay)
	defer tick.Stop()
	for {
		select {
		case rec, ok := <-recs:
			if !ok {
				flush()
				return
			}
			if sup := s.supervisor(); sup != nil {
				sup.Kernel(rec)
			}
			batch = append(batch, protocol.KernelLine{
				Level: rec.Level, Seq: rec.Seq, TimeUs: uint64(rec.Time / time.Microsecond), Text: rec.Text,
			})
			if len(batch) >= kernelBatchLines {
				flush()
			}
		case <-tick.C:
			flush()
		case <-ctx.Done():
			flush()
			return
		}
	}
}

func (s *session) supervisor() *supervise.Supervisor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sup
}

// stopScheduler unloads the current scheduler, if any (bounded).
func (s *session) stopScheduler() {
	s.mu.Lock()
	sup := s.sup
	s.sup = nil
	s.mu.Unlock()
	if sup == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sup.Stop(ctx); err != nil {
		s.cfg.Logf("stop scheduler: %v", err)
	}
}

// schedOwner is the job a scheduler instance last served: the job its
// events belong to.
type schedOwner struct {
	mu    sync.Mutex
	id    uint32
	start time.Time
}

func (o *schedOwner) set(id uint32, start time.Time) {
	o.mu.Lock()
	o.id, o.start = id, start
	o.mu.Unlock()
}

func (o *schedOwner) get() (uint32, time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.id, o.start
}

// onSchedEvent turns an event of the scheduler instance owned by owner
// into a SchedEvent message of the owner's job.
func (s *session) onSchedEvent(owner *schedOwner, e supervise.Event) {
	if s.closing.Load() {
		s.cfg.Logf("scheduler %s: %s at shutdown", e.Scheduler, e.Kind)
		return
	}
	id, start := owner.get()
	m := &protocol.SchedEvent{
		JobID:     id,
		Kind:      protocol.SchedEventKind(e.Kind),
		Scheduler: e.Scheduler,
		At:        e.Time.Sub(start),
		Reason:    e.Reason,
		Log:       e.Log,
		EnableSeq: e.EnableSeq,
		Dump:      e.Dump,
	}
	if e.KernelLine != "" {
		m.KernelLines = append([]string{e.KernelLine}, e.KernelLines...)
	}
	if e.Exited {
		m.Exit = &protocol.ExitStatus{Code: e.ExitCode, Signal: e.Signal}
	}
	s.cfg.Logf("scheduler %s: %s %s", e.Scheduler, e.Kind, e.Reason)
	s.send(m)
}
