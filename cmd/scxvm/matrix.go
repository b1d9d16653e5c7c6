package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/matrix"
)

const matrixUsage = `usage: scxvm matrix [flags] [MATRIX.yaml]

Runs the cross product of kernels, topologies, scenarios and schedulers
(a matrix file, YAML or JSON, and/or flags; a flag replaces the file's list
of its kind), several schedulers per boot, and prints one row per cell: pass,
or the failure's kind and attributed reason.

  kernels:    [debian, 6.12, path/to/bzImage, path/to/tree]   default debian
  schedulers: [fifo, "scx_qmap -e 100", ./scx_mine, examples,  default fifo
               {name: scx_pair, attach_timeout: 45s}]          ("examples": every one built for the kernel)
  scenarios:  [steady, pingpong, my-scenario.yaml]            default steady
  topologies: [tcg, 2n2l4c2t]                                 default tcg
  duration:   1s                                              (replaces every scenario's)

Topology presets are NnLlCcTt (NUMA nodes, LLCs per node, cores per LLC,
threads per core). Sets: "tcg" (the default: 1n1l2c1t 1n1l1c2t 2n1l1c1t
1n2l1c2t, 2-4 cpus, for TCG on small hosts) and "kvm" (1n1l8c2t 1n4l4c1t
2n2l4c2t 4n2l4c2t, 16-64 cpus, for KVM hosts).

Sharding for CI engines (a job matrix, a Kubernetes Indexed Job, xargs):
every shard runs the same command with --shard I/N and writes --json;
` + "`scxvm report merge SHARD.json...`" + ` merges them into the whole matrix's
result. Cells are dealt to shards by estimated cost (--estimates: earlier
results). Exit codes as for scxvm run: 0 every cell passed (or was skipped),
1 a cell failed, 125 no cell could run (no sched_ext), 129 infrastructure,
130 interrupted, 131 usage.

Flags:`

// matrixFlags are the flags of scxvm matrix.
type matrixFlags struct {
	kernels, schedulers, scenarios, topologies listFlag
	estimates, kernelArgs                      listFlag
	duration, budget, bootTimeout, timeout     time.Duration
	shard, accel, transport, cache, file       string
	jobs, memory                               int
	list, verbose                              bool
	results                                    resultFlags
	checks                                     checkFlags
}

// resultFlags are the files a matrix result is written to.
type resultFlags struct{ json, junit, ktap string }

func (r *resultFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.json, "json", "", "write the result (every cell with its full result) as JSON to `FILE`")
	fs.StringVar(&r.junit, "junit", "", "write JUnit XML to `FILE`: a testcase per cell, class KERNEL/SCHEDULER")
	fs.StringVar(&r.ktap, "ktap", "", "write KTAP version 1 to `FILE`: ok / not ok / # SKIP per cell")
}

// write writes the result files that were asked for.
func (r resultFlags) write(rep *matrix.Report) error {
	if r.json != "" {
		if err := rep.WriteJSON(r.json); err != nil {
			return &vmtest.InfraError{Op: "write result", Err: err}
		}
	}
	if r.junit != "" {
		if err := matrix.WriteFile(r.junit, rep.WriteJUnit); err != nil {
			return &vmtest.InfraError{Op: "write junit", Err: err}
		}
	}
	if r.ktap != "" {
		if err := matrix.WriteFile(r.ktap, rep.WriteKTAP); err != nil {
			return &vmtest.InfraError{Op: "write ktap", Err: err}
		}
	}
	return nil
}

