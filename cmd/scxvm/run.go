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
	"slices"
	"strings"
	"text/tabwriter"
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
  scxvm exec [flags] -- CMD [ARG ...]     boot, run CMD in the guest as the test
  scxvm scenarios [flags] [NAME]          list built-in scenarios and thresholds, or print one as YAML
  scxvm kernel check PATH                 can this kernel image run sched_ext?
  scxvm kernel fetch [NAME]               download Debian's kernel NAME (debian, stock-6.12)
  scxvm kernel list                       the cached kernels and where they came from
  scxvm kernel build [DIR]                configure and build a kernel tree for scxvm
  scxvm shell [flags]                     interactive shell in the guest, under the scheduler
  scxvm selftest [flags] [-t FILTER]      build and run the kernel's sched_ext selftests, one test case each
  scxvm matrix [flags] [MATRIX.yaml]      kernels x schedulers x scenarios x topologies, sharded for CI
  scxvm report [flags] RESULT.json        HTML report and Perfetto trace of a --json result
  scxvm report merge [flags] SHARD.json...  merge the shards of a matrix run
  scxvm compare [flags] OLD.json NEW.json  compare two --json results; exit 1 on a regression
  scxvm bench [flags]                     benchmark table (what make bench prints)
  scxvm cache du|prune [flags]            the cache's size bound: usage, or free room
  scxvm help                              this text

