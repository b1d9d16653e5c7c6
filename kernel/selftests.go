package kernel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SelftestsDir is the sched_ext selftests' directory in a kernel source
// tree; `make -C` there builds their runner.
const SelftestsDir = "tools/testing/selftests/sched_ext"

// Selftests is the kernel's sched_ext selftests runner built for one
// kernel.
type Selftests struct {
	// Runner is the runner binary (dynamically linked; the guest image
	// gets its libraries).
	Runner string
	// Source is the kernel source tree it was built from, VMLinux the
	// vmlinux whose BTF it was built against.
	Source  string
	VMLinux string
	// Log is make's output of the build.
	Log string
	// Built is set when this call built it; unset for a cached runner.
	Built bool
	// Took is how long the build took (zero for a cached runner).
	Took time.Duration
}

// SelftestsOptions configure BuildSelftests.
type SelftestsOptions struct {
	// CacheDir is the cache root, for kernels of the cache; "" means
	// DefaultCacheDir().
	CacheDir string
	// Clang is the C and BPF compiler; "" means clang-19 when it is on
	// PATH, else clang.
	Clang string
	// Jobs is make's -j; zero means the number of cpus.
	Jobs int
	// Progress, when set, receives a line when a build starts and ends.
	Progress func(string)
}

func (o *SelftestsOptions) say(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// SelftestsSource returns the source tree of kernel k and the vmlinux to
// build its selftests against: a kernel tree's own source and vmlinux; for
// a kernel of the cache, the source tree `make schedulers` unpacked and
// built k's example schedulers from (named by the `source` line of their
// status file) and the vmlinux it extracted from k's image. An error
// wrapping fs.ErrNotExist says which command provides what is missing.
func SelftestsSource(cacheDir string, k *Kernel) (src, vmlinux string, err error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	if k.Tree != "" {
		t, err := OpenTree(k.Tree)
		if err != nil {
			return "", "", err
		}
		if t.VMLinux == "" {
			return "", "", fmt.Errorf("kernel tree %s: no vmlinux, whose BTF the selftests are built against (make vmlinux, with CONFIG_DEBUG_INFO_BTF=y): %w", k.Tree, fs.ErrNotExist)
		}
		if !isDir(filepath.Join(t.Source, SelftestsDir)) {
			return "", "", fmt.Errorf("kernel tree %s: no %s (sched_ext selftests exist from Linux 6.12 on): %w", t.Source, SelftestsDir, fs.ErrNotExist)
		}
		return t.Source, t.VMLinux, nil
	}
	if k.Dir == "" {
		return "", "", fmt.Errorf("kernel %s: a kernel image alone has no source tree to build the selftests from; give a kernel tree (--kernel DIR) or a kernel of the cache: %w", k.Name, fs.ErrNotExist)
	}
	status := filepath.Join(cacheDir, "schedulers", filepath.Base(k.Dir), "status")
	pkg, ver, err := statusSource(status)
	if err != nil {
		return "", "", fmt.Errorf("source tree of kernel %q (`make schedulers` unpacks it): %w", k.Name, err)
	}
	src = filepath.Join(cacheDir, "src", pkg+"-"+safeName(ver))
	if !isFile(filepath.Join(src, ".complete")) || !isDir(filepath.Join(src, SelftestsDir)) {
		return "", "", fmt.Errorf("source tree of kernel %q: %s is not unpacked (run `make schedulers`): %w", k.Name, src, fs.ErrNotExist)
	}
	if k.VMLinux == "" {
		return "", "", fmt.Errorf("kernel %q: no vmlinux extracted in %s (run `make schedulers`): %w", k.Name, k.Dir, fs.ErrNotExist)
	}
	return src, k.VMLinux, nil
}

// statusSource reads the "source PACKAGE VERSION" line of a schedulers
// status file.
func statusSource(path string) (pkg, ver string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "source" {
			return fields[1], fields[2], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", fmt.Errorf("%s names no source tree: %w", path, fs.ErrNotExist)
}

// safeName maps a package version to the directory-name form the scripts
// use (kernel/lib.sh safe_name): characters other than letters, digits
// and .+_- become _.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".+_-", r):
			return r
		}
		return '_'
	}, s)
}

// CachedSelftests returns the runner built for a kernel of the cache
// without building it; an error wrapping fs.ErrNotExist when there is
// none. A kernel tree's runner is never cached: BuildSelftests runs make
// in the tree, which rebuilds what changed.
func CachedSelftests(cacheDir string, k *Kernel) (*Selftests, error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	if k.Dir == "" {
		return nil, fmt.Errorf("kernel %s: selftests are cached only for kernels of the cache: %w", k.Name, fs.ErrNotExist)
	}
	dir := selftestsCacheDir(cacheDir, k)
	if !isFile(filepath.Join(dir, ".complete")) {
		return nil, fmt.Errorf("sched_ext selftests for kernel %q: not built in %s (scxvm selftest --build-only --kernel %s): %w", k.Name, dir, k.Name, fs.ErrNotExist)
	}
	s := &Selftests{Runner: filepath.Join(dir, "runner"), Log: filepath.Join(dir, "build.log")}
	if b, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok {
				switch k {
				case "source":
					s.Source = v
				case "vmlinux":
					s.VMLinux = v
				}
			}
		}
	}
	return s, nil
}

func selftestsCacheDir(cacheDir string, k *Kernel) string {
	return filepath.Join(cacheDir, "selftests", filepath.Base(k.Dir))
}

