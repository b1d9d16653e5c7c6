package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

const helpText = `scxvm boots a kernel in QEMU, attaches a sched_ext scheduler and runs
workload scenarios against it; the host judges the workers' reports.

Usage:
  scxvm run [flags] [SCENARIO|FILE ...]   boot, run scenarios, print a verdict
  scxvm scenarios [NAME]                  list built-in scenarios, or print one as YAML
  scxvm kernel check PATH                 can this kernel image run sched_ext?
  scxvm kernel fetch [NAME]               download Debian's kernel NAME (debian, stock-6.12)
  scxvm kernel list                       the cached kernels and where they came from
  scxvm kernel build [DIR]                configure and build a kernel tree for scxvm
  scxvm shell [flags]                     interactive shell in the guest (serial console)
  scxvm report [flags] RESULT.json        HTML report and Perfetto trace of a --json result
  scxvm bench [flags]                     benchmark table (what make bench prints)
  scxvm cache du|prune [flags]            the cache's size bound: usage, or free room
  scxvm help                              this text

Examples:
  scxvm run                                       # Debian 7.3 kernel, built-in fifo, "steady"
  scxvm run --kernel 6.12 --scheduler scx_simple steady pingpong
  scxvm run --kernel arch/x86/boot/bzImage --scheduler ./scx_mine --sched-arg=-v
  scxvm run --compare none --json out.json mixed  # also run under EEVDF, print ratios
  scxvm run --html out.html --trace out.trace.json steady pingpong
  git bisect run scxvm run --kernel arch/x86/boot/bzImage --scheduler scx_simple

Kernels (--kernel): "debian" (Debian's 7.3, fetched on first use, or with
` + "`scxvm kernel fetch`" + `), "6.12" (` + "`make kernel-build`" + ` in scxvm's repository),
the path of a bzImage/vmlinuz/vmlinux, or a built kernel tree DIR (its
arch/x86/boot/bzImage, .config and vmlinux; ` + "`scxvm kernel build DIR`" + ` builds
one). Without --kernel: the kernel tree the current directory is in, else
"debian".

Schedulers (--scheduler): "fifo" (default, built in: global FIFO), "stall" and
"error" (built-in fault fixtures the kernel ejects), "starve" (built-in fault
fixture that starves kernel threads; the stall watch catches it), "none" (the kernel's own
EEVDF), an example scheduler built by ` + "`make schedulers`" + ` for the kernel
("scx_simple", "scx_qmap", ...; for a kernel tree, the ones in its
tools/sched_ext/build/bin), or the path of a scheduler binary (copied
into the guest with its shared libraries; --sched-arg passes arguments).

Scenarios: names from ` + "`scxvm scenarios`" + ` or YAML/JSON files with the same
fields (` + "`scxvm scenarios steady`" + ` prints one as a template). Several scenarios
run in one boot.

Exit codes (for git bisect run and CI): 0, 1 and 125 are verdicts on the
kernel and scheduler under test; every other outcome exits with 128 or
more, which stops a bisect instead of blaming the commit.
  0    every scenario passed                                   (bisect: good)
  1    a check failed, or the scheduler or kernel misbehaved   (bisect: bad)
       (load failure, ejection, worker crash, panic, guest hang)
  125  the kernel cannot be tested: its config or BTF shows    (bisect: skip)
       no sched_ext, or scxvm kernel build could not build it
  From 128 up, bisect stops:
  128  internal error in scxvm
  129  infrastructure error (QEMU missing, kernel not in the cache,
       image build failed)
  130  interrupted (Ctrl-C, SIGTERM)
  131  usage error (bad flag, unknown scenario or scheduler, invalid
       scenario file)
  132  the kernel file is not a usable kernel image (no Linux kernel, or
       a truncated or corrupt one)

Environment:
  SCXVM_CACHE_DIR  cache root (default $XDG_CACHE_HOME/scxvm or ~/.cache/scxvm)
  SCXVM_CACHE_MAX  bound of the cache's images, extracted kernels, snapshots (default
                   2G), least recently used removed first; --cache-max overrides
  SCXVM_AGENT      static binary to use as guest init (default: scxvm-agent
                   next to this binary, else this binary itself)

Without KVM the guest runs under TCG (slower, still correct); without
/dev/vhost-vsock the transport is virtio-serial. The result says which.
Run "scxvm run -h" for the flags.
`

