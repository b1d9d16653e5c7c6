package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// WindowSize is a terminal's size in characters.
type WindowSize struct {
	Rows, Cols int
}

// ShellIO is the terminal a Shell runs on.
type ShellIO struct {
	// In is the user's input. It is forwarded to the guest's console
	// once the shell runs (input typed during the boot waits); at its end
	// the shell gets an exit command.
	In io.Reader
	// Out receives the console and scxvm's notes (scheduler events, the
	// shell's end), which start on a new line and end in "\r\n" so that
	// a terminal in raw mode shows them right.
	Out io.Writer
	// Term is the shell's TERM (the host's); empty means
	// protocol.DefaultTerm.
	Term string
	// Size is the terminal's size at the start (zero: unknown); Resize
	// delivers each change (the host's SIGWINCH).
	Size   WindowSize
	Resize <-chan WindowSize
	// Escape, when not zero, is the escape byte (Ctrl-A, 0x01, for a
	// terminal): Escape then 'x' quits (the guest is killed), Escape
	// twice sends one Escape. Zero forwards every byte.
	Escape byte
}

// ShellResult is what a Shell saw.
type ShellResult struct {
	// Kernel and Scheduler are as in Result.
	Kernel    KernelInfo `json:"kernel"`
	Scheduler string     `json:"scheduler"`
	// Exit is how the shell ended; nil when it did not (the user quit,
	// the guest died).
	Exit *protocol.ExitStatus `json:"exit,omitempty"`
	// Quit says the user left with the escape sequence.
	Quit bool `json:"quit,omitempty"`
	// SchedState is /sys/kernel/sched_ext/state once the scheduler was in
	// place, before the shell started.
	SchedState  string       `json:"sched_state,omitempty"`
	SchedEvents []SchedEvent `json:"sched_events,omitempty"`
	// Failure is the scheduler's or the kernel's failure during the
	// shell (ejection, loader death or load failure, panic), also
	// returned as the error.
	Failure *Failure `json:"failure,omitempty"`
	// ConsoleLog is cfg.ConsoleLog when one was asked for.
	ConsoleLog string `json:"console_log,omitempty"`
}

// shellTimeout is the job timeout of a shell without Config.Timeout:
// a shell has no natural end.
const shellTimeout = 365 * 24 * time.Hour

// Shell boots cfg's kernel as exec does (proc, sys, debugfs, tracefs,
// cgroup2 mounted, cfg.ExtraFiles and cfg.Shares in place, cfg.Scheduler
// attached and supervised by the agent) with a debug image (a shell and
// core tools), and runs an interactive shell on the guest's console
// connected to tio until the shell exits (the guest then powers off),
// the user quits with the escape, or ctx ends. The shell leads its own
// session with the console as its controlling terminal: job control
// works, and ^C reaches its foreground job. Scheduler events are written
// to tio.Out when they happen. Scenarios are ignored. The error is a
// *Failure when the scheduler was ejected, died or did not load, or the
// kernel panicked; otherwise as for Run.
func Shell(ctx context.Context, cfg Config, tio ShellIO) (*ShellResult, error) {
	start := time.Now()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g, err := prepareKernel(ctx, &cfg, start)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	res := &Result{
		Kernel:    KernelInfo{Name: g.kernel.Name, Image: g.kernel.Image, Release: g.release()},
		Scheduler: cfg.Scheduler.String(),
		Topology:  cfg.Topology.String(),
	}
	out := &ShellResult{Kernel: res.Kernel, Scheduler: res.Scheduler, ConsoleLog: cfg.ConsoleLog}
	if !g.info.SchedExt && cfg.needsSchedExt() {
		return out, fmt.Errorf("kernel %s cannot run scheduler %s: %w", g.kernel.Name, cfg.Scheduler, g.info.SupportError())
	}
	schedPath, err := resolveSchedulerBinary(g.cacheDir, g.kernel, cfg.Scheduler)
	if err != nil {
		return out, err
	}
	if err := g.checkShares(&cfg); err != nil {
		return out, err
	}
	transport := resolveTransport(cfg.Transport)
	var bins []string
	if schedPath != "" {
		bins = []string{schedPath}
	}
	if err := g.buildImage(ctx, &cfg, imageOptions{debug: true, modules: needsModules(transport), binaries: bins, shares: len(cfg.Shares) > 0}); err != nil {
		return out, err
	}
	console := cfg.ConsoleLog
	if console == "" {
		console = os.DevNull // the console is the user's terminal
	}

	quit, quitCancel := context.WithCancel(ctx)
	defer quitCancel()
	var quitted atomic.Bool
	w := &noteWriter{w: tio.Out}
	in := newShellInput(tio.In, tio.Escape, func() { quitted.Store(true); quitCancel() })
	vc := g.vmConfig(&cfg, transport)
	vc.Timeout, vc.ConsoleLog = cfg.Timeout, console
	vc.Interactive, vc.Stdin, vc.Stdout = true, in, w
	vm, err := startVM(quit, vc)
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		return out, &InfraError{Op: "start qemu", Err: err}
	}
	s := &session{cfg: &cfg, res: res, start: start, schedPath: schedPath, agentPath: g.agent, vm: vm, userCtx: ctx}
	err = s.shell(quit, tio, in, w, out)
	if out.Quit = quitted.Load(); out.Quit {
		w.note("scxvm: quit; the guest is stopped")
		return out, nil
	}
	return out, err
}

