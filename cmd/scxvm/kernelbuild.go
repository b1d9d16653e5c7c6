package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/vmtest"
)

// kernelBuildCmd is `scxvm kernel build [flags] [DIR]`.
func kernelBuildCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm kernel build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt kernel.BuildOptions
	fs.StringVar(&opt.Output, "O", "", "build `DIR` (make O=DIR; default: in the source tree)")
	fs.IntVar(&opt.Jobs, "j", 0, "make jobs (default: the number of cpus)")
	fs.BoolVar(&opt.Defconfig, "defconfig", false, "start from make defconfig even when the tree has a .config")
	fs.BoolVar(&opt.ConfigOnly, "config-only", false, "configure only (stop after make olddefconfig)")
	printFragment := fs.Bool("print-fragment", false, "print the configuration fragment and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: scxvm kernel build [flags] [DIR]

Configures and builds the kernel source tree DIR (default: the tree the
current directory is in) for scxvm:
  make defconfig            (only without a .config, or with -defconfig)
  make kvm_guest.config
  merge_config.sh -m .config FRAGMENT   (-print-fragment shows it)
  make olddefconfig
  make -jN bzImage
then boot it with: scxvm run --kernel DIR. make's output goes to
scxvm-build.log in the build directory. A build from scratch takes about
15 minutes on 2 cpus.

`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *printFragment {
		_, err := stdout.Write(kernel.Fragment())
		return err
	}
	switch fs.NArg() {
	case 0:
		dir, err := sourceTreeAbove(".")
		if err != nil {
			return err
		}
		opt.Source = dir
	case 1:
		opt.Source = fs.Arg(0)
	default:
		return usagef("scxvm kernel build takes one kernel tree, got %q", fs.Args())
	}
	bp := newBuildPrinter(stderr)
	opt.Progress = bp.event
	t, err := kernel.Build(ctx, opt)
	bp.finish()
	var (
		mt *kernel.MissingToolsError
		be *kernel.BuildError
	)
	switch {
	case err == nil:
	case errors.Is(err, kernel.ErrNotTree):
		return usagef("%v", err)
	case errors.As(err, &mt):
		return &vmtest.InfraError{Op: "build kernel", Err: err}
	case errors.As(err, &be), errors.Is(err, kernel.ErrNotSupported):
		return buildFailed{err}
	case errors.Is(err, context.Canceled):
		return err
	default:
		return &vmtest.InfraError{Op: "build kernel", Err: err}
	}
	took := bp.elapsed().Round(time.Second)
	if opt.ConfigOnly {
		fmt.Fprintf(stdout, "configured %s in %v\n", t.Config, took)
		return nil
	}
	fmt.Fprintf(stdout, "built %s (%s) in %v\nrun it: scxvm run --kernel %s\n", t.Image, t.Release, took, t.Dir)
	return nil
}

// buildFailed is a kernel that did not build: `git bisect run` reads its
// exit code (125) as "skip this commit", the usual answer for a commit
// that does not build.
type buildFailed struct{ err error }

func (b buildFailed) Error() string        { return b.err.Error() }
func (b buildFailed) Unwrap() error        { return b.err }
func (b buildFailed) Is(target error) bool { return target == vmtest.ErrNotSupported }

// sourceTreeAbove returns the kernel source tree that contains dir.
func sourceTreeAbove(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if kernel.IsTree(d) {
			if src, err := filepath.EvalSymlinks(filepath.Join(d, "source")); err == nil {
				return src, usagef("%s is a build directory (make O=): give the source tree, scxvm kernel build -O %s %s", d, d, src)
			}
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", usagef("%s is in no kernel tree (looked for Makefile, Kconfig and scripts/kconfig here and above): give the tree, scxvm kernel build DIR", abs)
		}
	}
}

// buildPrinter shows a build's progress: a status line rewritten in place
// on a terminal; plain lines (each step, and the count of objects every
// 30 s) otherwise.
type buildPrinter struct {
	w      io.Writer
	tty    bool
	status bool
	last   time.Time
	start  time.Time
}

func newBuildPrinter(w io.Writer) *buildPrinter {
	return &buildPrinter{w: w, tty: isTerminal(w), start: time.Now()}
}

func (p *buildPrinter) elapsed() time.Duration { return time.Since(p.start) }

func (p *buildPrinter) event(e kernel.BuildEvent) {
	head := fmt.Sprintf("[%d/%d] %s", e.Step, e.Steps, e.Name)
	clock := fmt.Sprintf("%6.0fs", e.Elapsed.Seconds())
	switch {
	case e.Done:
		p.clear()
		fmt.Fprintf(p.w, "%s %s: done%s\n", clock, head, strings.TrimSuffix(strings.TrimSuffix(" "+objects(e.Objects), ", "), " "))
	case e.Line == "":
		p.clear()
		fmt.Fprintf(p.w, "%s %s\n", clock, head)
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s %s: %s%s", clock, head, objects(e.Objects), e.Line)
		p.status = true
	case time.Since(p.last) >= 30*time.Second:
		p.last = time.Now()
		fmt.Fprintf(p.w, "%s %s: %s%s\n", clock, head, objects(e.Objects), e.Line)
	}
}

// objects says how many objects were compiled, for a progress line.
func objects(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d objects, ", n)
}

func (p *buildPrinter) clear() {
	if p.status {
		fmt.Fprint(p.w, "\r\033[K")
		p.status = false
	}
}

func (p *buildPrinter) finish() { p.clear() }