// run is the CLI: it parses args and runs a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, helpText)
		return usagef("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return runCmd(ctx, rest, stdout, stderr)
	case "scenarios":
		return scenariosCmd(rest, stdout, stderr)
	case "kernel":
		if len(rest) > 0 && rest[0] == "fetch" {
			return kernelFetchCmd(ctx, rest[1:], stdout, stderr)
		}
		if len(rest) > 0 && rest[0] == "list" {
			return kernelListCmd(rest[1:], stdout, stderr)
		}
		if len(rest) > 0 && rest[0] == "build" {
			return kernelBuildCmd(ctx, rest[1:], stdout, stderr) // kernelbuild.go
		}
		return kernelCmd(rest, stdout, stderr)
	case "shell":
		return shellCmd(ctx, rest, stdout, stderr)
	case "bench":
		return benchCmd(ctx, rest, stdout, stderr) // bench.go
	case "report":
		return reportCmd(rest, stdout, stderr) // report.go
	case "cache":
		return cacheCmd(rest, stdout, stderr) // cache.go
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, helpText)
		return nil
	default:
		return usagef("unknown command %q (commands: run, scenarios, kernel check|fetch|list|build, shell, report, bench, cache, help)", cmd)
	}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// vmFlags are the flags run and shell share.
type vmFlags struct {
	kernel, scheduler, topology, accel, transport, cache, console string
	boot                                                          string
	cacheMax                                                      sizeFlag
	schedArgs, kernelArgs, files                                  listFlag
	cpus, memory                                                  int
	bootTimeout, timeout                                          time.Duration

	// agentNote says which agent config chose, for -v.
	agentNote string
}

func (v *vmFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&v.kernel, "kernel", "debian", "kernel: `NAME` (debian, 6.12), PATH of a bzImage/vmlinux, or a built kernel tree DIR (default: the tree the current directory is in, else debian)")
	fs.StringVar(&v.scheduler, "scheduler", spec.SchedulerFIFO, "scheduler: fifo, stall, error, starve, none, scx_NAME from the cache, or a PATH")
	fs.Var(&v.schedArgs, "sched-arg", "argument for the scheduler binary (repeatable)")
	fs.StringVar(&v.topology, "topology", "1n1l2c1t", "guest topology: NUMA nodes, LLCs per node, cores per LLC, threads per core")
	fs.IntVar(&v.cpus, "cpus", 0, "shorthand for --topology 1n1lNc1t")
	fs.IntVar(&v.memory, "memory", 0, "guest memory in MB (default 1024)")
	fs.StringVar(&v.accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	fs.StringVar(&v.transport, "transport", "auto", "host-guest channel: auto, vsock or virtio-serial")
	fs.Var(&v.kernelArgs, "kernel-arg", "extra kernel command-line argument (repeatable)")
	fs.Var(&v.files, "file", "extra file for the guest, `GUEST=HOST` (repeatable)")
	fs.StringVar(&v.cache, "cache", "", "cache directory (default $SCXVM_CACHE_DIR, $XDG_CACHE_HOME/scxvm, ~/.cache/scxvm)")
	fs.StringVar(&v.console, "console", "", "write the serial console log to `FILE` (default: a temp file, kept and named in the summary only when the run fails)")
	fs.StringVar(&v.boot, "boot", "auto", "kernel boot: auto (PVH when the kernel has a PVH entry point, else the bzImage), pvh, or image (the bzImage as given)")
	fs.Var(&v.cacheMax, "cache-max", "bound of the cache's images, extracted kernels and snapshots, a `SIZE` such as 500M (default $SCXVM_CACHE_MAX, else 2G)")
	fs.DurationVar(&v.bootTimeout, "boot-timeout", 60*time.Second, "limit from QEMU start to the agent's hello")
	fs.DurationVar(&v.timeout, "timeout", 0, "hard limit for the whole VM (default: boot timeout + scenario timeouts + 30s)")
}