func (m *matrixFlags) register(fs *flag.FlagSet) {
	fs.Var(&m.kernels, "kernel", "kernel `NAME`, PATH or TREE (repeatable, or comma-separated)")
	fs.Var(&m.schedulers, "scheduler", "scheduler with its arguments, `\"NAME [ARG...]\"` or a PATH, or examples (repeatable)")
	fs.Var(&m.scenarios, "scenario", "scenario `NAME` or FILE (repeatable, or comma-separated)")
	fs.Var(&m.topologies, "topology", "topology `PRESET` (NnLlCcTt) or set (tcg, kvm) (repeatable, or comma-separated)")
	fs.DurationVar(&m.duration, "duration", 0, "replace every scenario's duration")
	fs.IntVar(&m.jobs, "jobs", 1, "run up to `K` guests at once, each admitted when the host has cpus and memory for it")
	fs.DurationVar(&m.budget, "budget", 0, "run only the cells that fit in this wall `DURATION` (estimated), every scheduler and scenario first")
	fs.StringVar(&m.shard, "shard", "", "run part `I/N` of the cells (1 <= I <= N), dealt by estimated cost")
	fs.Var(&m.estimates, "estimates", "earlier matrix result `FILE` to estimate cell and boot costs from (repeatable)")
	fs.BoolVar(&m.list, "list", false, "print the cells this run would run (after --shard and --budget) and their estimated cost; boot nothing")
	fs.StringVar(&m.accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	fs.StringVar(&m.transport, "transport", "auto", "host-guest channel: auto, vsock or virtio-serial")
	fs.IntVar(&m.memory, "memory", 0, "guest memory in MB (default 1024, 256 per cpu above 4 cpus)")
	fs.StringVar(&m.cache, "cache", "", "cache directory (default $SCXVM_CACHE_DIR, $XDG_CACHE_HOME/scxvm, ~/.cache/scxvm)")
	fs.Var(&m.kernelArgs, "kernel-arg", "extra kernel command-line argument (repeatable)")
	fs.DurationVar(&m.bootTimeout, "boot-timeout", 60*time.Second, "limit from QEMU start to the agent's hello, per boot")
	fs.DurationVar(&m.timeout, "timeout", 0, "hard limit per boot (default: boot timeout + scenario timeouts + 30s)")
	fs.BoolVar(&m.verbose, "v", false, "verbose: log every boot's progress")
	m.checks.register(fs, "of every scheduler of the matrix (over a file entry's own checks:, examples included)")
	m.results.register(fs)
}

// splitList splits repeated, comma-separated flag values.
func splitList(l listFlag) []string {
	var out []string
	for _, v := range l {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// spec is the matrix the file and the flags describe.
func (m *matrixFlags) spec(file string) (*matrix.Spec, error) {
	s := &matrix.Spec{}
	if file != "" {
		var err error
		if s, err = matrix.LoadSpec(file); err != nil {
			return nil, err
		}
	}
	if l := splitList(m.kernels); len(l) > 0 {
		s.Kernels = l
	}
	if len(m.schedulers) > 0 {
		s.Schedulers = nil
		for _, v := range m.schedulers {
			s.Schedulers = append(s.Schedulers, matrix.ParseSchedulerEntry(v))
		}
	}
	if m.checks.given() {
		layer, err := m.checks.resolve()
		if err != nil {
			return nil, err
		}
		if len(s.Schedulers) == 0 {
			s.Schedulers = []matrix.SchedulerEntry{{Scheduler: spec.Scheduler{Name: spec.SchedulerFIFO}}}
		}
		for i := range s.Schedulers {
			s.Schedulers[i].Checks = layer.Layer(s.Schedulers[i].Checks)
		}
	}
	if l := splitList(m.scenarios); len(l) > 0 {
		s.Scenarios = l
	}
	if l := splitList(m.topologies); len(l) > 0 {
		s.Topologies = l
	}
	if m.duration > 0 {
		s.Duration = m.duration
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseMatrix parses scxvm matrix's arguments: the flags, the matrix
// file (m.file) and the selection they ask for.
func parseMatrix(args []string, stderr io.Writer) (*matrixFlags, matrix.Selection, error) {
	fs := flag.NewFlagSet("scxvm matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var m matrixFlags
	var sel matrix.Selection
	m.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), matrixUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, sel, err
	}
	if fs.NArg() > 1 {
		return nil, sel, usagef("scxvm matrix takes one matrix file, got %q", fs.Args())
	}
	m.file = fs.Arg(0)
	if m.jobs < 1 {
		return nil, sel, usagef("--jobs %d: want at least 1", m.jobs)
	}
	if m.budget < 0 {
		return nil, sel, usagef("--budget %v: negative", m.budget)
	}
	sel.Budget = m.budget
	if m.shard != "" {
		sh, err := matrix.ParseShard(m.shard)
		if err != nil {
			return nil, sel, usagef("--shard: %v", err)
		}
		sel.Shard = sh
	}
	return &m, sel, nil
}

func matrixCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m, sel, err := parseMatrix(args, stderr)
	if err != nil {
		return err
	}
	var earlier []*matrix.Report
	for _, f := range m.estimates {
		r, err := matrix.ReadReport(f)
		if err != nil {
			return usagef("--estimates: %v", err)
		}
		earlier = append(earlier, r)
	}
	sel.Estimates = matrix.NewEstimates(earlier...)
	s, err := m.spec(m.file)
	if err != nil {
		return err
	}
	cache := m.cache
	if cache == "" {
		cache = kernel.DefaultCacheDir()
	}
	plan, err := s.Plan(cache)
	if err != nil {
		var ve *spec.ValidationError
		if errors.As(err, &ve) {
			return err
		}
		return &vmtest.InfraError{Op: "expand matrix", Err: err}
	}
	if m.list {
		return listCells(stdout, plan, sel, m.jobs)
	}
	agent, note, err := findAgent()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	start := time.Now()
	picked, _ := plan.Budget(plan.Shard(sel.Shard, sel.Estimates), sel.Budget, m.jobs, sel.Estimates)
	done, total := 0, len(picked)
	cfg := matrix.Config{
		Base: vmtest.Config{
			Agent: agent, Accel: m.accel, Transport: m.transport, MemoryMB: m.memory,
			CacheDir: m.cache, KernelArgs: m.kernelArgs, BootTimeout: m.bootTimeout, Timeout: m.timeout,
		},
		Jobs: m.jobs,
		OnCell: func(c matrix.CellResult) {
			mu.Lock()
			defer mu.Unlock()
			done++
			fmt.Fprintf(stdout, "%6.1fs [%d/%d] %s: %s %s\n", time.Since(start).Seconds(), done, total, c.Key(), c.Outcome, oneLine(c.Reason))
		},
	}
	if m.verbose {
		fmt.Fprintf(stdout, "%6.1fs %s\n", 0.0, note)
		cfg.Base.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stdout, "%6.1fs %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	rep, err := matrix.RunPlan(ctx, plan, sel, cfg)
	if rep != nil {
		fmt.Fprintln(stdout)
		if werr := rep.WriteTable(stdout); werr != nil {
			return werr
		}
		// vmtest keeps the console log of a boot that did not pass.
		for _, b := range rep.Boots {
			if b.ConsoleLog != "" && b.Error != "" {
				fmt.Fprintf(stdout, "console log of the %s@%s boot: %s\n", b.Kernel, b.Topology, b.ConsoleLog)
			}
		}
		if werr := m.results.write(rep); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	return verdict(rep)
}

// listCells prints the cells a run would run, with their estimated cost.
func listCells(w io.Writer, plan *matrix.Plan, sel matrix.Selection, jobs int) error {
	cells := plan.Shard(sel.Shard, sel.Estimates)
	picked, left := plan.Budget(cells, sel.Budget, jobs, sel.Estimates)
	for _, c := range picked {
		fmt.Fprintf(w, "%s\n", c.Key())
	}
	for _, c := range left {
		fmt.Fprintf(w, "%s (left out by --budget)\n", c.Key())
	}
	fmt.Fprintf(w, "\n%d of the plan's %d cells (plan %s", len(picked), len(plan.Cells), plan.ID())
	if sel.Shard.N > 0 {
		fmt.Fprintf(w, ", shard %s", sel.Shard)
	}
	fmt.Fprintln(w, ")")
	return nil
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// verdict turns a matrix result into run's error, so that the exit code
// follows the CLI's table: a failed cell is a failure (1); else an
// infrastructure error (129) or an invalid cell (131); else, when no cell
// passed and some could not run for want of sched_ext, a skip (125);
// else a pass (0). Cells the budget left out change nothing.
func verdict(rep *matrix.Report) error {
	n := rep.Count()
	first := func(cl matrix.Class) matrix.CellResult {
		for _, c := range rep.Cells {
			if c.Outcome.Class() == cl {
				return c
			}
		}
		return matrix.CellResult{}
	}
	switch {
	case n[matrix.ClassNotRun] > 0:
		return fmt.Errorf("%d of %d cells did not run: %w", n[matrix.ClassNotRun], len(rep.Cells), context.Canceled)
	case n[matrix.ClassFail] > 0:
		c := first(matrix.ClassFail)
		return &vmtest.Failure{Kind: vmtest.FailureKind(c.Outcome), Message: fmt.Sprintf("%d of %d cells failed; first %s: %s", n[matrix.ClassFail], len(rep.Cells), c.Key(), oneLine(c.Reason))}
	case n[matrix.ClassError] > 0:
		c := first(matrix.ClassError)
		err := fmt.Errorf("%d of %d cells could not run; first %s: %s", n[matrix.ClassError], len(rep.Cells), c.Key(), oneLine(c.Reason))
		if c.Outcome == matrix.OutcomeConfig {
			return usagef("%v", err)
		}
		return &vmtest.InfraError{Op: "matrix", Err: err}
	case n[matrix.ClassPass] == 0 && len(rep.Cells) > 0 && first(matrix.ClassSkip).Outcome == matrix.OutcomeNotSupported:
		return fmt.Errorf("no cell could run: %w", vmtest.ErrNotSupported)
	}
	return nil
}

// mergeFlags are the flags of scxvm report merge.
type mergeFlags struct {
	results resultFlags
	partial bool
	inputs  []string
}

// parseMerge parses scxvm report merge's arguments; flags may follow the
// files.
func parseMerge(args []string, stderr io.Writer) (*mergeFlags, error) {
	fs := flag.NewFlagSet("scxvm report merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mf mergeFlags
	mf.results.register(fs)
	fs.BoolVar(&mf.partial, "partial", false, "merge even when shards are missing (their cells are left out)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: scxvm report merge [flags] SHARD.json...\n\nMerges the --json results of the shards of one `scxvm matrix` run into the\nresult of the whole matrix, prints its table, writes it with --json, --junit,\n--ktap, and exits as the whole matrix would have.")
		fs.PrintDefaults()
	}
	inputs, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	mf.inputs = inputs
	if len(mf.inputs) == 0 {
		return nil, usagef("scxvm report merge takes the shards' result files (usage: scxvm report merge [flags] SHARD.json...)")
	}
	return &mf, nil
}

// reportMergeCmd is `scxvm report merge [flags] SHARD.json...`.
func reportMergeCmd(args []string, stdout, stderr io.Writer) error {
	mf, err := parseMerge(args, stderr)
	if err != nil {
		return err
	}
	var reps []*matrix.Report
	for _, in := range mf.inputs {
		r, err := matrix.ReadReport(in)
		if err != nil {
			return usagef("%v", err)
		}
		reps = append(reps, r)
	}
	rep, err := matrix.Merge(mf.partial, reps...)
	if err != nil {
		return usagef("%v", err)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if err := mf.results.write(rep); err != nil {
		return err
	}
	return verdict(rep)
}