Examples:
  scxvm run                                       # Debian 7.3 kernel, built-in fifo, "steady"
  scxvm run --kernel 6.12 --scheduler scx_simple steady pingpong
  scxvm run --kernel arch/x86/boot/bzImage --scheduler ./scx_mine --sched-arg=-v
  scxvm run --compare none --json out.json mixed  # also run under EEVDF, print both side by side
  scxvm run --scheduler scx_simple --compare fifo --repeat 3 --json new.json
  scxvm compare old.json new.json                 # exit 1 when new.json regressed
  scxvm run --scheduler ./scx_mine --check p99_wake_latency=20ms --check rate_dip=off steady mixed
  scxvm run --html out.html --trace out.trace.json steady pingpong
  scxvm exec --scheduler scx_simple -- ./runner -t foo  # ./runner's exit status is the verdict
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
		return runCmd(ctx, rest, stdout, stderr, false)
	case "exec":
		return runCmd(ctx, rest, stdout, stderr, true)
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
	case "selftest":
		return selftestCmd(ctx, rest, stdout, stderr) // selftest.go
	case "bench":
		return benchCmd(ctx, rest, stdout, stderr) // bench.go
	case "matrix":
		return matrixCmd(ctx, rest, stdout, stderr) // matrix.go
	case "report":
		if len(rest) > 0 && rest[0] == "merge" {
			return reportMergeCmd(rest[1:], stdout, stderr) // matrix.go
		}
		return reportCmd(rest, stdout, stderr) // report.go
	case "compare":
		return compareCmd(rest, stdout, stderr) // compare.go
	case "cache":
		return cacheCmd(rest, stdout, stderr) // cache.go
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, helpText)
		return nil
	default:
		return usagef("unknown command %q (commands: run, exec, scenarios, kernel check|fetch|list|build, shell, selftest, matrix, report [merge], compare, bench, cache, help)", cmd)
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
	schedArgs, kernelArgs, files, shares                          listFlag
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
	fs.Var(&v.shares, "share", "share a host directory into the guest (virtio-9p), `HOST_DIR[=GUEST_DIR][:rw]`: read-only unless :rw, mounted at GUEST_DIR (default: the same absolute path); symlinks in it resolve inside the guest, never to host files outside it (repeatable)")
	fs.StringVar(&v.cache, "cache", "", "cache directory (default $SCXVM_CACHE_DIR, $XDG_CACHE_HOME/scxvm, ~/.cache/scxvm)")
	fs.StringVar(&v.console, "console", "", "write the serial console log to `FILE` (default: a temp file, kept and named in the summary only when the run fails)")
	fs.StringVar(&v.boot, "boot", "auto", "kernel boot: auto (PVH when the kernel has a PVH entry point, else the bzImage), pvh, or image (the bzImage as given)")
	fs.Var(&v.cacheMax, "cache-max", "bound of the cache's images, extracted kernels and snapshots, a `SIZE` such as 500M (default $SCXVM_CACHE_MAX, else 2G)")
	fs.DurationVar(&v.bootTimeout, "boot-timeout", 60*time.Second, "limit from QEMU start to the agent's hello")
	fs.DurationVar(&v.timeout, "timeout", 0, "hard limit for the whole VM (default: boot timeout + scenario timeouts + 30s); with a command (scxvm exec), the command's limit (default 10m), the VM's growing with it")
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
		if prev, ok := cfg.ExtraFiles[guest]; ok {
			return cfg, usagef("--file: guest file %s given twice (=%s and =%s)", guest, prev, host)
		}
		cfg.ExtraFiles[guest] = host
	}
	for _, a := range v.shares {
		sh, err := spec.ParseShare(a)
		if err != nil {
			return cfg, usagef("--share: %v", err)
		}
		cfg.Shares = append(cfg.Shares, sh)
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

// runCmd is `scxvm run` and, with execMode, `scxvm exec`: the same flags;
// exec runs the command after the flags (or after "--") as the test,
// run runs scenarios and, after a "--", a command too.
func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer, execMode bool) error {
	name := "run"
	if execMode {
		name = "exec"
	}
	fs := flag.NewFlagSet("scxvm "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		vf        vmFlags
		scenarios listFlag
		compare   string
		cmpArgs   listFlag
		repeat    int
		restart   bool
		cold      bool
		jsonOut   string
		out       outputFlags
		verbose   bool
		collects  listFlag
		prefix    string
		checks    checkFlags
		cmpChecks = checkFlags{name: "compare-check"}
	)
	vf.register(fs)
	checks.register(fs, "of the --scheduler (not of --compare's)")
	cmpChecks.register(fs, "of the --compare scheduler, as --check is of the --scheduler")
	fs.Var(&scenarios, "scenario", "scenario `NAME` or YAML/JSON FILE (repeatable; also positional)")
	fs.StringVar(&compare, "compare", "", "also run each scenario under this `SCHEDULER` in the same boot (none = EEVDF, fifo, scx_NAME, a PATH) and print both side by side")
	fs.Var(&cmpArgs, "compare-arg", "argument for the --compare scheduler binary (repeatable)")
	fs.IntVar(&repeat, "repeat", 0, fmt.Sprintf("run each scenario `N` times in the one boot (up to %d); the result holds medians and spread", vmtest.MaxRepeat))
	fs.BoolVar(&restart, "restart-scheduler", false, "restart the scheduler before every scenario")
	fs.BoolVar(&cold, "cold", false, "boot cold: neither restore the machine's snapshot nor save one (default: warm start from the cache's snapshot, saved by the first run)")
	fs.StringVar(&jsonOut, "json", "", "write the full result as JSON to `FILE`")
	fs.StringVar(&out.html, "html", "", "write a self-contained HTML report with charts to `FILE`")
	fs.StringVar(&out.trace, "trace", "", "write the timeline as Chrome trace-event JSON (Perfetto UI, chrome://tracing) to `FILE`")
	fs.StringVar(&prefix, "output", "", "save each payload's and the command's whole output to `PREFIX`SCENARIO.PAYLOAD.log (\"dir/\" writes into dir; default with --json FILE: FILE without .json, then \".\")")
	fs.Var(&collects, "collect", "copy guest directory GUEST_DIR to host directory HOST_DIR after the run, `GUEST_DIR=HOST_DIR` (repeatable)")
	fs.BoolVar(&verbose, "v", false, "verbose: log accel/transport choices and the kernel log")
	fs.Usage = func() {
		if execMode {
			fmt.Fprint(fs.Output(), execUsage)
		} else {
			fmt.Fprint(fs.Output(), runUsage)
		}
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nScenario files: the fields of `scxvm scenarios steady`, and these:\n%s", spec.PayloadFieldsHelp)
	}
	var command []string
	if !execMode {
		if i := slices.Index(args, "--"); i >= 0 {
			args, command = args[:i], args[i+1:]
			if len(command) == 0 {
				return usagef("scxvm run: no command after --")
			}
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if execMode {
		command = fs.Args()
		if len(command) == 0 {
			return usagef("usage: scxvm exec [flags] -- CMD [ARG ...]: no command given")
		}
	} else {
		scenarios = append(scenarios, fs.Args()...)
	}
	schedChecks, err := checks.resolve()
	if err != nil {
		return err
	}
	compareChecks, err := cmpChecks.resolve()
	if err != nil {
		return err
	}
	cfg, err := vf.configFromFlags(fs, stderr) // tree.go
	if err != nil {
		return err
	}
	// With a command, scxvm's own lines go to stderr and the command's
	// output to stdout, as it comes.
	info := stdout
	if len(command) > 0 {
		info = stderr
	}
	// --check is the layer of the scheduler under test, --compare-check
	// the --compare scheduler's, so that thresholds tightened for one
	// scheduler do not fail the other.
	cfg.Scheduler.Checks = schedChecks
	cfg.Compare, cfg.CompareArgs, cfg.CompareChecks, cfg.Repeat = compare, cmpArgs, compareChecks, repeat
	cfg.RestartScheduler = restart
	cfg.Cold = cold
	if len(scenarios) > 0 {
		ss, err := vmtest.ResolveScenarios(scenarios)
		if err != nil {
			return err
		}
		cfg.Scenarios = ss
	}
	if len(command) > 0 {
		// --timeout is the command's limit; the VM's grows with it.
		cfg.Exec, cfg.ExecTimeout, cfg.Timeout = command, vf.timeout, 0
	}
	for _, c := range collects {
		guest, host, ok := strings.Cut(c, "=")
		if !ok || guest == "" || host == "" {
			return usagef("--collect %q: want GUEST_DIR=HOST_DIR", c)
		}
		cfg.Collect = append(cfg.Collect, vmtest.Collect{Guest: guest, Host: host})
	}
	cfg.OutputPrefix = prefix
	if prefix == "" && jsonOut != "" {
		cfg.OutputPrefix = strings.TrimSuffix(jsonOut, ".json") + "."
	}
	p := newPrinter(info, verbose)
	if len(command) > 0 {
		p.out, p.quiet = stdout, true
	}
	cfg.Progress = p.event
	if checks.given() {
		fmt.Fprintf(info, "thresholds of %s: %s, over the defaults and under each scenario's own checks\n", cfg.Scheduler, checks.String())
	}
	if verbose {
		cfg.Logf = p.logf
		p.logf("%s", vf.agentNote)
	}
	res, err := vmtest.Run(ctx, cfg)
	p.finish()
	if res != nil && (len(res.Scenarios) > 0 || res.Failure != nil) {
		printSummary(info, res)
	}
	if res != nil && jsonOut != "" {
		if werr := res.WriteJSON(jsonOut); werr != nil {
			fmt.Fprintf(stderr, "scxvm: %v\n", werr)
		} else if len(command) > 0 {
			fmt.Fprintf(info, "result: %s\n", jsonOut)
		}
	}
	if res != nil {
		if werr := out.write(res, info); werr != nil {
			fmt.Fprintf(stderr, "scxvm: %v\n", werr)
		}
	}
	return err
}

const runUsage = `usage: scxvm run [flags] [SCENARIO|FILE ...] [-- CMD [ARG ...]]

Boots the kernel, attaches the scheduler and runs the scenarios; after
"--", CMD runs last as in scxvm exec.
`

const execUsage = `usage: scxvm exec [flags] -- CMD [ARG ...]

Boots the kernel, attaches the scheduler (--scheduler none: the kernel's
own), runs CMD in the guest as the test and streams its output here (its
stdout and stderr, combined, to stdout; scxvm's own lines to stderr). The
verdict includes CMD's exit status: CMD exiting non-zero fails the run
(exit 1) beside the scheduler and kernel checks (ejection, stall, panic).
CMD is a path in the guest (put files there with --file), or a host
executable (a path, or a name on $PATH), which is copied into the guest at
the same path with its shared libraries. --timeout bounds CMD (default
10m): at the limit it is killed and the run fails as timed out, with its
output so far. --output or --json saves its whole output in a file,
--collect copies a guest directory out afterwards.
`

// scenariosCmd is `scxvm scenarios [--scheduler S] [--check ...] [NAME]`:
// the catalogue and the thresholds, or one scenario as YAML; with
// --scheduler, --check or --checks, the thresholds the scenarios are
// judged by under that scheduler layer.
func scenariosCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm scenarios", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sched  string
		checks checkFlags
	)
	fs.StringVar(&sched, "scheduler", "", "show the thresholds under this `SCHEDULER`'s built-in layer (as scxvm run --scheduler)")
	checks.register(fs, "of the scheduler layer to show, as scxvm run takes it")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: scxvm scenarios [flags] [NAME]\n\nLists the built-in scenarios and the checks' thresholds, or prints NAME as\nYAML (a template for custom files). With --scheduler, --check or --checks,\nalso the thresholds in effect under that scheduler layer (for NAME: with\nthe scenario's own checks over it).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(names) > 1 {
		return usagef("usage: scxvm scenarios [flags] [NAME]")
	}
	effective := sched != "" || checks.given()
	judged := spec.ParseScheduler(sched, nil)
	if judged.Checks, err = checks.resolve(); err != nil {
		return err
	}
	layerName := judged.BaseName()
	if checks.given() {
		layerName += " with the --check flags"
	}
	if len(names) == 1 {
		s, err := vmtest.LookupScenario(names[0])
		if err != nil {
			return err
		}
		data, err := yaml.Marshal(s)
		if err != nil {
			return fmt.Errorf("print scenario: %w", err)
		}
		// The optional fields the scenario does not use, as comments:
		// the output stays a valid scenario file.
		data = append(data, spec.PayloadFieldsHelp...)
		if _, err := stdout.Write(data); err != nil {
			return err
		}
		if effective {
			var b strings.Builder
			printEffective(&b, fmt.Sprintf("Thresholds of %s under %s (defaults, scheduler layer, the scenario's checks):", s.Name, layerName), judged, s.Checks)
			_, err = io.WriteString(stdout, commentLines(b.String()))
		}
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
	resolved := spec.Checks{}.Resolve(judged)
	var eff []spec.CheckDoc
	if effective {
		eff = resolved.Describe()
	}
	printCheckDocs(stdout, eff)
	if effective {
		fmt.Fprintf(stdout, "EFFECTIVE: under %s; a scenario's own checks still win (`scxvm scenarios NAME` with these flags shows its thresholds).\n", layerName)
		if skipped := skippedOthers(resolved); len(skipped) > 0 {
			fmt.Fprintf(stdout, "EFFECTIVE also skips: %s\n", strings.Join(skipped, ", "))
		}
	}
	return nil
}

