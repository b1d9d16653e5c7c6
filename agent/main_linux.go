package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/agent/kmsg"
	"github.com/scxvm/scxvm/protocol"
)

// Environment of the session process (see the package documentation).
const (
	envSession = "SCXVM_AGENT_SESSION"
	envBootNs  = "SCXVM_AGENT_BOOT_NS"
	envStartNs = "SCXVM_AGENT_START_NS"
	readyFd    = 3 // the session writes one byte here once it runs
	channelFd  = 4 // the channel to the host, Hello already sent
	// helloTimeout bounds the Hello write: a virtio-serial write blocks
	// until the host connects to the port.
	helloTimeout = 60 * time.Second
	modulesDir   = "/lib/modules/scxvm"
	openTimeout  = 10 * time.Second
	// readyTimeout bounds the wait for the session process to say it runs.
	readyTimeout = 5 * time.Second
)

// IsGuest reports whether the process is the guest agent: PID 1, or the
// session process PID 1 started. The binary's main calls Main when it is.
func IsGuest() bool {
	return os.Getpid() == 1 || os.Getenv(envSession) != ""
}

// Main runs the guest agent and never returns. As PID 1 it sets the
// machine up, starts the session process and reaps orphans until the
// session ends, then powers off. In the session process it talks to the
// host and exits when the conversation is over. In any other process it
// prints an error and exits with status 2.
func Main() {
	logf := consoleLogger()
	if os.Getenv(envSession) != "" {
		os.Exit(sessionProcess(logf))
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "scxvm agent: not PID 1; the agent runs as the guest's init")
		os.Exit(2)
	}
	initProcess(logf)
}

// consoleLogger writes to stderr (the console), or to the kernel log at
// error level when stderr is not usable (an initramfs without
// /dev/console), so that the host's console capture sees it either way.
func consoleLogger() func(string, ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf("scxvm-agent: "+format+"\n", args...)
		if _, err := os.Stderr.WriteString(msg); err == nil {
			return
		}
		if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
			f.WriteString("<3>" + msg)
			f.Close()
		}
	}
}

// initProcess is PID 1.
func initProcess(logf func(string, ...any)) {
	start, boot := time.Now(), bootTime()
	defer func() {
		if r := recover(); r != nil {
			logf("PID 1 panic: %v\n%s", r, debug.Stack())
		}
		powerOff(logf)
	}()
	sys := realSystem{}
	if err := mountAll(sys, mountTable, logf); err != nil {
		setupConsole()
		logf("%v", err)
		return
	}
	setupConsole()
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}); err != nil {
		logf("raise RLIMIT_MEMLOCK: %v", err)
	}
	// The Hello goes out first, from PID 1: the session process costs an
	// exec of this binary, which under TCG takes longer than the rest.
	// Its facts are gathered while the modules load and the channel opens.
	cfg := Config{Start: start, BootTime: boot, Logf: logf}.withDefaults()
	gathered := startHello(cfg)
	if mods := loadModules(modulesDir, finitModule, logf); len(mods) > 0 {
		logf("loaded modules %v", mods)
	}
	if cmdline, err := os.ReadFile("/proc/cmdline"); err == nil {
		if errs := mountShares(sys, string(cmdline), logf); len(errs) > 0 {
			hello := gathered
			gathered = func() *protocol.Hello {
				h := hello()
				h.ShareErrors = errs
				return h
			}
		}
	}
	ts, f, err := openAndHello(cfg, gathered)
	if err != nil {
		logf("%v", err)
		return
	}
	// The rest of the set-up is not needed for the Hello.
	enableControllers(sys, "/sys/fs/cgroup", logf)
	if err := sys.WriteFile("/proc/sys/kernel/sysrq", []byte("1")); err != nil {
		logf("enable sysrq: %v", err)
	}
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", "/sched:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}

	pid, err := startSession("", ts, start, boot, f)
	if err != nil {
		logf("%v; running the session in PID 1 (orphans will not be reaped)", err)
		if err := serveSession(ts, f, start, boot, logf); err != nil {
			logf("session: %v", err)
		}
		return
	}
	f.Close() // the session process owns the channel now
	if n := reap(pid, logf); n > 0 {
		logf("reaped %d orphans", n)
	}
}