// BuildSelftests returns the sched_ext selftests runner of kernel k,
// building it when needed: `make -C tools/testing/selftests/sched_ext` of
// k's source tree (SelftestsSource) with clang, against k's vmlinux BTF.
// The build makes its own libbpf and bpftool from the tree. For a kernel
// of the cache the result is kept under CacheDir/selftests/<kernel dir>/
// (runner, build.log, status) and the source tree is left untouched (the
// build's output goes to a temporary directory); a kernel tree's runner
// is built in the tree (in its build directory for a make O=DIR tree),
// where a kernel developer's own `make -C` would put it. A failed build
// is a *BuildError with make's last lines.
func BuildSelftests(ctx context.Context, k *Kernel, opt SelftestsOptions) (*Selftests, error) {
	if opt.CacheDir == "" {
		opt.CacheDir = DefaultCacheDir()
	}
	if k.Dir != "" && k.Tree == "" {
		if s, err := CachedSelftests(opt.CacheDir, k); err == nil {
			return s, nil
		}
	}
	src, vmlinux, err := SelftestsSource(opt.CacheDir, k)
	if err != nil {
		return nil, err
	}
	clang, err := findClang(opt.Clang)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("make"); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: make not found (apt-get install make): %w", err)
	}
	if k.Tree != "" {
		out := filepath.Join(k.Tree, SelftestsDir)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("build sched_ext selftests: %w", err)
		}
		s := &Selftests{Runner: filepath.Join(out, "runner"), Source: src, VMLinux: vmlinux, Log: filepath.Join(out, "scxvm-build.log")}
		t0 := time.Now()
		opt.say("building the sched_ext selftests of %s (make -C %s)", src, SelftestsDir)
		if err := makeSelftests(ctx, src, out, vmlinux, clang, opt.Jobs, s.Log); err != nil {
			return nil, err
		}
		s.Built, s.Took = true, time.Since(t0)
		return s, nil
	}

	root := filepath.Join(opt.CacheDir, "selftests")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: lock %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if s, err := CachedSelftests(opt.CacheDir, k); err == nil {
		return s, nil // built by another process meanwhile
	}
	work, err := os.MkdirTemp(root, ".tmp.")
	if err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	defer os.RemoveAll(work)
	t0 := time.Now()
	opt.say("building the sched_ext selftests for kernel %s from %s with %s (a few minutes)", k.Name, src, clang)
	log := filepath.Join(work, "build.log")
	if err := makeSelftests(ctx, src, filepath.Join(work, "out"), vmlinux, clang, opt.Jobs, log); err != nil {
		var be *BuildError
		if errors.As(err, &be) {
			// Keep the log where the error can name it.
			kept := filepath.Join(root, filepath.Base(k.Dir)+".build.log")
			if os.Rename(log, kept) == nil {
				be.Log = kept
			}
		}
		return nil, err
	}
	stage := filepath.Join(work, "stage")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	if err := os.Rename(filepath.Join(work, "out", "runner"), filepath.Join(stage, "runner")); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	if err := os.Rename(log, filepath.Join(stage, "build.log")); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	status := fmt.Sprintf("kernel %s\nsource %s\nvmlinux %s\nclang %s\ntook %s\n", k.Release, src, vmlinux, clang, time.Since(t0).Round(time.Second))
	if err := os.WriteFile(filepath.Join(stage, "status"), []byte(status), 0o644); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, ".complete"), nil, 0o644); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	dst := selftestsCacheDir(opt.CacheDir, k)
	if err := os.RemoveAll(dst); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	if err := os.Rename(stage, dst); err != nil {
		return nil, fmt.Errorf("build sched_ext selftests: %w", err)
	}
	os.Remove(filepath.Join(root, filepath.Base(k.Dir)+".build.log")) // a failed build's
	s, err := CachedSelftests(opt.CacheDir, k)
	if err != nil {
		return nil, err
	}
	s.Built, s.Took = true, time.Since(t0)
	opt.say("built the sched_ext selftests for kernel %s in %s: %s", k.Name, s.Took.Round(time.Second), s.Runner)
	return s, nil
}

// findClang returns the compiler to use.
func findClang(name string) (string, error) {
	if name != "" {
		if _, err := exec.LookPath(name); err != nil {
			return "", fmt.Errorf("build sched_ext selftests: %s not found: %w", name, err)
		}
		return name, nil
	}
	for _, c := range []string{"clang-19", "clang"} {
		if _, err := exec.LookPath(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("build sched_ext selftests: clang not found (the BPF programs need it: apt-get install clang-19, or `make deps`): %w", exec.ErrNotFound)
}

// makeSelftests runs the selftests' make with its output in out and
// make's output in log.
func makeSelftests(ctx context.Context, src, out, vmlinux, clang string, jobs int, log string) error {
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("build sched_ext selftests: %w", err)
	}
	lf, err := os.Create(log)
	if err != nil {
		return fmt.Errorf("build sched_ext selftests: %w", err)
	}
	defer lf.Close()
	argv := []string{"make", "-C", filepath.Join(src, SelftestsDir), fmt.Sprintf("-j%d", jobs),
		"OUTPUT=" + out,
		"CC=" + clang + " -Wno-unused-command-line-argument", "CLANG=" + clang,
		"VMLINUX_BTF=" + vmlinux}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	step := strings.Join(argv[:3], " ") + " (sched_ext selftests)"
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("build sched_ext selftests: %w", ctx.Err())
		}
		return &BuildError{Step: step, Err: err, Tail: logTail(log, 30), Log: log}
	}
	if !isFile(filepath.Join(out, "runner")) {
		return &BuildError{Step: step, Err: errors.New("make built no runner"), Tail: logTail(log, 30), Log: log}
	}
	return nil
}

// logTail returns the last n lines of a file.
func logTail(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