// shell drives one shell boot: handshake, the shell job, bye. It always
// leaves the VM stopped.
func (s *session) shell(ctx context.Context, tio ShellIO, in *shellInput, w *noteWriter, out *ShellResult) error {
	defer s.vm.Close()
	s.res.Accel, s.res.Transport = s.vm.Accel(), s.vm.Transport()
	s.watchVM()
	live, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.vmDone:
			cancel()
		case <-live.Done():
		}
	}()
	fail := func(f *Failure) error {
		out.Failure = f
		return f
	}
	bootCtx, bootCancel := context.WithTimeout(live, s.cfg.bootTimeout())
	defer bootCancel()
	stream, err := s.vm.Accept(bootCtx)
	if err == nil {
		s.conn = protocol.NewConn(stream)
		defer s.conn.Close()
	}
	var hello *protocol.Hello
	if err == nil {
		hello, err = s.conn.AcceptHello(bootCtx)
	}
	if err != nil {
		if ctx.Err() != nil {
			s.vm.Kill()
			<-s.vmDone
			return ctx.Err()
		}
		var ve *protocol.VersionError
		if errors.As(err, &ve) {
			return &InfraError{Op: "handshake", Err: fmt.Errorf("agent %s: %w", s.agentPath, ve)}
		}
		return fail(s.attribute(bootCtx, "", fmt.Errorf("wait for the agent: %w", err)))
	}
	if err := s.acceptHello(live, hello); err != nil {
		return err
	}
	if !hello.SchedExt.Available && s.cfg.needsSchedExt() {
		s.bye(live)
		return fmt.Errorf("guest kernel %s has no /sys/kernel/sched_ext: %w", hello.KernelRelease, ErrNotSupported)
	}

	timeout := shellTimeout
	if s.cfg.Timeout > 0 {
		timeout = s.cfg.Timeout
	}
	term := tio.Term
	if term == "" {
		term = protocol.DefaultTerm
	}
	job := &protocol.Job{
		ID:        1,
		Scheduler: s.jobSpec(spec.Scenario{}, false),
		Shell:     &protocol.ShellSpec{Term: term, Size: wireSize(tio.Size)},
		Timeout:   timeout,
		Watchdog:  timeout + spec.DefaultTimeoutSlack,
	}
	if err := s.conn.Send(job); err != nil {
		return fail(s.attribute(live, "", fmt.Errorf("send the shell job: %w", err)))
	}
	if tio.Resize != nil {
		go func() {
			// A size from before the shell runs waits: the agent has no
			// console to set it on yet.
			select {
			case <-in.started:
			case <-live.Done():
				return
			}
			for {
				select {
				case sz := <-tio.Resize:
					s.conn.Send(&protocol.Resize{Size: wireSize(sz)})
				case <-live.Done():
					return
				}
			}
		}()
	}
	var bad *SchedEvent
	for {
		m, err := s.conn.RecvContext(live)
		if err != nil {
			if ctx.Err() != nil {
				s.vm.Kill()
				<-s.vmDone
				return ctx.Err()
			}
			return fail(s.attribute(live, "", err))
		}
		switch m := m.(type) {
		case *protocol.SchedEvent:
			ev := schedEventOf(m)
			out.SchedEvents = append(out.SchedEvents, ev)
			w.note("scxvm: scheduler " + describeSchedEvent(ev))
			switch protocol.SchedEventKind(ev.Kind) {
			case protocol.SchedEjected, protocol.SchedDied, protocol.SchedLoadFailed:
				if bad == nil {
					bad = &out.SchedEvents[len(out.SchedEvents)-1]
				}
			}
		case *protocol.ShellEvent:
			if m.Started {
				in.start()
			}
			if m.Error != "" {
				w.note("scxvm: shell: " + m.Error)
			}
			if m.Exit != nil {
				out.Exit = m.Exit
			}
		case *protocol.KernelLog:
			s.kernelLines(m, nil)
		case *protocol.JobResult:
			out.SchedState = m.SchedStateStart
			s.bye(live)
			if bad != nil {
				return fail(shellSchedFailure(*bad))
			}
			if m.Status != protocol.StatusOK && m.Status != protocol.StatusSchedulerFailed {
				return fail(&Failure{Kind: FailAgent, Message: fmt.Sprintf("shell: %s: %s", m.Status, m.Error)})
			}
			return nil
		case *protocol.Error:
			if m.Fatal {
				return fail(&Failure{Kind: FailAgent, Message: fmt.Sprintf("agent: %s: %s", m.Op, m.Message), Detail: s.vm.ConsoleTail(20)})
			}
			w.note(fmt.Sprintf("scxvm: agent: %s: %s", m.Op, m.Message))
		case *protocol.Bye:
			return fail(&Failure{Kind: FailAgent, Message: fmt.Sprintf("the agent said bye during the shell (%s)", m.Reason)})
		}
	}
}

