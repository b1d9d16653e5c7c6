package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/agent/scxfs"
	"github.com/scxvm/scxvm/protocol"
)

// shellHangupGrace is how long the shell's session has between SIGHUP
// and SIGKILL when the job ends under it.
const shellHangupGrace = time.Second

// shellJob runs a Job.Shell: the job's scheduler (supervised as for any
// job: its ejection is a SchedEvent), then the shell on the console until
// the shell exits or the job ends (timeout, the host's Bye).
func (s *session) shellJob(ctx context.Context, job *protocol.Job, arrived time.Time) {
	ctx, cancel := context.WithTimeout(ctx, jobTimeout(job))
	defer cancel()
	res := &protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK}
	if err := s.ensureScheduler(ctx, job.Scheduler, job.ID, arrived); err != nil {
		// The shell starts anyway, under the kernel's own scheduler: the
		// host has the load failure (a SchedEvent) and prints it.
		res.Status, res.Error = protocol.StatusSchedulerFailed, err.Error()
	}
	if st, err := scxfs.Read(s.cfg.SchedExtDir); err == nil {
		res.SchedStateStart, res.EnableSeqStart = st.State, st.EnableSeq
	}
	res.Timings.Setup = time.Since(arrived)
	ev := &protocol.ShellEvent{JobID: job.ID}
	exit, err := s.runShell(ctx, job)
	switch {
	case err != nil:
		ev.Error = err.Error()
		if res.Status == protocol.StatusOK {
			res.Status, res.Error = protocol.StatusFailed, err.Error()
		}
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		ev.Exit = exit
		res.Status, res.Error = protocol.StatusTimedOut, fmt.Sprintf("shell still running after the job timeout %v", jobTimeout(job))
	default:
		ev.Exit = exit
	}
	s.awaitSchedulerEnd(ctx)
	s.send(ev)
	if st, err := scxfs.Read(s.cfg.SchedExtDir); err == nil {
		res.SchedStateEnd, res.EnableSeqEnd = st.State, st.EnableSeq
	}
	res.Timings.Total = time.Since(arrived)
	res.Timings.Run = res.Timings.Total - res.Timings.Setup
	s.send(res)
}

// consoleDevice returns the /dev node of the kernel's console (the last
// of /sys/class/tty/console/active is /dev/console's), e.g. /dev/ttyS0.
func consoleDevice(sysRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(sysRoot, "sys/class/tty/console/active"))
	if err != nil {
		return "", fmt.Errorf("find the console: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "", errors.New("find the console: no active console")
	}
	return "/dev/" + f[len(f)-1], nil
}

// runShell starts the shell as a session leader whose controlling
// terminal is the console, tells the host, and waits for it. When ctx
// ends first, the shell's session is hung up, then killed.
func (s *session) runShell(ctx context.Context, job *protocol.Job) (*protocol.ExitStatus, error) {
	sp := job.Shell
	dev, err := consoleDevice(s.cfg.SysRoot)
	if err != nil {
		return nil, err
	}
	tty, err := os.OpenFile(dev, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open console: %w", err)
	}
	defer tty.Close()
	if !sp.Size.Unknown() {
		setWindowSize(tty, sp.Size, s.cfg.Logf)
	}
	path := sp.Path
	if path == "" {
		path = protocol.DefaultShell
	}
	term := sp.Term
	if term == "" {
		term = protocol.DefaultTerm
	}
	cmd := exec.Command(path)
	cmd.Args = []string{filepath.Base(path)}
	cmd.Env = shellEnv(os.Environ(), term)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// Setsid and Setctty: the shell leads a new session whose controlling
	// terminal is the console (fd 0 in the child), so that it runs job
	// control and the console's ^C, ^Z and window-size changes reach its
	// foreground job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	s.mu.Lock()
	s.shellTTY = tty
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.shellTTY = nil
		s.mu.Unlock()
	}()
	s.cfg.Logf("shell %s started on %s (pid %d)", path, dev, cmd.Process.Pid)
	s.send(&protocol.ShellEvent{JobID: job.ID, Started: true, TTY: dev})

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-exited:
	case <-ctx.Done():
		pid := cmd.Process.Pid // the session's id and its process group's
		unix.Kill(-pid, unix.SIGHUP)
		unix.Kill(-pid, unix.SIGCONT)
		select {
		case werr = <-exited:
		case <-time.After(shellHangupGrace):
			unix.Kill(-pid, unix.SIGKILL)
			werr = <-exited
		}
	}
	st := &protocol.ExitStatus{}
	var xe *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &xe):
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.Signal = int(ws.Signal())
		} else {
			st.Code = xe.ExitCode()
		}
	default:
		return nil, fmt.Errorf("wait for shell: %w", werr)
	}
	return st, nil
}

// shellEnv is env with TERM set to term and the agent's own variables
// left out.
func shellEnv(env []string, term string) []string {
	out := make([]string, 0, len(env)+2)
	home := false
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "TERM", strings.HasPrefix(k, "SCXVM_"):
			continue
		case k == "HOME":
			home = true
		}
		out = append(out, kv)
	}
	if !home {
		out = append(out, "HOME=/")
	}
	return append(out, "TERM="+term)
}

// setWindowSize sets the terminal's size; the kernel sends SIGWINCH to
// its foreground process group.
func setWindowSize(tty *os.File, size protocol.WindowSize, logf func(string, ...any)) {
	ws := &unix.Winsize{Row: size.Rows, Col: size.Cols}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		logf("set console window size %dx%d: %v", size.Cols, size.Rows, err)
	}
}

// resizeShell applies a Resize from the host to the running shell's
// console; without a shell it does nothing.
func (s *session) resizeShell(m *protocol.Resize) {
	s.mu.Lock()
	tty := s.shellTTY
	if tty != nil && !m.Size.Unknown() {
		setWindowSize(tty, m.Size, s.cfg.Logf)
	}
	s.mu.Unlock()
}
