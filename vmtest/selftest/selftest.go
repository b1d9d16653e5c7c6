// Package selftest runs the kernel's own sched_ext selftests
// (tools/testing/selftests/sched_ext) in a guest and reports each as a
// test case.
//
// Run builds the runner for the kernel (kernel.BuildSelftests: the
// kernel's own source tree and BTF, cached for the kernels of the cache),
// lists its tests on the host, and boots the kernel once with the kernel's
// default scheduler. Each test runs as its own scenario: one payload
// `runner -t NAME` with its own timeout, so that a test that hangs is
// killed alone and the others still run. The runner's -t matches
// substrings, so a test whose name contains another selected test's name
// runs in that test's payload (kselftest.Plan). Each payload's output is
// read back with kselftest.Parse.
//
//	res, err := selftest.Run(ctx, selftest.Config{VM: vmtest.Config{Kernel: "debian"}, Filter: "minimal"})
//	// res.Tests[i].Status is pass, skip or fail; err is a *vmtest.Failure when any failed
package selftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scxvm/scxvm/internal/jsonfile"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/kselftest"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// RunnerPath is where the runner is put in the guest.
const RunnerPath = "/usr/libexec/scxvm/sched_ext-selftests/runner"

// Defaults.
const (
	// DefaultCPUs is the guest's cpu count when Config.VM.Topology is
	// zero: the tests that need the most want 3 (cyclic_kick_wait) and a
	// nohz_full cpu beside housekeeping ones (nohz_tick).
	DefaultCPUs = 4
	// DefaultTestTimeout bounds each test's run: under TCG on a busy
	// 2-core host 7.3's reload_loop took 11 minutes (2,048 scheduler
	// attach/detach cycles), init_enable_count 2.5.
	DefaultTestTimeout = 20 * time.Minute
)

// Config says which kernel to test and which of its selftests to run.
type Config struct {
	// VM is the guest's configuration (kernel, topology, accel, ...).
	// Its Scheduler and Scenarios are set by Run (the kernel's default
	// scheduler; one scenario per runner execution). A zero Topology
	// means DefaultCPUs cpus. The runner is added to ExtraFiles, and
	// nohz_full=<last cpu> to KernelArgs when the kernel has
	// CONFIG_NO_HZ_FULL, the guest more than one cpu and KernelArgs no
	// nohz_full of their own.
	VM vmtest.Config
	// Filter selects the tests whose name contains it (the runner's -t);
	// "" selects all.
	Filter string
	// Tests, when set, selects these tests by exact name instead of
	// Filter; an unknown name is a *vmtest.ConfigError.
	Tests []string
	// TestTimeout bounds each test's runner execution in the guest; zero
	// means DefaultTestTimeout.
	TestTimeout time.Duration
	// Build configures the runner's build (compiler, jobs, progress).
	Build kernel.SelftestsOptions
	// NoBuild uses a runner already in the cache and fails (wrapping
	// fs.ErrNotExist) when there is none, instead of building it.
	NoBuild bool
	// Progress, when set, receives each test's result as soon as its run
	// ended.
	Progress func(TestResult)
}

// TestResult is one selftest's outcome.
type TestResult struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Status is pass, skip or fail (a test without a result line, or one
	// whose run the harness judged failed, is a failure).
	Status kselftest.Status `json:"status"`
	// Reason says why a test failed or was skipped: the test's own
	// message, or what ended its run (timeout, signal, kernel panic).
	Reason string `json:"reason,omitempty"`
	// Output is what the test printed between its preamble and its
	// result line.
	Output string `json:"output,omitempty"`
	// Filter is the -t filter of the runner execution it ran in, and
	// Duration that execution's wall time in the guest.
	Filter   string        `json:"filter"`
	Duration time.Duration `json:"duration_ns"`
}

// RunResult is one execution of the runner (`runner -t Filter`).
type RunResult struct {
	Filter string   `json:"filter"`
	Tests  []string `json:"tests"`
	// Counts are the runner's final counts; nil when it printed none
	// (killed, crashed, or not run).
	Counts *kselftest.Counts `json:"counts,omitempty"`
	// ExitCode is the runner's exit status; nil when it did not exit
	// (Ended says how it ended then).
	ExitCode *int   `json:"exit_code,omitempty"`
	Ended    string `json:"ended,omitempty"`
	// Truncated is set when the agent cut the middle of its output.
	Truncated bool          `json:"truncated,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
}

// Result is a selftests run: each test's outcome, the runner's and the
// guest's details.
type Result struct {
	Kernel  string `json:"kernel"`
	Release string `json:"release,omitempty"`
	// Runner is the runner binary, Source the tree it was built from,
	// Build its build time when this run built it.
	Runner string        `json:"runner"`
	Source string        `json:"source,omitempty"`
	Build  time.Duration `json:"build_ns,omitempty"`
	// Tests are the selected tests in the runner's order.
	Tests []TestResult `json:"tests"`
	// Passed, Skipped and Failed count Tests.
	Passed  int `json:"passed"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	// Runs are the runner executions, in order.
	Runs []RunResult `json:"runs"`
	// VM is the guest run (its scenarios are the runner executions).
	VM *vmtest.Result `json:"vm,omitempty"`
	// Wall is the whole run, build included.
	Wall time.Duration `json:"wall_ns"`
}

