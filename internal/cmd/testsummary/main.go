// Command testsummary shows a `go test -json` run the way go test shows
// its output without -v, then summarises it: failed tests with their
// output, skipped tests with their reason, and a final
// "N passed, N failed, N skipped" line. It exits 1 when a test or a
// package failed, when nothing was tested, or, under CI ($CI set), when
// a test skipped for any reason but hardware the CI machines lack
// (internal/testenv.Hardware). `make test` runs it.
//
// Usage:
//
//	testsummary [-v] -- go test -json ./...   run the command and read its stdout
//	go test -json ./... | testsummary [-v]     read standard input
//
// With a command, its exit status also counts: a command that fails
// fails the summary. -v echoes every output line, as go test -v does.
//
// Environment: CI (any non-empty value) marks a CI run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/internal/testsummary"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errFailed) {
			fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		}
		os.Exit(1)
	}
}

// errFailed is a run whose tests did not pass; the summary says why.
var errFailed = errors.New("tests failed")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("testsummary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "echo every output line (as go test -v)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := testsummary.New(stdout, testsummary.Options{Verbose: *verbose, CI: testenv.InCI()})
	var cmdErr error
	if cmd := fs.Args(); len(cmd) > 0 {
		c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
		c.Stdin, c.Stderr = stdin, stderr
		// Interrupted: let go test end its test binaries itself.
		c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
		out, err := c.StdoutPipe()
		if err != nil {
			return err
		}
		if err := c.Start(); err != nil {
			return fmt.Errorf("start %s: %w", cmd[0], err)
		}
		readErr := s.Read(out)
		if readErr != nil {
			io.Copy(io.Discard, out)
		}
		cmdErr = c.Wait()
		if readErr != nil {
			return readErr
		}
	} else if err := s.Read(stdin); err != nil {
		return err
	}
	if err := s.WriteSummary(stdout); err != nil {
		return err
	}
	if cmdErr != nil {
		fmt.Fprintf(stdout, "FAIL: %s: %v\n", fs.Arg(0), cmdErr)
		return errFailed
	}
	if !s.OK() {
		return errFailed
	}
	return nil
}
