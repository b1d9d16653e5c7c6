package matrix

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/scxvm/scxvm/internal/jsonfile"
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
	OutcomeSkipped      Outcome = "skipped"       // left out by the budget
)

// Class groups outcomes by what a CI engine and an exit code make of them.
type Class int

// Classes of outcomes.
const (
	ClassPass   Class = iota
	ClassFail         // a verdict against the scheduler or kernel
	ClassSkip         // no verdict: the kernel lacks sched_ext, or the budget left the cell out
	ClassError        // no verdict: the infrastructure failed or the cell was invalid
	ClassNotRun       // no verdict: interrupted
)

// Class returns o's class: vmtest's failure kinds are ClassFail.
func (o Outcome) Class() Class {
	switch o {
	case OutcomePass:
		return ClassPass
	case OutcomeNotSupported, OutcomeSkipped:
		return ClassSkip
	case OutcomeConfig, OutcomeInfra:
		return ClassError
	case OutcomeNotRun:
		return ClassNotRun
	}
	return ClassFail
}

// Count returns how many cells of r are of each class.
func (r *Report) Count() map[Class]int {
	n := map[Class]int{}
	for _, c := range r.Cells {
		n[c.Outcome.Class()]++
	}
	return n
}

// Defaults are the settings (arguments, attach timeout) AllCells gives an
// example scheduler; schedulers not listed run without arguments and with
// vmtest's default attach timeout. scx_pair creates 4096 BPF maps before
// it attaches, which takes 5-40 s under TCG on a busy host.
var Defaults = map[string]spec.Scheduler{
	"scx_pair": {AttachTimeout: 45 * time.Second},
}

// Cell is one run of the matrix: a scenario under a scheduler on a kernel
// booted with a topology. A field that changes the boot a cell needs
// belongs in bootKey as well as in Key.
type Cell struct {
	// Kernel is a kernel as vmtest.Config.Kernel takes it: a name known
	// to package kernel ("debian", "6.12"), an image's path or a built
	// kernel tree.
	Kernel string `json:"kernel"`
	// Topology is a topology preset ("1n1l2c1t", see ExpandTopologies);
	// empty means Config.Base's topology.
	Topology string `json:"topology,omitempty"`
	// Scheduler is the scheduler under test.
	Scheduler spec.Scheduler `json:"scheduler"`
	// Scenario names a built-in scenario or a key of Config.Scenarios.
	Scenario string `json:"scenario"`
	// Index is the cell's position in its whole plan (Spec.Plan). It
	// stays with the cell through sharding, so that merged shards come
	// back in the plan's order. Run numbers cells that all have 0 by
	// their position in Config.Cells.
	Index int `json:"index"`
	// Cold runs the cell in a cold boot (vmtest.Config.Cold); by default
	// a boot starts warm from the snapshot of its kernel's machine (the
	// first boot of a machine boots cold and saves it). Cold and warm
	// cells run in separate boots.
	Cold bool `json:"cold,omitempty"`
}

// Key identifies a cell in a plan: kernel/scheduler/scenario, followed by
// @topology when the cell has one and /cold for a cold cell.
func (c Cell) Key() string {
	k := c.Kernel + "/" + c.Scheduler.String() + "/" + c.Scenario
	if c.Topology != "" {
		k += "@" + c.Topology
	}
	if c.Cold {
		k += "/cold"
	}
	return k
}

func (c Cell) String() string { return c.Key() }

// bootKey is what cells that can share a boot have in common: kernel,
// topology and mode.
func (c Cell) bootKey() string {
	k := c.Kernel + "@" + c.Topology
	if c.Cold {
		k += " (cold)"
	}
	return k
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
	// Cells are run grouped by kernel and topology (one boot for each,
	// more when a cell loses the guest), scenario-major in each group.
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
	// OnCell, when set, is called with each cell's result as its boot
	// ends, never concurrently.
	OnCell func(CellResult)
	// Jobs is how many guests may run at once (zero: one). A boot
	// starts only when Host has room for it (admission).
	Jobs int
	// Host is the room guests share; zero fields are probed (ProbeHost).
	Host Host

	// boot replaces vmtest.Run in tests.
	boot func(context.Context, vmtest.Config) (*vmtest.Result, error)
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
	// Boot indexes Report.Boots; -1 when the cell had no boot.
	Boot int `json:"boot"`
	// Result is vmtest's full scenario result, when the cell ran.
	Result *vmtest.ScenarioResult `json:"result,omitempty"`
}