// WriteJSON writes r as indented JSON to path.
func (r *Result) WriteJSON(path string) error {
	return jsonfile.Write(path, "selftest result", r)
}

// Runner returns the runner for cfg's kernel, building it unless
// cfg.NoBuild; the kernel is looked up in cfg.VM.CacheDir.
func Runner(ctx context.Context, cfg Config) (*kernel.Kernel, *kernel.Selftests, error) {
	cacheDir := cfg.VM.CacheDir
	if cacheDir == "" {
		cacheDir = kernel.DefaultCacheDir()
	}
	name := cfg.VM.Kernel
	if name == "" {
		name = kernel.Debian
	}
	k, err := kernel.Lookup(cacheDir, name)
	if err != nil {
		if errors.Is(err, kernel.ErrBadImage) {
			return nil, nil, err
		}
		return nil, nil, &vmtest.InfraError{Op: "find kernel", Err: err}
	}
	var st *kernel.Selftests
	if cfg.NoBuild {
		st, err = kernel.CachedSelftests(cacheDir, k)
	} else {
		opt := cfg.Build
		opt.CacheDir = cacheDir
		st, err = kernel.BuildSelftests(ctx, k, opt)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &vmtest.InfraError{Op: "build sched_ext selftests", Err: err}
	}
	return k, st, nil
}

// List returns the runner's tests, in its order, by running it on the
// host without running any test: `runner -l`, or for runners without -l
// (before 6.15) `runner -q -s -t FILTER` with a filter that matches no
// test, which prints every test as skipped.
func List(ctx context.Context, runner string) ([]string, error) {
	out, err := exec.CommandContext(ctx, runner, "-l").Output()
	if err == nil {
		if names := kselftest.ParseList(string(out)); len(names) > 0 {
			return names, nil
		}
	}
	out, err = exec.CommandContext(ctx, runner, "-q", "-s", "-t", "\x01scxvm: no test has this name").Output()
	names := kselftest.ParseList(string(out))
	if len(names) == 0 {
		if err == nil {
			err = errors.New("it printed no test")
		}
		return nil, fmt.Errorf("list the tests of %s: %w", runner, err)
	}
	return names, nil
}

