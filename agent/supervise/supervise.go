package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scxvm/scxvm/agent/builtin"
	"github.com/scxvm/scxvm/agent/internal/logbuf"
	"github.com/scxvm/scxvm/agent/kmsg"
	"github.com/scxvm/scxvm/agent/scxfs"
	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/spec"
)

// EventKind names a scheduler event. The values are the wire names of
// protocol.SchedEvent kinds.
type EventKind string

// Scheduler events.
const (
	Attached   EventKind = "attached"
	Detached   EventKind = "detached"
	Ejected    EventKind = "ejected"
	LoadFailed EventKind = "load_failed"
	Died       EventKind = "died"
)

// Event is one scheduler event.
type Event struct {
	Kind EventKind
	// Scheduler is the ops name when known, else the spec's name.
	Scheduler string
	// Time is when the event was decided.
	Time time.Time
	// Reason says why: the kernel's disable reason for "ejected", why the
	// load failed for "load_failed".
	Reason string
	// KernelLine is the kernel's "disabled (REASON)" line, when seen.
	KernelLine string
	// KernelLines are the sched_ext lines (stall, error message, stack)
	// that followed KernelLine.
	KernelLines []string
	// Log is the loader's captured output (head and tail), or the
	// built-in's load log.
	Log string
	// Exited is set when the loader process has exited; ExitCode and
	// Signal say how (Signal != 0 when killed by a signal).
	Exited   bool
	ExitCode int
	Signal   int
	// EnableSeq is /sys/kernel/sched_ext/enable_seq when decided.
	EnableSeq uint64
	// State is /sys/kernel/sched_ext/state when decided.
	State string
	// Dump is the kernel's debug dump of an error exit (Config.DumpTrace),
	// for "ejected", "died" and "load_failed" events; empty when none.
	Dump string
}

// LoadError is returned by Start when the scheduler did not attach. Event
// is the "load_failed" event, also passed to Config.OnEvent.
type LoadError struct {
	Event Event
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("scheduler %s failed to load: %s", e.Event.Scheduler, e.Event.Reason)
}

// Spec says which scheduler to run. Exactly one of Builtin and Path is
// set; neither means no scheduler (the kernel's default).
type Spec struct {
	// Builtin names a built-in scheduler (builtin.Names).
	Builtin string
	// BuiltinOptions tune the built-in scheduler.
	ErrorAfter, TimeoutMs int
	// Path and Args start an external loader.
	Path string
	Args []string
	// Ops is the ops name the loader must attach as; empty accepts any.
	Ops string
}

// None reports whether the spec asks for no scheduler.
func (s Spec) None() bool { return s.Builtin == "" && s.Path == "" }

// String names the spec for messages.
func (s Spec) String() string {
	switch {
	case s.Builtin != "":
		return "builtin:" + s.Builtin
	case s.Path != "":
		return strings.Join(append([]string{s.Path}, s.Args...), " ")
	}
	return "none"
}

// Builtin is a loaded built-in scheduler.
type Builtin interface {
	Name() string
	Close() error
}

// Config tunes supervision; zero fields take the defaults.
type Config struct {
	// SchedExtDir is the sched_ext sysfs directory; default scxfs.Dir.
	SchedExtDir string
	// AttachTimeout bounds the wait for attachment; zero means spec.DefaultAttachTimeout.
	AttachTimeout time.Duration
	// PollInterval is the sysfs and liveness poll period; default 150 ms.
	PollInterval time.Duration
	// TrailingWait is how long to wait for kernel lines after a
	// scheduler's disable line; default 200 ms.
	TrailingWait time.Duration
	// ExitWait is how long to wait after an ejection for the loader to
	// exit by itself (it usually prints the exit info), and after the
	// state left "enabled" for the kernel's disable line; default 1 s.
	ExitWait time.Duration
	// StopGrace is the wait between SIGINT and SIGKILL; default 3 s.
	StopGrace time.Duration
	// LogBytes caps the kept head and tail of the loader's output; default
	// 64 KiB each.
	LogBytes int
	// OnEvent receives every event, in order, from the Start and Stop
	// callers' goroutines or the monitor goroutine. It must not block long.
	OnEvent func(Event)
	// LoadBuiltin loads a built-in scheduler; default builtin.Load.
	LoadBuiltin func(name string, opts builtin.Options) (Builtin, error)
	// Logf receives diagnostic messages; default discards them.
	Logf func(format string, args ...any)
	// DumpTrace records the kernel's sched_ext debug dumps; nil records
	// none. The supervisor clears it before a start and takes the dump
	// into the event of an ejection, death or load failure.
	DumpTrace *scxfs.DumpTrace
}