// Boot is one guest boot of a matrix run.
type Boot struct {
	Kernel        string `json:"kernel"`
	Topology      string `json:"topology,omitempty"`
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

// Report is a matrix run's outcome: a whole plan's, a shard's, or a
// merge of shards (Merge).
type Report struct {
	Cells []CellResult  `json:"cells"`
	Boots []Boot        `json:"boots"`
	Wall  time.Duration `json:"wall_ns"`
	// Plan identifies the whole plan the cells belong to (Plan.ID) and
	// PlanCells is its number of cells; RunPlan sets both, Merge checks
	// them.
	Plan      string `json:"plan,omitempty"`
	PlanCells int    `json:"plan_cells,omitempty"`
	// Shard is "I/N" for one shard of a plan; Shards lists the shards a
	// merged report was made of.
	Shard  string   `json:"shard,omitempty"`
	Shards []string `json:"shards,omitempty"`
}

// Run runs every cell; see the package documentation. It returns an error
// only when ctx ends (the report then holds the cells that ran and the
// rest as OutcomeNotRun) or when a cell names an unknown scenario or
// topology; failed cells are outcomes, not errors.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	defer func() { rep.Wall = time.Since(start) }()
	cells := slices.Clone(cfg.Cells)
	if !slices.ContainsFunc(cells, func(c Cell) bool { return c.Index != 0 }) {
		for i := range cells {
			cells[i].Index = i
		}
	}
	var groups [][]Cell
	at := map[string]int{}
	for _, c := range cells {
		if _, err := cfg.scenario(c.Scenario); err != nil {
			return rep, err
		}
		if _, err := cfg.topology(c); err != nil {
			return rep, err
		}
		i, ok := at[c.bootKey()]
		if !ok {
			i = len(groups)
			at[c.bootKey()] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], c)
	}
	// More jobs than boots: split the largest groups, a boot more for
	// each, so that every job has a boot to run.
	for len(groups) < cfg.Jobs {
		i := 0
		for j, g := range groups {
			if len(g) > len(groups[i]) {
				i = j
			}
		}
		if len(groups) == 0 || len(groups[i]) < 2 {
			break
		}
		g := groups[i]
		groups[i] = g[:len(g)/2]
		groups = slices.Insert(groups, i+1, g[len(g)/2:])
	}
	defer rep.sortByIndex()
	host := cfg.Host
	if host.CPUs <= 0 || host.MemoryMB <= 0 {
		probed, err := ProbeHost()
		if err != nil {
			return rep, err
		}
		host.CPUs = cmp.Or(max(host.CPUs, 0), probed.CPUs)
		host.MemoryMB = cmp.Or(max(host.MemoryMB, 0), probed.MemoryMB)
	}
	r := &runner{cfg: cfg, rep: rep, pool: newPool(host), tcg: isTCG(cfg.Base.Accel)}
	work := make(chan []Cell)
	var wg sync.WaitGroup
	for range max(1, min(cfg.Jobs, len(groups))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				r.group(ctx, g)
			}
		}()
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()
	return rep, ctx.Err()
}

// runner runs the boot groups of one Run, several at once.
type runner struct {
	cfg  Config
	tcg  bool // the guests run under TCG
	pool *pool
	mu   sync.Mutex // guards rep and the OnCell calls
	rep  *Report
}

// group runs the cells of one boot key, booting again after a cell that
// lost the guest.
func (r *runner) group(ctx context.Context, cells []Cell) {
	pending := interleave(cells)
	for len(pending) > 0 {
		vc, err := r.config(pending)
		if err == nil {
			err = r.pool.acquire(ctx, r.need(vc))
		}
		if err != nil {
			r.mu.Lock()
			r.add(notRun(pending, -1, err)...)
			r.mu.Unlock()
			return
		}
		ran := r.boot(ctx, vc, pending)
		r.pool.release(r.need(vc))
		if ran == 0 {
			return // the boot ran nothing: its error ended every pending cell
		}
		pending = pending[ran:]
	}
}

