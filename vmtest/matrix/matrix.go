package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// Outcome is how a cell ended: OutcomePass, one of vmtest's failure kinds
// ("load_failed", "ejected", ...), or one of the outcomes below for a
// cell that could not run.
type Outcome string

// Outcomes besides vmtest's failure kinds.
const (
	OutcomePass         Outcome = "pass"
	OutcomeNotSupported Outcome = "not_supported" // the kernel lacks sched_ext
	OutcomeConfig       Outcome = "config_error"  // invalid cell (unknown scheduler, ...)
	OutcomeInfra        Outcome = "infra_error"   // QEMU, kernel cache, image build
	OutcomeNotRun       Outcome = "not_run"       // the context ended first
)

// Defaults are the settings (arguments, attach timeout) AllCells gives an
// example scheduler; schedulers not listed run without arguments and with
// vmtest's default attach timeout. scx_pair creates 4096 BPF maps before
// it attaches, which takes 5-40 s under TCG on a busy host.
var Defaults = map[string]spec.Scheduler{
	"scx_pair": {AttachTimeout: 45 * time.Second},
}

// Cell is one run of the matrix: a scenario under a scheduler on a kernel.
type Cell struct {
	// Kernel is a kernel name known to package kernel ("debian", "6.12").
	Kernel string `json:"kernel"`
	// Scheduler is the scheduler under test.
	Scheduler spec.Scheduler `json:"scheduler"`
	// Scenario names a built-in scenario or a key of Config.Scenarios.
	Scenario string `json:"scenario"`
	// Cold runs the cell in a cold boot (vmtest.Config.Cold); by default
	// a boot starts warm from the snapshot of its kernel's machine (the
	// first boot of a machine boots cold and saves it). Cold and warm
	// cells of a kernel run in separate boots.
	Cold bool `json:"cold,omitempty"`
}

func (c Cell) String() string {
	s := c.Kernel + "/" + c.Scheduler.String() + "/" + c.Scenario
	if c.Cold {
		s += "/cold"
	}
	return s
}

// group is the boot a cell belongs in: its kernel and mode.
func (c Cell) group() string {
	if c.Cold {
		return c.Kernel + " (cold)"
	}
	return c.Kernel
}

// AllCells returns a cell for every example scheduler built for each
// kernel (`make schedulers`, kernel.Schedulers) and every scenario, the
// schedulers sorted by name, with DefaultArgs applied.
func AllCells(cacheDir string, kernels, scenarios []string) ([]Cell, error) {
	var cells []Cell
	for _, kn := range kernels {
		k, err := kernel.Lookup(cacheDir, kn)
		if err != nil {
			return nil, fmt.Errorf("matrix: %w", err)
		}
		scheds, err := kernel.Schedulers(cacheDir, k)
		if err != nil {
			return nil, fmt.Errorf("matrix: %w", err)
		}
		var names []string
		for n := range scheds {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			for _, sc := range scenarios {
				sched := Defaults[n]
				sched.Name = n
				cells = append(cells, Cell{Kernel: kn, Scheduler: sched, Scenario: sc})
			}
		}
	}
	return cells, nil
}

// Config describes a matrix run.
type Config struct {
	// Cells are run in order, grouped by kernel (one boot per kernel).
	Cells []Cell
	// Base is the vmtest configuration every boot starts from (Agent,
	// CacheDir, Accel, Topology, Logf...); Kernel, Scheduler, Scenarios
	// and RestartScheduler are set per boot.
	Base vmtest.Config
	// Scenarios are custom scenarios by name; other names are looked up
	// in the built-in catalogue.
	Scenarios map[string]spec.Scenario
	// Duration, when positive, replaces every scenario's duration.
	Duration time.Duration
	// OnCell, when set, is called with each cell's result as its boot ends.
	OnCell func(CellResult)
}

// CellResult is the outcome of one cell.
type CellResult struct {
	Cell
	// SchedulerName is the scheduler as shown in tables ("scx_qmap -v").
	SchedulerName string  `json:"scheduler_name"`
	Outcome       Outcome `json:"outcome"`
	// Reason is the one-line, actionable cause of a failure: the
	// verifier's message, the kernel's reason line, the missing feature.
	Reason string `json:"reason,omitempty"`
	// Excerpt holds the lines behind Reason (verifier log, kernel lines,
	// the loader's last lines, failed checks).
	Excerpt []string `json:"excerpt,omitempty"`
	// Elapsed is the cell's wall time in the guest's boot, from sending
	// its job to its result.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Boot indexes Report.Boots.
	Boot int `json:"boot"`
	// Result is vmtest's full scenario result, when the cell ran.
	Result *vmtest.ScenarioResult `json:"result,omitempty"`
}

