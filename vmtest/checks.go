package vmtest

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/workload"
)

// Check names, as they appear in CheckFailure.Check and in Checks.Skip.
const (
	CheckNotStarved        = "not_starved"         // every worker made progress
	CheckIsolation         = "isolation"           // no cpu used outside the cgroup's cpuset
	CheckMaxGap            = "max_gap"             // no gap between progress checkpoints above MaxGap
	CheckFairness          = "fairness"            // cpu time spread within a workload set below FairnessSpreadPct
	CheckP99WakeLatency    = "p99_wake_latency"    // optional: p99 wake latency below MaxP99WakeLatency
	CheckWakeLatencyCV     = "wake_latency_cv"     // optional: wake latency CV below MaxWakeLatencyCV
	CheckMinIterationRate  = "min_iteration_rate"  // optional: iterations per second above MinIterationRate
	CheckMaxMigrationRatio = "max_migration_ratio" // optional: migrations per iteration below MaxMigrationRatio
	CheckSchedulerAttached = "scheduler_attached"  // the scheduler stayed attached: no ejection, enable_seq unchanged
	CheckNoWorkerCrash     = "no_worker_crash"     // every worker delivered its report
	CheckKernelClean       = "kernel_clean"        // no kernel WARNING, BUG, Oops or panic
	CheckJobCompleted      = "job_completed"       // the agent ran the job to its end
)

// CheckNames lists every check in evaluation order.
var CheckNames = []string{
	CheckJobCompleted, CheckSchedulerAttached, CheckNoWorkerCrash, CheckNotStarved,
	CheckIsolation, CheckMaxGap, CheckFairness, CheckP99WakeLatency,
	CheckWakeLatencyCV, CheckMinIterationRate, CheckMaxMigrationRatio, CheckKernelClean,
}

// Default thresholds (REFERENCE.md section 1).
const (
	DefaultMaxGap            = 2000 * time.Millisecond
	DefaultFairnessSpreadPct = 15.0
)

// Checks are the host-side pass/fail thresholds of a scenario. The zero
// value applies the defaults: not starved, isolation, max gap 2 s, fairness
// spread 15 %, scheduler attached, no worker crash, kernel clean. Optional
// checks are off while their threshold is zero.
type Checks struct {
	// Skip names checks not to evaluate (see CheckNames).
	Skip []string `json:"skip,omitempty" yaml:"skip,omitempty"`
	// MaxGap is the longest allowed gap between a worker's progress
	// checkpoints; zero means DefaultMaxGap.
	MaxGap time.Duration `json:"max_gap,omitempty" yaml:"max_gap,omitempty"`
	// FairnessSpreadPct is the largest allowed spread of cpu time among the
	// workers of one workload set, as (max-min)/max in percent; zero means
	// DefaultFairnessSpreadPct. Messengers of fan-out groups are excluded.
	FairnessSpreadPct float64 `json:"fairness_spread_pct,omitempty" yaml:"fairness_spread_pct,omitempty"`
	// MaxP99WakeLatency bounds each worker's p99 resume latency.
	MaxP99WakeLatency time.Duration `json:"max_p99_wake_latency,omitempty" yaml:"max_p99_wake_latency,omitempty"`
	// MaxWakeLatencyCV bounds each worker's resume latency coefficient of
	// variation (stddev/mean).
	MaxWakeLatencyCV float64 `json:"max_wake_latency_cv,omitempty" yaml:"max_wake_latency_cv,omitempty"`
	// MinIterationRate is the least outer iterations per second of wall
	// time each worker must reach.
	MinIterationRate float64 `json:"min_iteration_rate,omitempty" yaml:"min_iteration_rate,omitempty"`
	// MaxMigrationRatio bounds migrations per outer iteration per worker.
	MaxMigrationRatio float64 `json:"max_migration_ratio,omitempty" yaml:"max_migration_ratio,omitempty"`
}

// skips reports whether the named check is skipped.
func (c Checks) skips(name string) bool { return slices.Contains(c.Skip, name) }

func (c Checks) maxGap() time.Duration {
	if c.MaxGap > 0 {
		return c.MaxGap
	}
	return DefaultMaxGap
}

func (c Checks) fairness() float64 {
	if c.FairnessSpreadPct > 0 {
		return c.FairnessSpreadPct
	}
	return DefaultFairnessSpreadPct
}

