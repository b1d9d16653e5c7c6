package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/vmtest"
)

// shellEscape is the escape byte of an interactive shell: Ctrl-A, as in
// QEMU's and screen's consoles.
const shellEscape = 0x01

const shellUsage = `usage: scxvm shell [flags]

Boots the kernel as scxvm run does (proc, sys, debugfs, tracefs and
cgroup2 mounted, --file files and --share directories in place, the
--scheduler attached and supervised: its ejection is printed when it
happens) with a debug image (busybox or u-root tools), and runs a shell on
the guest's console, connected to this terminal. The shell has job control
and Ctrl-C reaches its foreground job; TERM and the window size (and its
changes) are the terminal's. Ctrl-A x quits at once (the guest is killed),
Ctrl-A Ctrl-A sends Ctrl-A; exit or Ctrl-D powers the guest off. Input that
is not a terminal is sent as typed once the shell runs, then "exit".
Exit status: 1 when the scheduler was ejected, died or did not load, or
the kernel panicked; else 0.

`

func shellCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return shellWith(ctx, args, os.Stdin, stdout, stderr)
}

// shellWith is shellCmd with its input given (tests pass a pipe or a
// file: no terminal).
func shellWith(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm shell", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var vf vmFlags
	vf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), shellUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("scxvm shell takes no arguments, got %q", fs.Args())
	}
	cfg, err := vf.configFromFlags(fs, stderr)
	if err != nil {
		return err
	}
	tio := vmtest.ShellIO{In: stdin, Out: stdout, Term: os.Getenv("TERM")}
	if host.IsTerminal(stdin) {
		if rows, cols, err := host.TermSize(stdin); err == nil {
			tio.Size = vmtest.WindowSize{Rows: rows, Cols: cols}
		}
		resize := make(chan vmtest.WindowSize, 1)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		done := make(chan struct{})
		defer close(done)
		go forwardResizes(stdin, winch, resize, done)
		tio.Resize, tio.Escape = resize, shellEscape
		fmt.Fprintf(stderr, "scxvm shell: booting %s with scheduler %s; Ctrl-A x quits, exit or Ctrl-D powers off\n", cfg.Kernel, cfg.Scheduler)
		restore, err := host.MakeRaw(stdin)
		if err != nil {
			return &vmtest.InfraError{Op: "terminal", Err: err}
		}
		defer restore()
	}
	res, err := vmtest.Shell(ctx, cfg, tio)
	if res != nil && res.Exit != nil && err == nil {
		fmt.Fprintf(stderr, "\r\nscxvm shell: the shell ended (%s)\r\n", res.Exit)
	}
	return err
}

// forwardResizes sends the terminal's size on each SIGWINCH, the latest
// one only when the reader lags, until done.
func forwardResizes(tty *os.File, winch <-chan os.Signal, resize chan vmtest.WindowSize, done <-chan struct{}) {
	for {
		select {
		case <-winch:
			rows, cols, err := host.TermSize(tty)
			if err != nil {
				continue
			}
			select {
			case <-resize: // drop a size not yet sent
			default:
			}
			resize <- vmtest.WindowSize{Rows: rows, Cols: cols}
		case <-done:
			return
		}
	}
}
