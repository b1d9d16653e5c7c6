package kernel

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed fragment.config
var fragment []byte

// Fragment returns the configuration fragment of scxvm's test kernels
// (sched_ext, BTF, cgroups with cpusets, schedstats, virtio console and
// vsock built in, IKCONFIG_PROC, PVH): kernel/fragment.config, built into
// the binary.
func Fragment() []byte { return bytes.Clone(fragment) }

// BuildOptions configure Build.
type BuildOptions struct {
	// Source is the kernel source tree.
	Source string
	// Output is the build directory (make O=DIR); "" builds in Source.
	Output string
	// Jobs is make's -j; zero means the number of cpus.
	Jobs int
	// Defconfig starts from `make defconfig` even when the build
	// directory has a .config; without it an existing .config is kept
	// and the rest of the recipe is merged into it.
	Defconfig bool
	// ConfigOnly stops after the configuration (make olddefconfig).
	ConfigOnly bool
	// LogFile receives make's whole output; "" means scxvm-build.log in
	// the build directory.
	LogFile string
	// Progress, when set, receives the steps and, while compiling, the
	// objects built so far. It is called from Build's goroutines, one
	// call at a time.
	Progress func(BuildEvent)
	// Env is added to make's environment (tests set PATH).
	Env []string
}

// BuildEvent reports Build's progress.
type BuildEvent struct {
	// Step is the step's number (from 1) of Steps; Name is its command,
	// e.g. "make defconfig".
	Step, Steps int
	Name        string
	// Done is set when the step finished.
	Done bool
	// Objects counts the objects compiled so far in this step; Line is
	// make's last line ("CC      kernel/sched/core.o").
	Objects int
	Line    string
	// Elapsed is the time since Build started.
	Elapsed time.Duration
}