func (c Config) withDefaults() Config {
	if c.SchedExtDir == "" {
		c.SchedExtDir = scxfs.Dir
	}
	if c.AttachTimeout <= 0 {
		c.AttachTimeout = spec.DefaultAttachTimeout
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 150 * time.Millisecond
	}
	if c.TrailingWait <= 0 {
		c.TrailingWait = 200 * time.Millisecond
	}
	if c.ExitWait <= 0 {
		c.ExitWait = time.Second
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 3 * time.Second
	}
	if c.LogBytes <= 0 {
		c.LogBytes = 64 << 10
	}
	if c.OnEvent == nil {
		c.OnEvent = func(Event) {}
	}
	if c.LoadBuiltin == nil {
		c.LoadBuiltin = func(name string, opts builtin.Options) (Builtin, error) {
			s, err := builtin.Load(name, opts)
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Supervisor watches one running scheduler. Its methods are safe for
// concurrent use.
type Supervisor struct {
	cfg  Config
	spec Spec
	ops  string // attached ops name
	log  *logbuf.HeadTail

	cmd    *exec.Cmd
	exited chan struct{} // closed when the loader has exited (binary only)
	state  *os.ProcessState
	bi     Builtin

	kernel chan kmsg.Record
	stopc  chan struct{}
	done   chan struct{} // closed after the terminal event
	ended  chan struct{} // closed when the monitor has returned (loader reaped)
	stop   sync.Once
	// monitoring is set once Start succeeded and the monitor runs.
	monitoring atomic.Bool
	// triggered is set once the monitor has seen the scheduler's end
	// begin: its disable line, the loader's exit, the state leaving.
	triggered atomic.Bool

	mu       sync.Mutex
	killed   int // signal sent by Signal, for built-ins
	terminal *Event
	baseSeq  uint64
}

// New returns a Supervisor for spec. Call Start to run the scheduler;
// Kernel may be called from then on (records that precede this
// scheduler's "enabled" line are ignored, so a feed may start early).
func New(spec Spec, cfg Config) *Supervisor {
	cfg = cfg.withDefaults()
	return &Supervisor{
		cfg:    cfg,
		spec:   spec,
		log:    logbuf.NewHeadTail(cfg.LogBytes),
		kernel: make(chan kmsg.Record, 1024),
		stopc:  make(chan struct{}),
		done:   make(chan struct{}),
		ended:  make(chan struct{}),
	}
}

// Start starts the scheduler and waits until it is attached. For a spec
// that names no scheduler it returns at once with nothing to watch. A
// scheduler that does not attach yields a *LoadError (after the
// "load_failed" event); ctx cancels the wait and kills the loader. Start
// must be called once.
func (s *Supervisor) Start(ctx context.Context) error {
	spec := s.spec
	if spec.None() {
		close(s.done)
		close(s.ended)
		return nil
	}
	if spec.Builtin != "" && spec.Path != "" {
		return s.loadFailed(fmt.Sprintf("both builtin %q and path %q set", spec.Builtin, spec.Path), scxfs.Status{})
	}
	base, err := scxfs.Read(s.cfg.SchedExtDir)
	if err != nil {
		return s.loadFailed(fmt.Sprintf("read sched_ext state: %v", err), base)
	}
	if base.Attached() {
		return s.loadFailed(fmt.Sprintf("another scheduler %q is already attached", base.Ops), base)
	}
	s.baseSeq = base.EnableSeq
	if err := s.cfg.DumpTrace.Clear(); err != nil { // an earlier scheduler's dump is not ours
		s.cfg.Logf("scheduler %s: %v", s.name(), err)
	}
	if spec.Builtin != "" {
		err = s.startBuiltin()
	} else {
		err = s.startBinary()
	}
	if err != nil {
		return err
	}
	if err := s.waitAttach(ctx); err != nil {
		return err
	}
	s.monitoring.Store(true)
	go s.monitor()
	return nil
}

func (s *Supervisor) name() string {
	switch {
	case s.ops != "":
		return s.ops
	case s.spec.Ops != "":
		return s.spec.Ops
	case s.spec.Builtin != "":
		return s.spec.Builtin
	}
	return s.spec.Path
}

func (s *Supervisor) startBuiltin() error {
	opsName, err := builtin.OpsName(s.spec.Builtin)
	if err == nil && s.spec.Ops == "" {
		s.spec.Ops = opsName
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(s.log, format+"\n", args...)
	}
	bi, err := s.cfg.LoadBuiltin(s.spec.Builtin, builtin.Options{
		ErrorAfter: s.spec.ErrorAfter, TimeoutMs: s.spec.TimeoutMs, Logf: logf,
	})
	if err != nil {
		fmt.Fprintf(s.log, "%v\n", err)
		st, _ := scxfs.Read(s.cfg.SchedExtDir)
		return s.loadFailed(err.Error(), st)
	}
	s.bi = bi
	if s.spec.Ops == "" {
		s.spec.Ops = bi.Name()
	}
	return nil
}

func (s *Supervisor) startBinary() error {
	cmd := exec.Command(s.spec.Path, s.spec.Args...)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	// Its own process group, so that Stop's SIGKILL reaches any helper
	// processes the loader forked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		st, _ := scxfs.Read(s.cfg.SchedExtDir)
		return s.loadFailed(fmt.Sprintf("start loader: %v", err), st)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		cmd.Wait() // the error is in ProcessState
		s.mu.Lock()
		s.state = cmd.ProcessState
		s.mu.Unlock()
		close(s.exited)
	}()
	return nil
}

// attachedNow reports whether st shows our scheduler attached.
func (s *Supervisor) attachedNow(st scxfs.Status) bool {
	return st.Attached() && st.EnableSeq > s.baseSeq && (s.spec.Ops == "" || st.Ops == s.spec.Ops)
}

func (s *Supervisor) waitAttach(ctx context.Context) error {
	deadline := time.NewTimer(s.cfg.AttachTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(min(s.cfg.PollInterval, 50*time.Millisecond))
	defer tick.Stop()
	var st scxfs.Status
	check := func() bool {
		var err error
		st, err = scxfs.Read(s.cfg.SchedExtDir)
		switch {
		case err != nil:
			return false
		case s.attachedNow(st):
			s.ops = st.Ops
		case st.EnableSeq > s.baseSeq && st.State != scxfs.StateEnabled && st.State != scxfs.StateEnabling:
			// Enabled and already gone between two polls (a stalling
			// scheduler can be ejected while its loader still attaches):
			// it did attach; the monitor reports how it ended.
			s.ops = s.spec.Ops
		default:
			return false
		}
		s.baseSeq = st.EnableSeq
		s.emit(Event{Kind: Attached, Scheduler: s.name(), EnableSeq: st.EnableSeq, State: st.State})
		return true
	}
	for {
		if check() {
			return nil
		}
		select {
		case <-tick.C:
		case <-s.exited: // nil for built-ins: never ready
			if check() {
				// Attached and exited at once: the monitor reports it.
				return nil
			}
			return s.loadFailed(fmt.Sprintf("loader exited before attaching (%s)", exitString(s.cmd.ProcessState)), st)
		case <-deadline.C:
			if check() {
				return nil
			}
			reason := fmt.Sprintf("not attached within %v (state %q", s.cfg.AttachTimeout, st.State)
			if st.Ops != "" {
				reason += fmt.Sprintf(", ops %q, want %q", st.Ops, s.spec.Ops)
			}
			reason += ")"
			s.kill()
			return s.loadFailed(reason, st)
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("wait for scheduler %s to attach: %w", s.spec, ctx.Err())
		}
	}
}

// loadFailed emits and returns the load failure.
func (s *Supervisor) loadFailed(reason string, st scxfs.Status) error {
	e := Event{Kind: LoadFailed, Scheduler: s.name(), Reason: reason, EnableSeq: st.EnableSeq, State: st.State}
	s.kernelEvidence(&e)
	s.takeDump(&e)
	s.fillExit(&e)
	e.Log = s.log.String()
	s.finish(e)
	return &LoadError{Event: e}
}

// kernelEvidence adds to a load failure the kernel's disable line for the
// scheduler (ops.init() failing, say) and the lines after it, waiting
// Config.TrailingWait for the kernel log to catch up. Only records already
// fed through Kernel are seen.
func (s *Supervisor) kernelEvidence(e *Event) {
	if s.spec.None() {
		return
	}
	var w watch
	timer := time.NewTimer(s.cfg.TrailingWait)
	defer timer.Stop()
	for {
		select {
		case rec := <-s.kernel:
			l, ok := ktext.ParseSchedExt(rec.Text)
			if ok && l.Kind == ktext.Disabled && (s.spec.Ops == "" || l.Scheduler == s.spec.Ops) {
				// The last one counts: earlier ones may be a previous
				// scheduler's.
				w = watch{disabled: &rec, line: l}
				continue
			}
			if w.disabled != nil && len(w.trailing) < maxTrailing &&
				((ok && l.Scheduler == w.line.Scheduler && l.Kind != ktext.Enabled) || strings.HasPrefix(rec.Text, " ") || rec.Cont) {
				w.trailing = append(w.trailing, rec.Text)
			}
		case <-timer.C:
			if w.disabled != nil {
				e.KernelLine, e.KernelLines = w.disabled.Text, w.trailing
			}
			return
		}
	}
}

// fillExit adds the loader's exit status to e when it has exited.
func (s *Supervisor) fillExit(e *Event) {
	s.mu.Lock()
	ps := s.state
	killed := s.killed
	s.mu.Unlock()
	if ps == nil {
		if killed != 0 {
			e.Exited, e.Signal = true, killed
		}
		return
	}
	e.Exited = true
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = int(ws.Signal())
		e.ExitCode = -1
		return
	}
	e.ExitCode = ps.ExitCode()
}

func exitString(ps *os.ProcessState) string {
	if ps == nil {
		return "still running"
	}
	return ps.String()
}

func (s *Supervisor) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.cfg.OnEvent(e)
}

// finish emits the terminal event once and marks the supervisor done.
func (s *Supervisor) finish(e Event) {
	s.mu.Lock()
	if s.terminal != nil {
		s.mu.Unlock()
		return
	}
	s.terminal = &e
	s.mu.Unlock()
	s.emit(e)
	close(s.done)
}

// kill stops the loader at once and waits for it (bounded).
func (s *Supervisor) kill() {
	if s.cmd == nil {
		if s.bi != nil {
			s.bi.Close()
		}
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
}

// ending reports whether the scheduler is on its way out: the monitor has
// seen its end begin, or sched_ext's state no longer shows it (the kernel
// changes the state before it prints its reason, and the log reaches the
// monitor later still).
func (s *Supervisor) ending() bool {
	return s.triggered.Load() || !s.stillAttached()
}

// AwaitEnd waits for the terminal event of a scheduler that is ending
// when it is called, bounded by the longest the monitor takes to judge
// an end and by ctx; it returns at once for a scheduler that is attached
// or has ended. A job calls it before it reports its own end: the host
// may answer that with Bye, and the ejection must reach it first.
func (s *Supervisor) AwaitEnd(ctx context.Context) {
	if !s.monitoring.Load() {
		return
	}
	if _, ok := s.Terminal(); ok || !s.ending() {
		return
	}
	// A state that left waits a poll, then ExitWait for the kernel's
	// line; an ejected loader gets ExitWait more to exit by itself.
	bound := time.NewTimer(s.cfg.PollInterval + s.cfg.TrailingWait + 2*s.cfg.ExitWait + time.Second)
	defer bound.Stop()
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-bound.C:
			return
		case <-ctx.Done():
			return
		case <-poll.C:
			// A read that showed it gone, contradicted since.
			if !s.triggered.Load() && s.stillAttached() {
				return
			}
		}
	}
}