// validate checks the thresholds and skip names.
func (c Checks) validate() error {
	for _, s := range c.Skip {
		if !slices.Contains(CheckNames, s) {
			return fmt.Errorf("unknown check %q in skip (allowed: %s)", s, strings.Join(CheckNames, ", "))
		}
	}
	switch {
	case c.MaxGap < 0:
		return fmt.Errorf("max_gap %v is negative", c.MaxGap)
	case c.FairnessSpreadPct < 0 || c.FairnessSpreadPct > 100:
		return fmt.Errorf("fairness_spread_pct %v is outside 0-100", c.FairnessSpreadPct)
	case c.MaxP99WakeLatency < 0, c.MaxWakeLatencyCV < 0, c.MinIterationRate < 0, c.MaxMigrationRatio < 0:
		return fmt.Errorf("optional check thresholds must not be negative")
	}
	return nil
}

// CheckFailure is one failed check.
type CheckFailure struct {
	// Check is the check's name (see CheckNames).
	Check string `json:"check"`
	// Cgroup and Worker locate the failure when it concerns one worker;
	// Worker is -1 otherwise.
	Cgroup string `json:"cgroup,omitempty"`
	Worker int    `json:"worker"`
	// Message says what was observed against what was expected.
	Message string `json:"message"`
}

func (f CheckFailure) String() string {
	var b strings.Builder
	b.WriteString(f.Check)
	if f.Cgroup != "" {
		fmt.Fprintf(&b, " [%s", f.Cgroup)
		if f.Worker >= 0 {
			fmt.Fprintf(&b, " worker %d", f.Worker)
		}
		b.WriteString("]")
	}
	b.WriteString(": ")
	b.WriteString(f.Message)
	return b.String()
}

// WorkerResult is one worker's raw report and where it ran.
type WorkerResult struct {
	// Cgroup is the cgroup the worker was spawned into.
	Cgroup string `json:"cgroup"`
	// Set numbers the worker's workload set in the scenario: the workload
	// configs of the cgroups in order, then those of spawn steps.
	Set int `json:"set"`
	// Kind is the set's work kind.
	Kind workload.WorkKind `json:"kind"`
	// Report is what the worker measured.
	Report workload.WorkerReport `json:"report"`
}

// checkInput is everything the checks look at for one scenario run.
type checkInput struct {
	scenario Scenario
	workers  []WorkerResult
	// sched is true when a sched_ext scheduler was supposed to be attached.
	sched bool
	// schedFailure is the attribution of a scheduler failure seen during the
	// job (ejection, death, load failure), empty when none.
	schedFailure string
	// enableSeqStart and enableSeqEnd are sched_ext's enable_seq at the
	// job's start and end (-1 when unknown).
	enableSeqStart, enableSeqEnd int64
	// kernelLog holds the kernel log lines of the job.
	kernelLog []string
	// incomplete says why the job did not complete, empty when it did.
	incomplete string
}