// BuildError is a failed step of Build: the command, its last lines and
// where the whole log is.
type BuildError struct {
	Step string
	Err  error
	// Tail holds the log's last lines.
	Tail []string
	Log  string
	// Hint names a missing tool and its package when the output shows
	// one.
	Hint string
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel build: %s: %v", e.Step, e.Err)
	if e.Hint != "" {
		b.WriteString("\n" + e.Hint)
	}
	if len(e.Tail) > 0 {
		fmt.Fprintf(&b, "\nlast lines of %s:", e.Log)
		for _, l := range e.Tail {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

func (e *BuildError) Unwrap() error { return e.Err }

// Build runs the recipe of scxvm's test kernels on a kernel source tree:
//
//	make defconfig         (only when there is no .config, or Defconfig)
//	make kvm_guest.config
//	scripts/kconfig/merge_config.sh -m .config FRAGMENT   (Fragment())
//	make olddefconfig
//	make -jN bzImage
//
// It first checks that the host has the tools a build needs
// (*MissingToolsError names them and their packages), and after the
// configuration that every option the fragment asks for survived (an
// older tree without sched_ext fails here, in seconds). It returns the
// built tree (OpenTree of the build directory); with ConfigOnly, the
// tree's Image is empty.
func Build(ctx context.Context, opt BuildOptions) (*Tree, error) {
	return build(ctx, opt, hostToolEnv())
}

func build(ctx context.Context, opt BuildOptions, env toolEnv) (*Tree, error) {
	start := time.Now()
	src, err := filepath.Abs(opt.Source)
	if err != nil {
		return nil, fmt.Errorf("kernel build: %w", err)
	}
	if !hasAll(src, treeMarkers) {
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("kernel build: %w", err)
		}
		return nil, &TreeError{Dir: opt.Source, NotTree: true, Reason: fmt.Sprintf(
			"not a kernel source tree: looked for %s and found %s", strings.Join(treeMarkers, ", "), found(src))}
	}
	out := src
	if opt.Output != "" {
		if out, err = filepath.Abs(opt.Output); err != nil {
			return nil, fmt.Errorf("kernel build: %w", err)
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("kernel build: %w", err)
		}
	}
	if err := checkTools(env); err != nil {
		return nil, err
	}
	logPath := opt.LogFile
	if logPath == "" {
		logPath = filepath.Join(out, "scxvm-build.log")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("kernel build: create log: %w", err)
	}
	defer logf.Close()

	frag, err := os.CreateTemp("", "scxvm-fragment-*.config")
	if err != nil {
		return nil, fmt.Errorf("kernel build: %w", err)
	}
	defer os.Remove(frag.Name())
	if _, err := frag.Write(fragment); err != nil {
		frag.Close()
		return nil, fmt.Errorf("kernel build: write fragment: %w", err)
	}
	if err := frag.Close(); err != nil {
		return nil, fmt.Errorf("kernel build: write fragment: %w", err)
	}

	jobs := opt.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	makeArgs := func(targets ...string) []string {
		a := []string{"make", "-C", src}
		if out != src {
			a = append(a, "O="+out)
		}
		return append(a, targets...)
	}
	config := filepath.Join(out, ".config")
	type step struct {
		name string
		argv []string
		dir  string
	}
	var steps []step
	if opt.Defconfig || !isFile(config) {
		steps = append(steps, step{"make defconfig", makeArgs("defconfig"), ""})
	}
	steps = append(steps,
		step{"make kvm_guest.config", makeArgs("kvm_guest.config"), ""},
		step{"merge scxvm's fragment", []string{filepath.Join(src, "scripts", "kconfig", "merge_config.sh"), "-m", "-O", out, config, frag.Name()}, out},
		step{"make olddefconfig", makeArgs("olddefconfig"), ""},
	)
	nconfig := len(steps)
	if !opt.ConfigOnly {
		steps = append(steps, step{fmt.Sprintf("make -j%d bzImage", jobs), makeArgs(fmt.Sprintf("-j%d", jobs), "bzImage"), ""})
	}
	r := &runner{log: logf, logPath: logPath, env: append(os.Environ(), opt.Env...), progress: opt.Progress, start: start, osRelease: env.osRelease}
	for i, s := range steps {
		ev := BuildEvent{Step: i + 1, Steps: len(steps), Name: s.name}
		if err := r.run(ctx, ev, s.argv, s.dir); err != nil {
			return nil, err
		}
		if i+1 == nconfig {
			if err := checkFragment(config); err != nil {
				return nil, err
			}
		}
	}
	if opt.ConfigOnly {
		return &Tree{Dir: out, Source: src, Config: config}, nil
	}
	return OpenTree(out)
}

// checkFragment fails when an option the fragment requires (Required)
// did not make it into the configuration.
func checkFragment(config string) error {
	cfg, err := readConfigFile(config)
	if err != nil {
		return fmt.Errorf("kernel build: read %s: %w", config, err)
	}
	want, err := ParseConfig(bytes.NewReader(fragment))
	if err != nil {
		return fmt.Errorf("kernel build: fragment: %w", err)
	}
	var lost []string
	for _, o := range Required {
		if want.Get(o.Name) == "y" && !cfg.Builtin(o.Name) {
			lost = append(lost, o.Name)
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("kernel build: %s: the configuration lost %s (this tree's Kconfig lacks them or what they depend on: sched_ext needs Linux 6.12 or later): %w",
			config, strings.Join(lost, ", "), ErrNotSupported)
	}
	return nil
}

// runner runs the steps of a build with their output in the log.
type runner struct {
	log       io.Writer
	logPath   string
	env       []string
	progress  func(BuildEvent)
	start     time.Time
	osRelease string
}

// tailLines is how many of a failed step's last lines the error keeps.
const tailLines = 25

func (r *runner) run(ctx context.Context, ev BuildEvent, argv []string, dir string) error {
	r.emit(ev)
	fmt.Fprintf(r.log, "### %s\n### %s\n", ev.Name, strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = r.env
	// make's children go with it when the context ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var (
		wg   sync.WaitGroup
		tail []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		last := time.Time{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(r.log, line)
			tail = append(tail, line)
			if len(tail) > 2*tailLines {
				tail = append(tail[:0], tail[len(tail)-tailLines:]...)
			}
			if k := kbuildLine(line); k != "" {
				if k[:2] == "CC" || k[:2] == "AS" {
					ev.Objects++
				}
				ev.Line = k
				if now := time.Now(); now.Sub(last) >= 200*time.Millisecond {
					last = now
					r.emit(ev)
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		if len(tail) > tailLines {
			tail = tail[len(tail)-tailLines:]
		}
		berr := &BuildError{Step: ev.Name, Err: err, Tail: tail, Log: r.logPath, Hint: missingInLog(tail, r.osRelease)}
		if errors.Is(err, exec.ErrNotFound) {
			berr.Tail = nil
		}
		return berr
	}
	ev.Done = true
	r.emit(ev)
	return nil
}

func (r *runner) emit(ev BuildEvent) {
	if r.progress != nil {
		ev.Elapsed = time.Since(r.start)
		r.progress(ev)
	}
}

// kbuildLine returns a kbuild progress line ("  CC      kernel/fork.o")
// trimmed, or "" for other output.
func kbuildLine(line string) string {
	if !strings.HasPrefix(line, "  ") {
		return ""
	}
	f := strings.Fields(line)
	if len(f) < 2 || len(f[0]) < 2 || f[0][0] < 'A' || f[0][0] > 'Z' || strings.ToUpper(f[0]) != f[0] {
		return ""
	}
	return f[0] + " " + f[len(f)-1]
}