// schedEventOf is a SchedEvent message as the result files it.
func schedEventOf(m *protocol.SchedEvent) SchedEvent {
	ev := SchedEvent{
		Kind: string(m.Kind), At: m.At, Scheduler: m.Scheduler, Reason: m.Reason,
		Message: strings.Join(m.KernelLines, "\n"), Log: m.Log,
	}
	if m.Exit != nil {
		if ev.Message != "" {
			ev.Message += "\n"
		}
		ev.Message += "loader " + m.Exit.String()
	}
	return ev
}

// shellSchedFailure is the failure of a scheduler event of a shell.
func shellSchedFailure(ev SchedEvent) *Failure {
	f := &Failure{Message: "scheduler " + describeSchedEvent(ev), Detail: splitLines(ev.Message)}
	switch protocol.SchedEventKind(ev.Kind) {
	case protocol.SchedEjected:
		f.Kind = FailEjected
	case protocol.SchedDied:
		f.Kind = FailSchedulerDied
	default:
		f.Kind = FailLoad
		f.Detail = append(f.Detail, tailLines(splitLines(ev.Log), 20)...)
	}
	return f
}

func wireSize(w WindowSize) protocol.WindowSize {
	clamp := func(n int) uint16 { return uint16(min(max(n, 0), 0xffff)) }
	return protocol.WindowSize{Rows: clamp(w.Rows), Cols: clamp(w.Cols)}
}

// noteWriter serializes the console's output and scxvm's notes to one
// writer, and knows whether the console's last byte ended a line.
type noteWriter struct {
	mu      sync.Mutex
	w       io.Writer
	midLine bool
}

func (n *noteWriter) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(p) > 0 {
		n.midLine = p[len(p)-1] != '\n'
	}
	return n.w.Write(p)
}

// note writes msg on a line of its own, "\r\n"-terminated (a terminal in
// raw mode does not turn "\n" into a new line).
func (n *noteWriter) note(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	if n.midLine {
		b.WriteString("\r\n")
	}
	b.WriteString(strings.ReplaceAll(msg, "\n", "\r\n"))
	b.WriteString("\r\n")
	io.WriteString(n.w, b.String())
	n.midLine = false
}

// shellInput is the user's input on its way to the guest's console: it
// reads ahead, acts on the escape sequence at once, and lets the console
// read only once the shell runs (start).
type shellInput struct {
	chunks  chan []byte
	started chan struct{}
	once    sync.Once
	pending []byte
}

// atEOF is what the console gets at the end of the input, so that the
// shell exits: an exit command, not the tty's end-of-file character (^D),
// which the tty turns into a NUL when it arrives while a command runs
// (the tty is then in canonical mode, and the shell reads it in raw mode).
const atEOF = "exit\n"

// newShellInput starts reading r. quit is called when the escape then
// 'x' is read (escape 0: never).
func newShellInput(r io.Reader, escape byte, quit func()) *shellInput {
	in := &shellInput{chunks: make(chan []byte, 64), started: make(chan struct{})}
	go in.read(r, escape, quit)
	return in
}

func (in *shellInput) read(r io.Reader, escape byte, quit func()) {
	defer close(in.chunks)
	if r == nil {
		return
	}
	buf := make([]byte, 4096)
	escaped, midLine := false, false
	for {
		n, err := r.Read(buf)
		var out []byte
		for _, c := range buf[:n] {
			switch {
			case escape == 0:
				out = append(out, c)
			case escaped:
				escaped = false
				switch c {
				case 'x', 'X':
					if len(out) > 0 {
						in.chunks <- out
					}
					quit()
					return
				case escape:
					out = append(out, c)
				default: // not a command: both go through
					out = append(out, escape, c)
				}
			case c == escape:
				escaped = true
			default:
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			in.chunks <- out
			midLine = out[len(out)-1] != '\n'
		}
		if err != nil {
			end := []byte(atEOF)
			if midLine {
				end = append([]byte{'\n'}, end...)
			}
			in.chunks <- end
			return
		}
	}
}

// start lets the console read the input.
func (in *shellInput) start() { in.once.Do(func() { close(in.started) }) }

// Read implements io.Reader for the console: it blocks until start, then
// returns the input as it comes.
func (in *shellInput) Read(p []byte) (int, error) {
	<-in.started
	if len(in.pending) == 0 {
		c, ok := <-in.chunks
		if !ok {
			return 0, io.EOF
		}
		in.pending = c
	}
	n := copy(p, in.pending)
	in.pending = in.pending[n:]
	return n, nil
}