// commentLines turns text into YAML comment lines.
func commentLines(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	return b.String()
}

// printCheckDocs lists the checks' thresholds, their defaults and the
// schedulers with a layer of their own (see spec.Checks.Resolve); with
// eff (spec.Checks.Describe of a resolved layer), its values as a column.
func printCheckDocs(w io.Writer, eff []spec.CheckDoc) {
	fmt.Fprintln(w, "\nThresholds (a scenario's `checks:`; default -> scheduler (--check) -> scenario, a zero value inherits, `skip: [CHECK]` turns one off):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	effCol := func(i int) string {
		if eff == nil {
			return ""
		}
		if i < 0 {
			return "EFFECTIVE\t"
		}
		return eff[i].Default + "\t"
	}
	fmt.Fprintf(tw, "  CHECK\tKEY\tDEFAULT\t%sFAILS WHEN ABOVE/BELOW\n", effCol(-1))
	for i, d := range spec.CheckDocs() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s%s\n", d.Check, d.Field, d.Default, effCol(i), d.Doc)
	}
	tw.Flush()
	for _, name := range spec.SchedulerCheckNames {
		c := spec.SchedulerChecks(name)
		fmt.Fprintf(w, "scheduler %s: skips %s\n", name, strings.Join(c.Skip, ", "))
	}
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