// Ops returns the attached ops name ("" for no scheduler).
func (s *Supervisor) Ops() string { return s.ops }

// Spec returns the spec the supervisor was started with.
func (s *Supervisor) Spec() Spec { return s.spec }

// Done is closed once the terminal event (ejected, died, detached or
// load_failed) has been emitted.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Terminal returns the terminal event, or false while the scheduler runs.
func (s *Supervisor) Terminal() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.terminal == nil {
		return Event{}, false
	}
	return *s.terminal, true
}

// Log returns the loader's output captured so far.
func (s *Supervisor) Log() string { return s.log.String() }

// Kernel passes one kernel log record to the supervisor. It never blocks;
// records beyond a backlog of 1024 are dropped.
func (s *Supervisor) Kernel(rec kmsg.Record) {
	select {
	case s.kernel <- rec:
	default:
	}
}

// Signal sends sig to the loader (a scenario's kill_scheduler step). For a
// built-in scheduler, which has no process, it closes the scheduler and
// the terminal event is "died" with that signal.
func (s *Supervisor) Signal(sig syscall.Signal) error {
	switch {
	case s.cmd != nil:
		if err := s.cmd.Process.Signal(sig); err != nil {
			return fmt.Errorf("signal scheduler loader: %w", err)
		}
	case s.bi != nil:
		s.mu.Lock()
		s.killed = int(sig)
		s.mu.Unlock()
		if err := s.bi.Close(); err != nil {
			return fmt.Errorf("close built-in scheduler: %w", err)
		}
	default:
		return errors.New("signal scheduler: no scheduler running")
	}
	return nil
}