// Boot is one guest boot of a matrix run.
type Boot struct {
	Kernel        string `json:"kernel"`
	KernelRelease string `json:"kernel_release,omitempty"`
	Cells         int    `json:"cells"`
	// Start is how the guest came up ("warm" or "cold"), StartNote why
	// cold (vmtest.Result.Start, StartNote).
	Start       string        `json:"start,omitempty"`
	StartNote   string        `json:"start_note,omitempty"`
	BootToHello time.Duration `json:"boot_to_hello_ns"`
	Wall        time.Duration `json:"wall_ns"`
	ConsoleLog  string        `json:"console_log,omitempty"`
	// Error is the boot's error when it did not pass, which may be the
	// first failed cell's.
	Error string `json:"error,omitempty"`
}

// Report is a matrix run's outcome.
type Report struct {
	Cells []CellResult  `json:"cells"`
	Boots []Boot        `json:"boots"`
	Wall  time.Duration `json:"wall_ns"`
}

// Run runs every cell; see the package documentation. It returns an error
// only when ctx ends (the report then holds the cells that ran and the
// rest as OutcomeNotRun) or when a cell names an unknown scenario; failed
// cells are outcomes, not errors.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	defer func() { rep.Wall = time.Since(start) }()
	var groups []string
	byGroup := map[string][]Cell{}
	for _, c := range cfg.Cells {
		if _, err := cfg.scenario(c.Scenario); err != nil {
			return rep, err
		}
		if _, ok := byGroup[c.group()]; !ok {
			groups = append(groups, c.group())
		}
		byGroup[c.group()] = append(byGroup[c.group()], c)
	}
	defer rep.sortAs(cfg.Cells)
	for _, g := range groups {
		pending := interleave(byGroup[g])
		for len(pending) > 0 {
			if ctx.Err() != nil {
				rep.add(cfg, notRun(pending, len(rep.Boots), ctx.Err())...)
				return rep, ctx.Err()
			}
			ran := rep.boot(ctx, cfg, pending[0].Kernel, pending)
			if ran == 0 {
				break // the boot ran nothing: its error ended every pending cell
			}
			pending = pending[ran:]
		}
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

func (c *Config) scenario(name string) (spec.Scenario, error) {
	sc, ok := c.Scenarios[name]
	if !ok {
		var err error
		if sc, err = vmtest.LookupScenario(name); err != nil {
			return sc, fmt.Errorf("matrix: %w", err)
		}
	}
	if c.Duration > 0 {
		sc.Duration = c.Duration
	}
	return sc, nil
}

// boot runs cells (all on one kernel) in one boot and records their
// results. It returns how many cells ran; when none did, every cell is
// recorded with the boot's error.
func (r *Report) boot(ctx context.Context, cfg Config, kname string, cells []Cell) int {
	vc := cfg.Base
	vc.Kernel = kname
	vc.Scheduler = spec.Scheduler{}
	// Each job loads its scheduler afresh and unloads it at its end, so
	// that what a scheduler does on its way out is part of its cell.
	vc.RestartScheduler = true
	vc.Compare = ""
	vc.Cold = vc.Cold || cells[0].Cold
	vc.Scenarios = nil
	for _, c := range cells {
		sc, _ := cfg.scenario(c.Scenario)
		sched := c.Scheduler
		sc.Scheduler = &sched
		vc.Scenarios = append(vc.Scenarios, sc)
	}
	res, err := vmtest.Run(ctx, vc)
	idx := len(r.Boots)
	b := Boot{Kernel: kname, Cells: len(cells)}
	if err != nil {
		b.Error = err.Error()
	}
	if res != nil {
		b.Start, b.StartNote = res.Start, res.StartNote
		b.KernelRelease = res.Kernel.Release
		b.BootToHello, b.Wall, b.ConsoleLog = res.BootToHello, res.Wall, res.ConsoleLog
	}
	r.Boots = append(r.Boots, b)
	var out []CellResult
	ran := 0
	if res != nil {
		for i := range res.Scenarios {
			sr := &res.Scenarios[i]
			if sr.Baseline || ran >= len(cells) {
				continue
			}
			cr := fromScenario(cells[ran], sr)
			cr.Boot = idx
			out = append(out, cr)
			ran++
		}
	}
	if ran == 0 {
		if ctx.Err() != nil {
			out = notRun(cells, idx, ctx.Err())
		} else {
			for _, c := range cells {
				cr := fromError(c, res, err)
				cr.Boot = idx
				out = append(out, cr)
			}
		}
	} else {
		b.Cells = ran
		r.Boots[idx] = b
	}
	r.add(cfg, out...)
	return ran
}

// interleave orders cells scenario-major (every scheduler on the first
// scenario, then on the next...), so that consecutive jobs of a boot run
// different schedulers.
func interleave(cells []Cell) []Cell {
	var scen []string
	for _, c := range cells {
		if !slices.Contains(scen, c.Scenario) {
			scen = append(scen, c.Scenario)
		}
	}
	out := slices.Clone(cells)
	slices.SortStableFunc(out, func(a, b Cell) int {
		return slices.Index(scen, a.Scenario) - slices.Index(scen, b.Scenario)
	})
	return out
}

// sortAs puts the report's cells in the order of cells.
func (r *Report) sortAs(cells []Cell) {
	pos := func(c CellResult) int {
		return slices.IndexFunc(cells, func(x Cell) bool {
			return x.Kernel == c.Kernel && x.Scenario == c.Scenario && x.Scheduler.String() == c.Scheduler.String() && x.Cold == c.Cold
		})
	}
	slices.SortStableFunc(r.Cells, func(a, b CellResult) int { return pos(a) - pos(b) })
}

func (r *Report) add(cfg Config, crs ...CellResult) {
	for _, cr := range crs {
		r.Cells = append(r.Cells, cr)
		if cfg.OnCell != nil {
			cfg.OnCell(cr)
		}
	}
}

// FailedChecks returns the names of the cell's failed checks, sorted,
// each once; nil when none failed or the cell did not run.
func (c CellResult) FailedChecks() []string {
	if c.Result == nil {
		return nil
	}
	var out []string
	for _, f := range c.Result.Failures {
		if !slices.Contains(out, f.Check) {
			out = append(out, f.Check)
		}
	}
	slices.Sort(out)
	return out
}

func notRun(cells []Cell, boot int, err error) []CellResult {
	var out []CellResult
	for _, c := range cells {
		out = append(out, CellResult{Cell: c, SchedulerName: c.Scheduler.String(), Outcome: OutcomeNotRun, Reason: err.Error(), Boot: boot})
	}
	return out
}

// fromScenario judges a cell that ran.
func fromScenario(c Cell, sr *vmtest.ScenarioResult) CellResult {
	cr := CellResult{Cell: c, SchedulerName: c.Scheduler.String(), Elapsed: sr.Elapsed, Result: sr}
	if sr.Passed {
		cr.Outcome = OutcomePass
		return cr
	}
	f := sr.Failure
	if f == nil {
		f = &vmtest.Failure{Kind: vmtest.FailChecks, Message: "checks failed"}
		for _, cf := range sr.Failures {
			f.Detail = append(f.Detail, cf.String())
		}
	}
	cr.Outcome = Outcome(f.Kind)
	cr.Reason, cr.Excerpt = explain(f, sr)
	return cr
}

// fromError judges a cell whose boot ran nothing.
func fromError(c Cell, res *vmtest.Result, err error) CellResult {
	cr := CellResult{Cell: c, SchedulerName: c.Scheduler.String()}
	var (
		f  *vmtest.Failure
		ce *vmtest.ConfigError
		ie *vmtest.InfraError
	)
	switch {
	case err == nil:
		cr.Outcome, cr.Reason = OutcomeInfra, "the boot passed but reported no scenario"
	case errors.Is(err, vmtest.ErrNotSupported):
		cr.Outcome, cr.Reason = OutcomeNotSupported, "missing kernel feature: "+err.Error()
	case errors.As(err, &f):
		cr.Outcome = Outcome(f.Kind)
		cr.Reason, cr.Excerpt = explain(f, nil)
		if res != nil && len(cr.Excerpt) == 0 {
			cr.Excerpt = tail(res.ConsoleExcerpt, 10)
		}
	case errors.As(err, &ce):
		cr.Outcome, cr.Reason = OutcomeConfig, err.Error()
	case errors.As(err, &ie):
		cr.Outcome, cr.Reason = OutcomeInfra, err.Error()
	default:
		cr.Outcome, cr.Reason = OutcomeInfra, err.Error()
	}
	return cr
}

// explain turns a failure into a one-line actionable reason and the lines
// behind it.
func explain(f *vmtest.Failure, sr *vmtest.ScenarioResult) (string, []string) {
	switch f.Kind {
	case vmtest.FailLoad:
		// The loader's whole output, when the agent sent it; the
		// failure's detail holds only its tail.
		log := f.Detail
		if sr != nil {
			// The load failure's own event: the previous scheduler's
			// "detached" event may come first, with that loader's log.
			for _, ev := range sr.SchedEvents {
				if ev.Kind == "load_failed" && ev.Log != "" {
					log = strings.Split(strings.TrimRight(ev.Log, "\n"), "\n")
					break
				}
			}
		}
		if r, ex := verifierReason(log); r != "" {
			return r, ex
		}
		if r, ex := missingFeature(log); r != "" {
			return r, ex
		}
		// A scheduler that ran into scx_bpf_error() while loading: the
		// loader's "EXIT: <kind> (<message>)" line says why.
		for i := len(log) - 1; i >= 0; i-- {
			if l := strings.TrimSpace(log[i]); strings.HasPrefix(l, "EXIT: ") {
				return "loader exited: " + strings.TrimPrefix(l, "EXIT: "), tail(f.Detail, 12)
			}
		}
		return f.Message, tail(f.Detail, 12)
	case vmtest.FailEjected:
		// The kernel's reason is in the message; its stall or error
		// lines lead the detail (the message after the reason line:
		// "sched_ext: qmap: test triggering error"), the loader's output
		// follows.
		if _, msg := kernelReason(f.Detail); msg != "" {
			return f.Message + ": " + msg, head(f.Detail, 12)
		}
		return f.Message, head(f.Detail, 12)
	case vmtest.FailSchedulerDied:
		return f.Message, tail(f.Detail, 12)
	case vmtest.FailChecks:
		var ex []string
		if sr != nil {
			for _, cf := range sr.Failures {
				ex = append(ex, cf.String())
			}
		}
		if len(ex) == 0 {
			ex = f.Detail
		}
		if sr != nil {
			if dis, msg := kernelReason(sr.KernelLog); dis != "" {
				return f.Message + "; kernel: " + strings.TrimSuffix(dis+": "+msg, ": "), head(ex, 12)
			}
		}
		return f.Message, head(ex, 12)
	}
	// A timeout or a lost guest: the kernel may still have said why the
	// scheduler went away.
	if sr != nil {
		if dis, msg := kernelReason(sr.KernelLog); dis != "" {
			r := f.Message + "; kernel: " + dis
			if msg != "" {
				r += ": " + msg
			}
			return r, append(head(f.Detail, 8), tail(sr.KernelLog, 8)...)
		}
	}
	return f.Message, head(f.Detail, 12)
}

// kernelReason finds the kernel's report of a scheduler going away,
// `sched_ext: BPF scheduler "flatcg" disabled (runnable task stall)`, and
// the message line after it (`sched_ext: flatcg: init[82] failed to run
// for 30.472s`), both without the "sched_ext: " prefix.
func kernelReason(lines []string) (disabled, msg string) {
	_, report := ktext.Ejection(lines)
	if len(report) == 0 {
		return "", ""
	}
	trim := func(l string) string { return strings.TrimPrefix(ktext.StripTimestamp(l), "sched_ext: ") }
	disabled = trim(report[0])
	if len(report) > 1 {
		msg = trim(report[1])
	}
	return disabled, msg
}

// verifierReason finds a rejected BPF program in a loader's output
// (libbpf's "-- BEGIN PROG LOAD LOG --" block) and returns "verifier
// rejected <prog>: <the verifier's message> at <source location>" with
// the lines around the message.
func verifierReason(lines []string) (string, []string) {
	begin := -1
	prog := ""
	for i, l := range lines {
		if strings.Contains(l, "BEGIN PROG LOAD LOG") {
			begin = i
			prog = between(l, "prog '", "'")
			break
		}
	}
	if begin < 0 {
		return "", nil
	}
	end := len(lines)
	for i := begin + 1; i < len(lines); i++ {
		if strings.Contains(lines[i], "END PROG LOAD LOG") {
			end = i
			break
		}
	}
	block := lines[begin+1 : end]
	// The verifier's message is the last line before its summary
	// ("Verification failed: ..." on newer kernels) or before the
	// "processed N insns" statistics.
	stop := -1
	for i, l := range block {
		if strings.HasPrefix(l, "Verification failed:") {
			stop = i
			break
		}
	}
	if stop < 0 {
		for i, l := range block {
			if strings.HasPrefix(l, "processed ") {
				stop = i
				break
			}
		}
	}
	if stop < 0 {
		stop = len(block)
	}
	msg, at := "", -1
	for i := stop - 1; i >= 0; i-- {
		if l := strings.TrimSpace(block[i]); l != "" {
			msg, at = l, i
			break
		}
	}
	what := "verifier rejected"
	if prog != "" {
		what += " " + prog
	}
	if msg != "" {
		what += ": " + msg
	}
	for i := stop; i+1 < len(block); i++ {
		if strings.TrimSpace(block[i]) == "At:" {
			what += " at " + strings.TrimSpace(block[i+1])
			break
		}
	}
	if at < 0 {
		return what, tail(block, 12)
	}
	return what, block[at:min(len(block), at+16)]
}

// missingFeature finds libbpf's or the loader's report of something the
// kernel lacks (a BTF type or member, a kfunc, an unsupported operation).
func missingFeature(lines []string) (string, []string) {
	keys := []string{"failed to find kernel BTF", "not found in kernel", "unknown func", "unsupported", "Operation not supported", "doesn't exist", "does not exist", "not supported"}
	for i, l := range lines {
		if strings.Contains(l, "skipping") { // libbpf's warnings about optional members
			continue
		}
		for _, k := range keys {
			if strings.Contains(l, k) {
				return "missing kernel feature: " + strings.TrimSpace(l), lines[max(0, i-3):min(len(lines), i+6)]
			}
		}
	}
	return "", nil
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

func head(ls []string, n int) []string {
	if len(ls) > n {
		return ls[:n]
	}
	return ls
}

func tail(ls []string, n int) []string {
	if len(ls) > n {
		return ls[len(ls)-n:]
	}
	return ls
}

// Find returns the first cell of the kernel, scheduler name (arguments
// aside) and scenario, or nil.
func (r *Report) Find(kernelName, scheduler, scenario string) *CellResult {
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Kernel == kernelName && c.Scheduler.Name == scheduler && c.Scenario == scenario {
			return c
		}
	}
	return nil
}

// WriteTable prints the matrix, one cell a row, then the excerpt of every
// failed cell.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KERNEL\tSCHEDULER\tSCENARIO\tSTART\tOUTCOME\tTIME\tREASON")
	for _, c := range r.Cells {
		el := "-"
		if c.Elapsed > 0 {
			el = fmt.Sprintf("%.1fs", c.Elapsed.Seconds())
		}
		start := "-"
		if c.Boot >= 0 && c.Boot < len(r.Boots) && r.Boots[c.Boot].Start != "" {
			start = r.Boots[c.Boot].Start
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Kernel, c.SchedulerName, c.Scenario, start, c.Outcome, el, oneLine(c.Reason, 110))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range r.Cells {
		if c.Outcome == OutcomePass || len(c.Excerpt) == 0 {
			continue
		}
		mode := ""
		if c.Cold {
			mode = "/cold"
		}
		fmt.Fprintf(w, "\n%s/%s/%s%s: %s: %s\n", c.Kernel, c.SchedulerName, c.Scenario, mode, c.Outcome, c.Reason)
		for _, l := range c.Excerpt {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	fmt.Fprintf(w, "\n%d cells, %d passed, %d boots, %.0fs\n", len(r.Cells), r.passed(), len(r.Boots), r.Wall.Seconds())
	return nil
}

func (r *Report) passed() int {
	n := 0
	for _, c := range r.Cells {
		if c.Outcome == OutcomePass {
			n++
		}
	}
	return n
}

func oneLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
}

// WriteJSON writes the report, indented, to path.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write matrix report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write matrix report: %w", err)
	}
	return nil
}
