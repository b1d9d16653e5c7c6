package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/kselftest"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/selftest"
)

const selftestUsage = `usage: scxvm selftest [flags] [-t FILTER]

Builds the kernel's own sched_ext selftests runner
(tools/testing/selftests/sched_ext) against the kernel's source tree and
BTF, boots the kernel with its default scheduler and runs each selftest
in the guest, one runner execution per test (runner -t NAME) with its own
timeout. Prints each test's result as it ends, then a table; exits 1 when
any test failed.

Kernels: a kernel of the cache ("debian", "6.12"; their source trees and
vmlinux come from ` + "`make schedulers`" + ` in scxvm's repository, the runner is
cached under selftests/ in the cache) or a built kernel tree DIR (its
source, its vmlinux; the runner is built in the tree with make). Without
--kernel: the kernel tree the current directory is in, else debian.

The guest has 4 cpus unless --cpus/--topology say otherwise, and
nohz_full=<last cpu> on the command line when the kernel has
CONFIG_NO_HZ_FULL (for the nohz_tick test).
`

func selftestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		vf          vmFlags
		filter      string
		tests       listFlag
		testTimeout time.Duration
		jsonOut     string
		buildOnly   bool
		list        bool
		verbose     bool
		clang       string
	)
	vf.register(fs)
	fs.StringVar(&filter, "t", "", "run only the tests whose name contains `FILTER` (the runner's -t)")
	fs.Var(&tests, "test", "run the test of exactly this `NAME` (repeatable; instead of -t)")
	fs.DurationVar(&testTimeout, "test-timeout", selftest.DefaultTestTimeout, "limit of each test's run in the guest")
	fs.StringVar(&jsonOut, "json", "", "write the result (every test, its output, the guest run) as JSON to `FILE`")
	fs.BoolVar(&buildOnly, "build-only", false, "build (or find in the cache) the runner, print its path, boot nothing")
	fs.BoolVar(&list, "list", false, "print the runner's tests, boot nothing")
	fs.StringVar(&clang, "clang", "", "compiler for the runner's build (default clang-19, else clang)")
	fs.BoolVar(&verbose, "v", false, "verbose: the guest's progress and the kernel log")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), selftestUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("scxvm selftest takes no arguments, got %q (select tests with -t FILTER or --test NAME)", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["scheduler"] || set["sched-arg"] {
		return usagef("--scheduler: the selftests load their own schedulers; scxvm selftest runs under the kernel's default")
	}
	if filter != "" && len(tests) > 0 {
		return usagef("-t and --test: give one of them")
	}
	cfg, err := vf.configFromFlags(fs, stderr)
	if err != nil {
		return err
	}
	if !set["topology"] && !set["cpus"] {
		cfg.Topology = spec.Topology{}
	}
	p := newPrinter(stdout, verbose)
	cfg.Progress = func(e vmtest.Event) {
		// The boot shows; the runner executions show as test results.
		if verbose || e.Kind == vmtest.EventBuilt || e.Kind == vmtest.EventHello || e.Kind == vmtest.EventFetch {
			p.event(e)
		}
	}
	if verbose {
		cfg.Logf = p.logf
	}
	sc := selftest.Config{
		VM: cfg, Filter: filter, Tests: tests, TestTimeout: testTimeout,
		Build: kernel.SelftestsOptions{Clang: clang, Progress: func(s string) { fmt.Fprintf(stderr, "scxvm: %s\n", s) }},
	}
	if buildOnly || list {
		_, st, err := selftest.Runner(ctx, sc)
		if err != nil {
			return err
		}
		if buildOnly {
			fmt.Fprintln(stdout, st.Runner)
			return nil
		}
		names, err := selftest.List(ctx, st.Runner)
		if err != nil {
			return &vmtest.InfraError{Op: "list sched_ext selftests", Err: err}
		}
		fmt.Fprintln(stdout, strings.Join(names, "\n"))
		return nil
	}
	start := time.Now()
	sc.Progress = func(t selftest.TestResult) {
		p.mu.Lock()
		defer p.mu.Unlock()
		line := fmt.Sprintf("%6.1fs %-6s %s (%.1fs)", time.Since(start).Seconds(), resultWord(t.Status), t.Name, t.Duration.Seconds())
		if t.Status != kselftest.Pass && t.Reason != "" {
			line += ": " + t.Reason
		}
		p.line("%s", line)
	}
	res, err := selftest.Run(ctx, sc)
	p.finish()
	if res != nil {
		printSelftests(stdout, res)
		if jsonOut != "" {
			if werr := res.WriteJSON(jsonOut); werr != nil {
				fmt.Fprintf(stderr, "scxvm: %v\n", werr)
			}
		}
	}
	return err
}

func resultWord(s kselftest.Status) string {
	switch s {
	case kselftest.Pass:
		return "ok"
	case kselftest.Skip:
		return "SKIP"
	}
	return "FAIL"
}

// printSelftests prints the table of a selftests run and the output of
// each failed test.
func printSelftests(w io.Writer, res *selftest.Result) {
	fmt.Fprintf(w, "\nkernel %s (%s), runner %s", res.Kernel, orDash(res.Release), res.Runner)
	if res.Build > 0 {
		fmt.Fprintf(w, " (built in %s)", res.Build.Round(time.Second))
	}
	if vm := res.VM; vm != nil {
		fmt.Fprintf(w, ", topology %s, accel %s, boot to hello %.2fs", vm.Topology, orDash(vm.Accel), vm.BootToHello.Seconds())
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SELFTEST\tRESULT\tTIME\tREASON")
	for _, t := range res.Tests {
		reason := t.Reason
		if t.Status == kselftest.Pass {
			reason = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%s\n", t.Name, t.Status, t.Duration.Seconds(), reason)
	}
	tw.Flush()
	for _, t := range res.Tests {
		if t.Status != kselftest.Fail || strings.TrimSpace(t.Output) == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s output:\n", t.Name)
		lines := strings.Split(strings.TrimRight(t.Output, "\n"), "\n")
		if len(lines) > 40 {
			fmt.Fprintf(w, "  [... %d lines; all in --json ...]\n", len(lines)-40)
			lines = lines[len(lines)-40:]
		}
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if vm := res.VM; vm != nil && vm.Failure != nil && vm.ConsoleLog != "" {
		fmt.Fprintf(w, "\nconsole log: %s\n", vm.ConsoleLog)
	}
	fmt.Fprintf(w, "\n%d selftests: %d passed, %d skipped, %d failed (%.1fs)\n", len(res.Tests), res.Passed, res.Skipped, res.Failed, res.Wall.Seconds())
}