func (c *Config) topology(cell Cell) (spec.Topology, error) {
	if cell.Topology == "" {
		return c.Base.Topology, nil
	}
	t, err := spec.ParseTopology(cell.Topology)
	if err != nil {
		return t, fmt.Errorf("matrix: cell %s: %w", cell, err)
	}
	return t, nil
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

// config is the vmtest configuration of one boot of cells (all with one
// boot key).
func (r *runner) config(cells []Cell) (vmtest.Config, error) {
	vc := r.cfg.Base
	vc.Kernel = cells[0].Kernel
	topo, err := r.cfg.topology(cells[0])
	if err != nil {
		return vc, err
	}
	vc.Topology = topo
	vc.Scheduler = spec.Scheduler{}
	// Each job loads its scheduler afresh and unloads it at its end, so
	// that what a scheduler does on its way out is part of its cell.
	vc.RestartScheduler = true
	vc.Compare, vc.CompareArgs, vc.Repeat = "", nil, 0 // one run per cell
	vc.Cold = vc.Cold || cells[0].Cold
	vc.Scenarios = nil
	for _, c := range cells {
		sc, _ := r.cfg.scenario(c.Scenario)
		sched := c.Scheduler
		sc.Scheduler = &sched
		vc.Scenarios = append(vc.Scenarios, sc)
	}
	return vc, nil
}

// boot runs cells (all with one boot key) in one boot and records their
// results. It returns how many cells ran; when none did, every cell is
// recorded with the boot's error.
func (r *runner) boot(ctx context.Context, vc vmtest.Config, cells []Cell) int {
	run := r.cfg.boot
	if run == nil {
		run = vmtest.Run
	}
	res, err := run(ctx, vc)
	b := Boot{Kernel: cells[0].Kernel, Topology: cells[0].Topology, Cells: len(cells)}
	if err != nil {
		b.Error = err.Error()
	}
	if res != nil {
		b.Start, b.StartNote = res.Start, res.StartNote
		b.KernelRelease = res.Kernel.Release
		b.BootToHello, b.Wall, b.ConsoleLog = res.BootToHello, res.Wall, res.ConsoleLog
	}
	var out []CellResult
	ran := 0
	if res != nil {
		for i := range res.Scenarios {
			sr := &res.Scenarios[i]
			if sr.Baseline || ran >= len(cells) {
				continue
			}
			out = append(out, fromScenario(cells[ran], sr))
			ran++
		}
	}
	if ran == 0 {
		if ctx.Err() != nil {
			out = notRun(cells, 0, ctx.Err())
		} else {
			for _, c := range cells {
				out = append(out, fromError(c, res, err))
			}
		}
	} else {
		b.Cells = ran
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	idx := len(r.rep.Boots)
	r.rep.Boots = append(r.rep.Boots, b)
	for i := range out {
		out[i].Boot = idx
	}
	r.add(out...)
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

// sortByIndex puts the report's cells in the order of their plan.
func (r *Report) sortByIndex() {
	slices.SortStableFunc(r.Cells, func(a, b CellResult) int { return a.Index - b.Index })
}

// add records cell results; r.mu must be held.
func (r *runner) add(crs ...CellResult) {
	for _, cr := range crs {
		r.rep.Cells = append(r.rep.Cells, cr)
		if r.cfg.OnCell != nil {
			r.cfg.OnCell(cr)
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
				ex = append(ex, sr.FailureText(cf))
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
	topo := slices.ContainsFunc(r.Cells, func(c CellResult) bool { return c.Topology != "" })
	if topo {
		fmt.Fprintln(tw, "KERNEL\tTOPOLOGY\tSCHEDULER\tSCENARIO\tSTART\tOUTCOME\tTIME\tREASON")
	} else {
		fmt.Fprintln(tw, "KERNEL\tSCHEDULER\tSCENARIO\tSTART\tOUTCOME\tTIME\tREASON")
	}
	for _, c := range r.Cells {
		el := "-"
		if c.Elapsed > 0 {
			el = fmt.Sprintf("%.1fs", c.Elapsed.Seconds())
		}
		k := c.Kernel
		if topo {
			k += "\t" + c.Topology
		}
		start := "-"
		if c.Boot >= 0 && c.Boot < len(r.Boots) && r.Boots[c.Boot].Start != "" {
			start = r.Boots[c.Boot].Start
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k, c.SchedulerName, c.Scenario, start, c.Outcome, el, oneLine(c.Reason, 110))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range r.Cells {
		if c.Outcome == OutcomePass || len(c.Excerpt) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s: %s\n", c.Key(), c.Outcome, c.Reason)
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
	return jsonfile.Write(path, "matrix report", r)
}