// evaluate runs every check that is not skipped and returns the failures.
func evaluate(in checkInput) []CheckFailure {
	c := in.scenario.Checks
	var out []CheckFailure
	add := func(check, cg string, w int, format string, args ...any) {
		out = append(out, CheckFailure{Check: check, Cgroup: cg, Worker: w, Message: fmt.Sprintf(format, args...)})
	}
	if !c.skips(CheckJobCompleted) && in.incomplete != "" {
		add(CheckJobCompleted, "", -1, "%s", in.incomplete)
	}
	if in.sched && !c.skips(CheckSchedulerAttached) {
		switch {
		case in.schedFailure != "":
			add(CheckSchedulerAttached, "", -1, "%s", in.schedFailure)
		case in.enableSeqStart >= 0 && in.enableSeqEnd >= 0 && in.enableSeqStart != in.enableSeqEnd:
			add(CheckSchedulerAttached, "", -1, "sched_ext enable_seq changed from %d to %d during the run (the scheduler was re-enabled)", in.enableSeqStart, in.enableSeqEnd)
		}
	}
	allowed := allowedCPUs(in.scenario.Scenario)
	for _, w := range in.workers {
		r := w.Report
		if !r.Completed {
			if !c.skips(CheckNoWorkerCrash) {
				add(CheckNoWorkerCrash, w.Cgroup, r.Index, "worker (%s, tid %d) did not report: %s", w.Kind, r.TID, describeExit(r.Exit))
			}
			continue
		}
		if !c.skips(CheckNotStarved) && r.Iterations == 0 {
			add(CheckNotStarved, w.Cgroup, r.Index, "worker (%s, tid %d) made no progress in %v", w.Kind, r.TID, time.Duration(r.WallTimeNs))
		}
		if cpus, ok := allowed[w.Cgroup]; ok && !c.skips(CheckIsolation) {
			var outside []int
			for _, cpu := range r.CPUsUsed {
				if !cpus[cpu] {
					outside = append(outside, cpu)
				}
			}
			if len(outside) > 0 {
				add(CheckIsolation, w.Cgroup, r.Index, "worker ran on cpus %s outside its cpuset %s", formatCPUs(outside), formatCPUSet(cpus))
			}
		}
		if gap := time.Duration(r.MaxGapMs) * time.Millisecond; !c.skips(CheckMaxGap) && gap > c.maxGap() {
			add(CheckMaxGap, w.Cgroup, r.Index, "worker stalled for %v (limit %v) on cpu %d, %d ms after start", gap, c.maxGap(), r.MaxGapCPU, r.MaxGapAtMs)
		}
		if lat := r.ResumeLatenciesNs; len(lat) > 0 {
			if c.MaxP99WakeLatency > 0 && !c.skips(CheckP99WakeLatency) {
				if p99 := time.Duration(percentile(lat, 99)); p99 > c.MaxP99WakeLatency {
					add(CheckP99WakeLatency, w.Cgroup, r.Index, "p99 wake latency %v above %v", p99, c.MaxP99WakeLatency)
				}
			}
			if c.MaxWakeLatencyCV > 0 && !c.skips(CheckWakeLatencyCV) {
				if cv := coefVar(lat); cv > c.MaxWakeLatencyCV {
					add(CheckWakeLatencyCV, w.Cgroup, r.Index, "wake latency CV %.2f above %.2f", cv, c.MaxWakeLatencyCV)
				}
			}
		}
		if c.MinIterationRate > 0 && !c.skips(CheckMinIterationRate) && r.WallTimeNs > 0 {
			if rate := float64(r.Iterations) / (float64(r.WallTimeNs) / 1e9); rate < c.MinIterationRate {
				add(CheckMinIterationRate, w.Cgroup, r.Index, "%.1f iterations/s below %.1f", rate, c.MinIterationRate)
			}
		}
		if c.MaxMigrationRatio > 0 && !c.skips(CheckMaxMigrationRatio) && r.Iterations > 0 {
			if ratio := float64(r.MigrationCount) / float64(r.Iterations); ratio > c.MaxMigrationRatio {
				add(CheckMaxMigrationRatio, w.Cgroup, r.Index, "%.3f migrations per iteration above %.3f", ratio, c.MaxMigrationRatio)
			}
		}
	}
	if !c.skips(CheckFairness) {
		out = append(out, fairness(in.workers, c.fairness())...)
	}
	if !c.skips(CheckKernelClean) {
		for _, l := range in.kernelLog {
			if kind := KernelIncident(l); kind != "" {
				add(CheckKernelClean, "", -1, "kernel %s: %s", kind, strings.TrimSpace(l))
				break
			}
		}
	}
	return out
}

// fairness compares the cpu time of the completed, non-messenger workers of
// each workload set.
func fairness(workers []WorkerResult, limit float64) []CheckFailure {
	type key struct {
		cgroup string
		set    int
	}
	sets := map[key][]workload.WorkerReport{}
	var order []key
	for _, w := range workers {
		if !w.Report.Completed || w.Report.IsMessenger {
			continue
		}
		k := key{w.Cgroup, w.Set}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], w.Report)
	}
	var out []CheckFailure
	for _, k := range order {
		rs := sets[k]
		if len(rs) < 2 {
			continue
		}
		lo, hi := rs[0], rs[0]
		for _, r := range rs[1:] {
			if r.CPUTimeNs < lo.CPUTimeNs {
				lo = r
			}
			if r.CPUTimeNs > hi.CPUTimeNs {
				hi = r
			}
		}
		if hi.CPUTimeNs == 0 {
			continue
		}
		spread := 100 * float64(hi.CPUTimeNs-lo.CPUTimeNs) / float64(hi.CPUTimeNs)
		if spread > limit {
			out = append(out, CheckFailure{
				Check: CheckFairness, Cgroup: k.cgroup, Worker: -1,
				Message: fmt.Sprintf("cpu time spread %.1f%% above %.1f%% in workload set %d: worker %d got %v, worker %d got %v",
					spread, limit, k.set, lo.Index, time.Duration(lo.CPUTimeNs), hi.Index, time.Duration(hi.CPUTimeNs)),
			})
		}
	}
	return out
}