// config turns the flags into a vmtest.Config.
func (v *vmFlags) config() (vmtest.Config, error) {
	cfg := vmtest.Config{
		Kernel:      v.kernel,
		Scheduler:   spec.ParseScheduler(v.scheduler, v.schedArgs),
		MemoryMB:    v.memory,
		Accel:       v.accel,
		Transport:   v.transport,
		KernelArgs:  v.kernelArgs,
		CacheDir:    v.cache,
		ConsoleLog:  v.console,
		Boot:        v.boot,
		CacheMax:    int64(v.cacheMax),
		BootTimeout: v.bootTimeout,
		Timeout:     v.timeout,
	}
	topo, err := spec.ParseTopology(v.topology)
	if err != nil {
		return cfg, usagef("--topology: %v", err)
	}
	if v.cpus > 0 {
		topo = spec.Topology{NUMANodes: 1, LLCs: 1, CoresPerLLC: v.cpus, ThreadsPerCore: 1}
	}
	cfg.Topology = topo
	if _, _, err := cacheBound(v.cacheMax); err != nil {
		return cfg, err
	}
	for _, f := range v.files {
		guest, host, ok := strings.Cut(f, "=")
		if !ok || guest == "" || host == "" {
			return cfg, usagef("--file %q: want GUEST=HOST", f)
		}
		if cfg.ExtraFiles == nil {
			cfg.ExtraFiles = map[string]string{}
		}
		cfg.ExtraFiles[guest] = host
	}
	agent, note, err := findAgent()
	if err != nil {
		return cfg, err
	}
	cfg.Agent, v.agentNote = agent, note
	return cfg, nil
}

// agentName is the guest agent binary that scxvm looks for next to itself.
const agentName = "scxvm-agent"