// Run runs the selected selftests of cfg.VM.Kernel in one boot. The
// error is nil when every test passed or was skipped, a *vmtest.Failure
// (kind checks_failed, or the guest's own failure when it was lost) when
// any failed, and the build's or vmtest.Run's error when nothing could be
// judged; the Result holds what was run in every case but the last.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	start := time.Now()
	k, st, err := Runner(ctx, cfg)
	if err != nil {
		return nil, err
	}
	info, err := kernel.Inspect(k.Image)
	if err != nil {
		return nil, err
	}
	if !info.SchedExt {
		return nil, fmt.Errorf("kernel %s cannot run the sched_ext selftests: %w", k.Name, info.SupportError())
	}
	all, err := List(ctx, st.Runner)
	if err != nil {
		return nil, &vmtest.InfraError{Op: "list sched_ext selftests", Err: err}
	}
	selected, err := selectTests(all, cfg)
	if err != nil {
		return nil, err
	}
	runs := kselftest.Plan(all, selected)

	vm := cfg.VM
	vm.Kernel = k.Name
	if k.Tree != "" {
		vm.Kernel = k.Tree
	}
	vm.Scheduler = spec.Scheduler{Name: spec.SchedulerNone}
	vm.Compare = ""
	if vm.Topology == (spec.Topology{}) {
		vm.Topology = spec.Topology{NUMANodes: 1, LLCs: 1, CoresPerLLC: DefaultCPUs, ThreadsPerCore: 1}
	}
	vm.ExtraFiles = mapsClone(vm.ExtraFiles)
	vm.ExtraFiles[RunnerPath] = st.Runner
	vm.KernelArgs = slices.Clone(vm.KernelArgs)
	if cpus := vm.Topology.CPUs(); cpus > 1 && info.Config != nil && info.Config.Get("CONFIG_NO_HZ_FULL") == "y" &&
		!slices.ContainsFunc(vm.KernelArgs, func(a string) bool { return strings.HasPrefix(a, "nohz_full=") }) {
		vm.KernelArgs = append(vm.KernelArgs, "nohz_full="+strconv.Itoa(cpus-1))
	}
	timeout := cfg.TestTimeout
	if timeout <= 0 {
		timeout = DefaultTestTimeout
	}
	if vm.OutputPrefix == "" {
		// The runner's whole output, not the head and tail a result
		// keeps, is what the tests are judged on.
		dir, err := os.MkdirTemp("", "scxvm-selftest-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		vm.OutputPrefix = dir + string(filepath.Separator)
		defer func() {
			// The files go with the directory: the result must not name them.
			if res != nil && res.VM != nil {
				for i := range res.VM.Scenarios {
					for j := range res.VM.Scenarios[i].Payloads {
						res.VM.Scenarios[i].Payloads[j].OutputFile = ""
					}
				}
			}
		}()
	}
	vm.Scenarios = nil
	for _, r := range runs {
		vm.Scenarios = append(vm.Scenarios, Scenario(r, timeout))
	}
	res = &Result{Kernel: k.Name, Release: k.Release, Runner: st.Runner, Source: st.Source}
	if st.Built {
		res.Build = st.Took
	}
	byRun := map[string]kselftest.Run{}
	for _, r := range runs {
		byRun[r.Filter] = r
	}
	done := map[string]bool{}
	userProgress := vm.Progress
	vm.Progress = func(e vmtest.Event) {
		if userProgress != nil {
			userProgress(e)
		}
		if e.Kind != vmtest.EventScenarioDone || e.Result == nil || cfg.Progress == nil {
			return
		}
		r, ok := byRun[e.Result.Name]
		if !ok {
			return
		}
		for _, t := range judge(r, e.Result, selected) {
			if !done[t.Name] {
				done[t.Name] = true
				cfg.Progress(t)
			}
		}
	}
	vres, verr := vmtest.Run(ctx, vm)
	res.VM = vres
	var vf *vmtest.Failure
	if verr != nil && !errors.As(verr, &vf) {
		return res, verr // nothing was judged: config, infra, interrupt
	}
	got := map[string]TestResult{}
	for _, r := range runs {
		var sr *vmtest.ScenarioResult
		if vres != nil {
			sr = vres.Scenario(r.Filter)
		}
		res.Runs = append(res.Runs, runResult(r, sr))
		for _, t := range judge(r, sr, selected) {
			if _, dup := got[t.Name]; dup {
				continue
			}
			if sr == nil && vf != nil {
				t.Reason = "not run: " + vf.Error()
			}
			got[t.Name] = t
			if sr == nil && cfg.Progress != nil && !done[t.Name] {
				done[t.Name] = true
				cfg.Progress(t)
			}
		}
	}
	for _, name := range selected {
		t := got[name]
		res.Tests = append(res.Tests, t)
		switch t.Status {
		case kselftest.Pass:
			res.Passed++
		case kselftest.Skip:
			res.Skipped++
		default:
			res.Failed++
		}
	}
	res.Wall = time.Since(start)
	if res.Failed > 0 {
		var names []string
		for _, t := range res.Tests {
			if t.Status != kselftest.Pass && t.Status != kselftest.Skip {
				names = append(names, t.Name)
			}
		}
		f := &vmtest.Failure{Kind: vmtest.FailChecks, Message: fmt.Sprintf("%d of %d sched_ext selftests failed: %s", res.Failed, len(res.Tests), strings.Join(names, ", "))}
		if vf != nil && (vres == nil || len(vres.Scenarios) < len(runs)) {
			f = vf // the guest was lost: that is the failure
		}
		return res, f
	}
	return res, nil
}

// selectTests applies cfg.Tests or cfg.Filter to the runner's list.
func selectTests(all []string, cfg Config) ([]string, error) {
	if len(cfg.Tests) == 0 {
		sel := kselftest.Select(all, cfg.Filter)
		if len(sel) == 0 {
			return nil, &vmtest.ConfigError{Field: "filter", Msg: fmt.Sprintf("no sched_ext selftest name contains %q (tests: %s)", cfg.Filter, strings.Join(all, ", "))}
		}
		return sel, nil
	}
	var sel []string
	for _, n := range all {
		if slices.Contains(cfg.Tests, n) {
			sel = append(sel, n)
		}
	}
	for _, n := range cfg.Tests {
		if !slices.Contains(all, n) {
			return nil, &vmtest.ConfigError{Field: "tests", Msg: fmt.Sprintf("no sched_ext selftest named %q (tests: %s)", n, strings.Join(all, ", "))}
		}
	}
	return sel, nil
}