// openAndHello opens the transport the kernel command line asks for and
// sends the Hello, bounded so that a host that never connects cannot keep
// the guest up.
func openAndHello(cfg Config, gathered func() *protocol.Hello) (transportSpec, *os.File, error) {
	logf := cfg.Logf
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		logf("read kernel command line: %v", err)
	}
	ts, err := parseCmdline(string(b))
	if err != nil {
		logf("%v; using %s", err, ts.Kind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	f, err := openTransport(ctx, ts, logf)
	cancel()
	if err != nil {
		return ts, nil, err
	}
	cfg.Transport = ts.Kind
	done := make(chan error, 1)
	go func() { done <- sendHello(protocol.NewConn(f), cfg, gathered) }()
	select {
	case err = <-done:
	case <-time.After(helloTimeout):
		err = fmt.Errorf("send hello: host not reading after %v", helloTimeout)
	}
	if err != nil {
		f.Close()
		return ts, nil, err
	}
	return ts, f, nil
}

// startSession re-executes exe (default: this binary) as the session
// process, handing it the channel, and waits until it reports that it runs
// the agent session (a binary whose main does not dispatch on IsGuest
// would run something else).
func startSession(exe string, ts transportSpec, start time.Time, boot time.Duration, channel *os.File) (int, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			exe = "/proc/self/exe"
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("start session: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe)
	cmd.Args = []string{"scxvm-agent"}
	cmd.Env = append(os.Environ(),
		envSession+"="+ts.Kind,
		envBootNs+"="+strconv.FormatInt(int64(boot), 10),
		envStartNs+"="+strconv.FormatInt(start.UnixNano(), 10))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w, channel} // fds readyFd and channelFd
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("start session: %w", err)
	}
	pid := cmd.Process.Pid
	// From here on PID 1 waits with wait4(-1) only; cmd.Wait is never
	// called.
	ready := make(chan bool, 1)
	go func() {
		var b [1]byte
		n, _ := r.Read(b[:])
		ready <- n == 1
	}()
	select {
	case ok := <-ready:
		if ok {
			return pid, nil
		}
	case <-time.After(readyTimeout):
	}
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	return 0, fmt.Errorf("session process (%s) did not start the agent session: does main call agent.Main when agent.IsGuest()?", exe)
}

// reap reaps every child until the session process exits; it returns how
// many other processes (orphans) it reaped.
func reap(session int, logf func(string, ...any)) (orphans int) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			logf("wait: %v", err)
			return orphans
		case pid == session:
			if ws.Signaled() {
				logf("session killed by signal %v", ws.Signal())
			} else if ws.ExitStatus() != 0 {
				logf("session exited with status %d", ws.ExitStatus())
			}
			return orphans
		default:
			orphans++
		}
	}
}

// sessionProcess is the process PID 1 starts; it returns its exit code.
func sessionProcess(logf func(string, ...any)) (code int) {
	ready := os.NewFile(readyFd, "ready")
	ready.Write([]byte{1})
	ready.Close()
	channel := os.NewFile(channelFd, "channel")
	kind := os.Getenv(envSession)
	boot, _ := strconv.ParseInt(os.Getenv(envBootNs), 10, 64)
	startNs, _ := strconv.ParseInt(os.Getenv(envStartNs), 10, 64)
	start := time.Unix(0, startNs)
	// Children (workers, loaders, payloads) are not sessions.
	for _, k := range []string{envSession, envBootNs, envStartNs} {
		os.Unsetenv(k)
	}
	defer func() {
		if r := recover(); r != nil {
			logf("session panic: %v\n%s", r, debug.Stack())
			code = 1
		}
	}()
	if err := serveSession(transportSpec{Kind: kind}, channel, start, time.Duration(boot), logf); err != nil {
		logf("session: %v", err)
		return 1
	}
	return 0
}

// serveSession serves the host over channel, after the Hello.
func serveSession(ts transportSpec, channel *os.File, start time.Time, boot time.Duration, logf func(string, ...any)) error {
	cfg := Config{Transport: ts.Kind, Start: start, BootTime: boot, Logf: logf, HelloSent: true}
	if ts.Kind == protocol.TransportVsock {
		// A restore resets the vsock connection: the host of the
		// restored run dials the parked agent.
		cfg.ParkListen = listenVsock
	}
	if f, err := kmsg.Open(); err != nil {
		logf("%v (no kernel log forwarding)", err)
	} else {
		cfg.Kmsg = io.Reader(f)
	}
	return Serve(context.Background(), channel, cfg)
}