// findAgent returns the binary to boot as the guest's /init:
// $SCXVM_AGENT, else scxvm-agent in this executable's directory (make
// build puts both in bin/, go install both in GOBIN), else scxvm-agent
// on $PATH; else "", and vmtest says how to get one. The note says which
// one and why, for -v.
func findAgent() (path, note string, err error) {
	if a := os.Getenv("SCXVM_AGENT"); a != "" {
		return a, "agent " + a + " ($SCXVM_AGENT)", nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", "", &vmtest.InfraError{Op: "find own executable", Err: err}
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	beside := filepath.Join(filepath.Dir(exe), agentName)
	if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() {
		return beside, "agent " + beside, nil
	}
	if p, err := exec.LookPath(agentName); err == nil {
		return p, "agent " + p + " (from $PATH)", nil
	}
	// vmtest.Run reports the missing agent, after it has checked the
	// rest of the configuration: a usage error comes first.
	return "", fmt.Sprintf("no %s next to %s nor on $PATH", agentName, exe), nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		vf        vmFlags
		scenarios listFlag
		compare   string
		restart   bool
		cold      bool
		jsonOut   string
		out       outputFlags
		verbose   bool
	)
	vf.register(fs)
	fs.Var(&scenarios, "scenario", "scenario `NAME` or YAML/JSON FILE (repeatable; also positional)")
	fs.StringVar(&compare, "compare", "", `"none": rerun each scenario under EEVDF in the same boot and print ratios`)
	fs.BoolVar(&restart, "restart-scheduler", false, "restart the scheduler before every scenario")
	fs.BoolVar(&cold, "cold", false, "boot cold: neither restore the machine's snapshot nor save one (default: warm start from the cache's snapshot, saved by the first run)")
	fs.StringVar(&jsonOut, "json", "", "write the full result as JSON to `FILE`")
	fs.StringVar(&out.html, "html", "", "write a self-contained HTML report with charts to `FILE`")
	fs.StringVar(&out.trace, "trace", "", "write the timeline as Chrome trace-event JSON (Perfetto UI, chrome://tracing) to `FILE`")
	fs.BoolVar(&verbose, "v", false, "verbose: log accel/transport choices and the kernel log")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: scxvm run [flags] [SCENARIO|FILE ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	scenarios = append(scenarios, fs.Args()...)
	treeNote, err := vf.kernelFromTree(fs) // tree.go
	if err != nil {
		return err
	}
	if treeNote != "" {
		fmt.Fprintf(stderr, "scxvm: %s\n", treeNote)
	}
	cfg, err := vf.config()
	if err != nil {
		return err
	}
	cfg.Compare = compare
	cfg.RestartScheduler = restart
	cfg.Cold = cold
	if len(scenarios) > 0 {
		ss, err := vmtest.ResolveScenarios(scenarios)
		if err != nil {
			return err
		}
		cfg.Scenarios = ss
	}
	p := newPrinter(stdout, verbose)
	cfg.Progress = p.event
	if verbose {
		cfg.Logf = p.logf
		p.logf("%s", vf.agentNote)
	}
	res, err := vmtest.Run(ctx, cfg)
	p.finish()
	if res != nil && (len(res.Scenarios) > 0 || res.Failure != nil) {
		printSummary(stdout, res)
	}
	if res != nil && jsonOut != "" {
		if werr := res.WriteJSON(jsonOut); werr != nil {
			fmt.Fprintf(stderr, "scxvm: %v\n", werr)
		}
	}
	if res != nil {
		if werr := out.write(res, stdout); werr != nil {
			fmt.Fprintf(stderr, "scxvm: %v\n", werr)
		}
	}
	return err
}

func scenariosCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		return usagef("usage: scxvm scenarios [NAME]")
	}
	if len(args) == 1 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprintln(stdout, "usage: scxvm scenarios [NAME]: list the built-in scenarios, or print NAME as YAML (a template for custom files)")
			return nil
		}
		s, err := vmtest.LookupScenario(args[0])
		if err != nil {
			return err
		}
		data, err := yaml.Marshal(s)
		if err != nil {
			return fmt.Errorf("print scenario: %w", err)
		}
		_, err = stdout.Write(data)
		return err
	}
	ss := vmtest.Scenarios()
	w := 0
	for _, s := range ss {
		w = max(w, len(s.Name))
	}
	for _, s := range ss {
		fmt.Fprintf(stdout, "%-*s  %4.1fs  %s\n", w, s.Name, s.Duration.Seconds(), s.Description)
	}
	fmt.Fprintf(stdout, "\n%q runs by default; `scxvm scenarios NAME` prints one as YAML.\n", vmtest.DefaultScenario)
	return nil
}

func kernelCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		return usagef("usage: scxvm kernel check PATH|NAME|TREE")
	}
	path := args[1]
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		t, err := kernel.OpenTree(path) // a kernel tree: its image and .config
		if err != nil {
			return &vmtest.InfraError{Op: "find kernel", Err: err}
		}
		path = t.Image
	}
	if !strings.ContainsRune(path, filepath.Separator) {
		if _, err := os.Stat(path); err != nil {
			k, err := kernel.Lookup(kernel.DefaultCacheDir(), path)
			if err != nil {
				return &vmtest.InfraError{Op: "find kernel", Err: err}
			}
			path = k.Image
		}
	}
	if err := kernel.Check(stdout, path); err != nil {
		if errors.Is(err, kernel.ErrNotSupported) {
			return err
		}
		return &vmtest.InfraError{Op: "inspect kernel", Err: err}
	}
	return nil
}

func shellCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm shell", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var vf vmFlags
	vf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: scxvm shell [flags]\n\nBoots the kernel with a debug image (u-root tools and a shell) and attaches\nthe serial console to this terminal. Power off with `poweroff` or Ctrl-A X.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("scxvm shell takes no arguments, got %q", fs.Args())
	}
	if _, err := vf.kernelFromTree(fs); err != nil {
		return err
	}
	cfg, err := vf.config()
	if err != nil {
		return err
	}
	if vf.scheduler == spec.SchedulerFIFO {
		cfg.Scheduler = spec.Scheduler{Name: spec.SchedulerNone}
	}
	return vmtest.Shell(ctx, cfg, os.Stdin, stdout)
}