// Scenario returns the scenario of one runner execution: no workers, the
// runner as a payload that the scenario waits for, bounded by timeout for
// each test it runs. The guest-wide stall watch is off: several tests
// stall tasks on purpose to see the kernel eject their scheduler.
func Scenario(r kselftest.Run, timeout time.Duration) spec.Scenario {
	return spec.Scenario{
		Name:        r.Filter,
		Description: "sched_ext selftests " + strings.Join(r.Tests, ", "),
		Duration:    time.Millisecond,
		Timeout:     timeout * time.Duration(max(len(r.Tests), 1)),
		Payloads:    []spec.Payload{kselftest.Payload(RunnerPath, r.Filter)},
		Checks:      spec.Checks{Skip: []string{spec.CheckNoStalledTask}},
	}
}

// judge turns one runner execution's scenario result into the results of
// the tests it ran that are selected. sr is nil when the execution did
// not happen (the guest was lost before).
func judge(r kselftest.Run, sr *vmtest.ScenarioResult, selected []string) []TestResult {
	var out []TestResult
	var (
		rep      kselftest.Report
		pl       *vmtest.PayloadResult
		runFault string
	)
	if sr != nil {
		if len(sr.Payloads) > 0 {
			pl = &sr.Payloads[0]
			rep = kselftest.Parse(payloadOutput(pl))
		}
		runFault = runFailure(sr, pl)
	}
	for _, name := range r.Tests {
		if !slices.Contains(selected, name) {
			continue
		}
		t := TestResult{Name: name, Filter: r.Filter, Status: kselftest.Fail}
		if pl != nil {
			t.Duration = pl.Duration
		}
		switch pt := rep.Test(name); {
		case sr == nil:
			t.Reason = "not run"
		case pt == nil:
			t.Reason = "the runner printed no result for it"
			if runFault != "" {
				t.Reason += ": " + runFault
			} else if rep.Truncated {
				t.Reason += " (its output was cut in the middle)"
			}
		default:
			t.Description, t.Output, t.Status = pt.Description, pt.Output, pt.Status
			t.Reason = pt.Reason()
			if pt.Status == kselftest.Unfinished {
				t.Status = kselftest.Fail
				t.Reason = "started but printed no result"
				switch {
				case runFault != "":
					t.Reason += ": " + runFault
				case pl.ExitCode != nil:
					t.Reason += fmt.Sprintf(" (the runner exited with status %d)", *pl.ExitCode)
				}
			} else if pt.Status != kselftest.Fail && sr.Failure != nil {
				// The test's verdict stands, but the harness saw the
				// kernel misbehave during its run.
				t.Status = kselftest.Fail
				t.Reason = sr.Failure.Error()
			}
		}
		out = append(out, t)
	}
	return out
}

// maxOutput bounds the runner output read back from its file.
const maxOutput = 64 << 20

// payloadOutput is the runner's whole output when it was saved to a file
// (Config.OutputPrefix), else the head and tail the result holds.
func payloadOutput(pl *vmtest.PayloadResult) string {
	if pl.OutputFile == "" || pl.OutputMissing != 0 {
		return pl.Output
	}
	f, err := os.Open(pl.OutputFile)
	if err != nil {
		return pl.Output
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxOutput))
	if err != nil || int64(len(data)) < pl.OutputBytes && len(data) < maxOutput {
		return pl.Output
	}
	return string(data)
}

// runResult describes one runner execution; sr is nil when it did not
// happen.
func runResult(r kselftest.Run, sr *vmtest.ScenarioResult) RunResult {
	out := RunResult{Filter: r.Filter, Tests: r.Tests}
	if sr == nil {
		out.Ended = "not run"
		return out
	}
	if len(sr.Payloads) == 0 {
		out.Ended = runFailure(sr, nil)
		return out
	}
	pl := &sr.Payloads[0]
	rep := kselftest.Parse(payloadOutput(pl))
	out.Counts, out.Truncated, out.ExitCode, out.Duration = rep.Counts, rep.Truncated, pl.ExitCode, pl.Duration
	if pl.ExitCode == nil {
		out.Ended = runFailure(sr, pl)
	}
	return out
}

// runFailure says what ended a runner execution early, or "".
func runFailure(sr *vmtest.ScenarioResult, pl *vmtest.PayloadResult) string {
	switch {
	case pl == nil && sr.Failure != nil:
		return sr.Failure.Error()
	case pl == nil:
		return "the runner did not run"
	case pl.Error != "":
		return pl.Error
	case pl.TimedOut:
		return fmt.Sprintf("killed after %s (the test timeout)", pl.Duration.Round(time.Second))
	case pl.Signal != 0:
		return fmt.Sprintf("the runner was killed by signal %d", pl.Signal)
	case sr.Failure != nil:
		return sr.Failure.Error()
	case pl.ExitCode != nil && *pl.ExitCode != 0:
		return fmt.Sprintf("the runner exited with status %d", *pl.ExitCode)
	}
	return ""
}

func mapsClone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