// allowedCPUs returns, per cgroup with a cpuset, every cpu the cgroup's
// workers were allowed on at some point of the run: its initial cpuset and
// every cpuset given by a step (set, swap, add, or a move into another
// cgroup). A cgroup that was unrestricted at any time is left out.
func allowedCPUs(s protocol.Scenario) map[string]map[int]bool {
	sets := map[string][]string{}
	for _, cg := range s.Cgroups {
		sets[cg.Name] = append(sets[cg.Name], cg.CPUs)
	}
	current := map[string]string{}
	for _, cg := range s.Cgroups {
		current[cg.Name] = cg.CPUs
	}
	steps := slices.Clone(s.Steps)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].At < steps[j].At })
	movedTo := map[string][]string{}
	for _, st := range steps {
		switch st.Action {
		case protocol.StepSetCpuset, protocol.StepAddCgroup:
			current[st.Cgroup] = st.CPUs
			sets[st.Cgroup] = append(sets[st.Cgroup], st.CPUs)
		case protocol.StepSwapCpusets:
			a, b := current[st.Cgroup], current[st.Target]
			current[st.Cgroup], current[st.Target] = b, a
			sets[st.Cgroup] = append(sets[st.Cgroup], b)
			sets[st.Target] = append(sets[st.Target], a)
		case protocol.StepMoveTasks:
			movedTo[st.Cgroup] = append(movedTo[st.Cgroup], st.Target)
		}
	}
	// Moves: the moved workers may run anywhere their target allowed.
	for src, targets := range movedTo {
		for _, t := range targets {
			sets[src] = append(sets[src], sets[t]...)
		}
	}
	out := map[string]map[int]bool{}
	for name, lists := range sets {
		cpus := map[int]bool{}
		unrestricted := false
		for _, l := range lists {
			parsed, err := parseCPUList(l)
			if err != nil || len(parsed) == 0 {
				unrestricted = true
				break
			}
			for _, c := range parsed {
				cpus[c] = true
			}
		}
		if !unrestricted {
			out[name] = cpus
		}
	}
	return out
}

// parseCPUList parses a cpuset list such as "0-2,5".
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		var a, b int
		if _, err := fmt.Sscanf(lo, "%d", &a); err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list %q: bad cpu %q", s, lo)
		}
		b = a
		if isRange {
			if _, err := fmt.Sscanf(hi, "%d", &b); err != nil || b < a {
				return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

func formatCPUSet(m map[int]bool) string {
	var cpus []int
	for c := range m {
		cpus = append(cpus, c)
	}
	return formatCPUs(cpus)
}

// formatCPUs formats cpus as a cpuset list ("0-2,5").
func formatCPUs(cpus []int) string {
	cpus = slices.Clone(cpus)
	slices.Sort(cpus)
	cpus = slices.Compact(cpus)
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func describeExit(e workload.ExitInfo) string {
	switch e.Kind {
	case workload.ExitExited:
		return fmt.Sprintf("exited with code %d", e.Code)
	case workload.ExitSignaled:
		return fmt.Sprintf("killed by signal %d", e.Signal)
	case workload.ExitTimedOut:
		return "missed the collection deadline and was SIGKILLed"
	case workload.ExitWaitFailed:
		return "wait failed: " + e.Message
	}
	if e.Message != "" {
		return e.Message
	}
	return "no exit information"
}

// percentile returns the p-th percentile (nearest rank) of samples.
func percentile(samples []uint64, p float64) uint64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// coefVar returns stddev/mean of samples.
func coefVar(samples []uint64) float64 {
	if len(samples) < 2 {
		return 0
	}
	var sum float64
	for _, v := range samples {
		sum += float64(v)
	}
	mean := sum / float64(len(samples))
	if mean == 0 {
		return 0
	}
	var sq float64
	for _, v := range samples {
		d := float64(v) - mean
		sq += d * d
	}
	return math.Sqrt(sq/float64(len(samples))) / mean
}

// kernelIncidentMarkers maps console and kernel log markers to the
// incident they reveal, most severe first.
var kernelIncidentMarkers = []struct{ marker, kind string }{
	{"Kernel panic - not syncing", "panic"},
	{"Oops:", "oops"},
	{"BUG:", "BUG"},
	{"kernel BUG at", "BUG"},
	{"WARNING:", "WARNING"},
	{"rcu_sched self-detected stall", "RCU stall"},
	{"rcu: INFO: rcu_preempt detected stalls", "RCU stall"},
	{"detected stalls on CPUs/tasks", "RCU stall"},
	{"blocked for more than", "hung task"},
}

// KernelIncident returns the kind of kernel incident a log line reports
// ("panic", "oops", "BUG", "WARNING", "RCU stall", "hung task"), or "".
func KernelIncident(line string) string {
	for _, m := range kernelIncidentMarkers {
		if strings.Contains(line, m.marker) {
			return m.kind
		}
	}
	return ""
}