// Stop unloads the scheduler: SIGINT to the loader, SIGKILL after
// Config.StopGrace, or Close for a built-in. It waits for the terminal
// event ("detached", unless the scheduler had already ended) and for the
// kernel to leave the enabled state, bounded by ctx. Stop is idempotent.
func (s *Supervisor) Stop(ctx context.Context) error {
	if !s.monitoring.Load() {
		// Start failed, was not called, or is still running elsewhere:
		// make sure nothing is left.
		if s.cmd != nil || s.bi != nil {
			s.kill()
		}
		return nil
	}
	s.stop.Do(func() { close(s.stopc) })
	select {
	case <-s.ended:
	case <-ctx.Done():
		s.kill()
		return fmt.Errorf("stop scheduler %s: %w", s.spec, ctx.Err())
	}
	if s.bi != nil {
		// An ejected built-in still holds its link; Close is idempotent.
		if err := s.bi.Close(); err != nil {
			s.cfg.Logf("scheduler %s: close: %v", s.name(), err)
		}
	}
	// Let the kernel finish disabling before the next scheduler loads.
	for {
		st, err := scxfs.Read(s.cfg.SchedExtDir)
		if err != nil || st.State == scxfs.StateDisabled {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop scheduler %s: sched_ext still %s: %w", s.spec, st.State, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// takeDump moves the kernel's debug dump recorded since the start into e.
func (s *Supervisor) takeDump(e *Event) {
	dump, err := s.cfg.DumpTrace.Take()
	if err != nil {
		s.cfg.Logf("scheduler %s: %v", s.name(), err)
	}
	e.Dump = dump
}
