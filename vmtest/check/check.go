// Package check is vmtest's check engine: it judges one scenario run from
// its raw evidence (worker reports, the guest's stall watch, the kernel
// log, the scheduler's state) against the scenario's spec.Checks, and
// owns the evidence types it judges and the failures it reports. It makes
// no I/O.
package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// Failure is one failed check.
type Failure struct {
	// Check is the check's name (see spec.CheckNames).
	Check string `json:"check"`
	// Cgroup and Worker locate the failure when it concerns one worker;
	// Worker is -1 otherwise.
	Cgroup string `json:"cgroup,omitempty"`
	Worker int    `json:"worker"`
	// Message says what was observed against what was expected.
	Message string `json:"message"`
}

func (f Failure) String() string {
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

// Worker is one worker's raw report and where it ran.
type Worker struct {
	// Cgroup is the cgroup the worker was spawned into.
	Cgroup string `json:"cgroup"`
	// Set numbers the worker's workload set in the scenario: the workload
	// configs of the cgroups in order, then those of spawn steps.
	Set int `json:"set"`
	// Kind is the set's work kind.
	Kind spec.WorkKind `json:"kind"`
	// Report is what the worker measured.
	Report spec.WorkerReport `json:"report"`
}

// Input is everything the checks look at for one scenario run.
type Input struct {
	Scenario spec.Scenario
	Workers  []Worker
	// Sched is true when a sched_ext scheduler was supposed to be attached.
	Sched bool
	// SchedFailure is the attribution of a scheduler failure seen during
	// the job (ejection, death, load failure), empty when none.
	SchedFailure string
	// EnableSeqStart and EnableSeqEnd are sched_ext's enable_seq at the
	// job's start and end (-1 when unknown).
	EnableSeqStart, EnableSeqEnd int64
	// KernelLog holds the kernel log lines of the job.
	KernelLog []string
	// Incomplete says why the job did not complete, empty when it did.
	Incomplete string
	// StallWatch is what the guest-wide stall watch saw, nil when it sent
	// nothing; WorkerInfo maps worker pids to cgroups and indexes.
	StallWatch *StallWatch
	WorkerInfo []protocol.WorkerInfo
	// Rates are the progress samples' rates per cgroup, in time order
	// (the rate_dip check); nil when there were none.
	Rates []RateSample
	// CPUNode maps each guest cpu to its NUMA node (the numa_locality
	// check, evaluated only when it names more than one node); nil when
	// unknown.
	CPUNode []int
	// Payloads are the scenario's payload commands and how they ended,
	// for check payload_exit.
	Payloads []Payload
}

// Payload is how one payload command ended, beside what its scenario
// expected of it.
type Payload struct {
	// Name is the payload's label (spec.Payload.Label).
	Name string
	// ExpectExit is the spec's expect_exit: nil when the exit status does
	// not count.
	ExpectExit *int
	// ExitCode is nil when the command did not exit by itself; Signal,
	// TimedOut and Error say why.
	ExitCode *int
	Signal   int
	TimedOut bool
	Error    string
	Duration time.Duration
	// Missing means the job's result did not list the payload.
	Missing bool
}

// Verdict says why p fails check payload_exit, or "" when it passes or
// its exit status does not count: "exited 3 (expect_exit 0)", "timed
// out after 10m0s and was killed", "killed by signal 11", "could not
// start: ...".
func (p Payload) Verdict() string {
	if p.ExpectExit == nil {
		return ""
	}
	want := *p.ExpectExit
	switch {
	case p.Missing:
		return "has no result (the job did not report it)"
	case p.Error != "" && p.ExitCode == nil && p.Duration == 0:
		return "could not start: " + p.Error
	case p.TimedOut:
		return fmt.Sprintf("timed out after %v and was killed (expect_exit %d)", p.Duration.Round(time.Millisecond), want)
	case p.Signal != 0:
		return fmt.Sprintf("was killed by signal %d (%v) (expect_exit %d)", p.Signal, syscall.Signal(p.Signal), want)
	case p.ExitCode == nil:
		return fmt.Sprintf("has no exit status: %s (expect_exit %d)", p.Error, want)
	case *p.ExitCode != want:
		return fmt.Sprintf("exited %d (expect_exit %d)", *p.ExitCode, want)
	}
	return ""
}

// Evaluate runs every check of in.Scenario that is not skipped and
// returns the failures, in spec.CheckNames order per worker.
func Evaluate(in Input) []Failure {
	c := in.Scenario.Checks
	var out []Failure
	add := func(check, cg string, w int, format string, args ...any) {
		out = append(out, Failure{Check: check, Cgroup: cg, Worker: w, Message: fmt.Sprintf(format, args...)})
	}
	if !c.Skips(spec.CheckJobCompleted) && in.Incomplete != "" {
		add(spec.CheckJobCompleted, "", -1, "%s", in.Incomplete)
	}
	if in.Sched && !c.Skips(spec.CheckSchedulerAttached) {
		switch {
		case in.SchedFailure != "":
			add(spec.CheckSchedulerAttached, "", -1, "%s", in.SchedFailure)
		case in.EnableSeqStart >= 0 && in.EnableSeqEnd >= 0 && in.EnableSeqStart != in.EnableSeqEnd:
			add(spec.CheckSchedulerAttached, "", -1, "sched_ext enable_seq changed from %d to %d during the run (the scheduler was re-enabled)", in.EnableSeqStart, in.EnableSeqEnd)
		}
	}
	allowed := allowedCPUs(in.Scenario)
	for _, w := range in.Workers {
		r := w.Report
		if !r.Completed {
			if !c.Skips(spec.CheckNoWorkerCrash) {
				add(spec.CheckNoWorkerCrash, w.Cgroup, r.Index, "worker (%s, tid %d) did not report: %s", w.Kind, r.TID, DescribeExit(r.Exit))
			}
			continue
		}
		if !c.Skips(spec.CheckNotStarved) && r.Iterations == 0 {
			add(spec.CheckNotStarved, w.Cgroup, r.Index, "worker (%s, tid %d) made no progress in %v", w.Kind, r.TID, time.Duration(r.WallTimeNs))
		}
		if cpus, ok := allowed[w.Cgroup]; ok && !c.Skips(spec.CheckIsolation) {
			if outside := spec.NewCPUSet(r.CPUsUsed...).Difference(cpus); !outside.IsEmpty() {
				add(spec.CheckIsolation, w.Cgroup, r.Index, "worker ran on cpus %s outside its cpuset %s", outside, cpus)
			}
		}
		if gap := time.Duration(r.MaxGapMs) * time.Millisecond; !c.Skips(spec.CheckMaxGap) && gap > c.MaxGapOrDefault() {
			add(spec.CheckMaxGap, w.Cgroup, r.Index, "worker stalled for %v (limit %v) on cpu %d, %d ms after start", gap, c.MaxGapOrDefault(), r.MaxGapCPU, r.MaxGapAtMs)
		}
		if lat := r.ResumeLatenciesNs; len(lat) > 0 {
			if c.MaxP99WakeLatency > 0 && !c.Skips(spec.CheckP99WakeLatency) {
				if p99 := time.Duration(spec.Percentile(lat, 0.99)); p99 > c.MaxP99WakeLatency {
					add(spec.CheckP99WakeLatency, w.Cgroup, r.Index, "p99 wake latency %v above %v", p99, c.MaxP99WakeLatency)
				}
			}
			if c.MaxWakeLatencyCV > 0 && !c.Skips(spec.CheckWakeLatencyCV) {
				if cv := spec.CVUint64(lat); cv > c.MaxWakeLatencyCV {
					add(spec.CheckWakeLatencyCV, w.Cgroup, r.Index, "wake latency CV %.2f above %.2f", cv, c.MaxWakeLatencyCV)
				}
			}
		}
		if c.MinIterationRate > 0 && !c.Skips(spec.CheckMinIterationRate) && r.WallTimeNs > 0 {
			if rate := float64(r.Iterations) / (float64(r.WallTimeNs) / 1e9); rate < c.MinIterationRate {
				add(spec.CheckMinIterationRate, w.Cgroup, r.Index, "%.1f iterations/s below %.1f", rate, c.MinIterationRate)
			}
		}
		if c.MaxMigrationRatio > 0 && !c.Skips(spec.CheckMaxMigrationRatio) && r.Iterations > 0 {
			if ratio := float64(r.MigrationCount) / float64(r.Iterations); ratio > c.MaxMigrationRatio {
				add(spec.CheckMaxMigrationRatio, w.Cgroup, r.Index, "%.3f migrations per iteration above %.3f", ratio, c.MaxMigrationRatio)
			}
		}
	}
	if !c.Skips(spec.CheckFairness) {
		out = append(out, fairness(in.Workers, c.FairnessOrDefault())...)
	}
	if c.MaxThroughputCV > 0 && !c.Skips(spec.CheckThroughputCV) {
		out = append(out, throughputCV(in.Workers, c.MaxThroughputCV)...)
	}
	if c.MinNUMALocalityPct > 0 && !c.Skips(spec.CheckNUMALocality) {
		out = append(out, numaLocality(in.Workers, in.CPUNode, c.MinNUMALocalityPct)...)
	}
	if c.RateDipPct > 0 && c.RateDipFor > 0 && !c.Skips(spec.CheckRateDip) {
		out = append(out, rateDips(in.Rates, c.RateDipPct, c.RateDipFor)...)
	}
	if !c.Skips(spec.CheckNoStalledTask) {
		out = append(out, stalledTasks(in.StallWatch, c.MaxRunnableWaitOrDefault(), in.WorkerInfo)...)
	}
	if !c.Skips(spec.CheckPayloadExit) {
		for _, p := range in.Payloads {
			if v := p.Verdict(); v != "" {
				add(spec.CheckPayloadExit, "", -1, "payload %s %s", p.Name, v)
			}
		}
	}
	if !c.Skips(spec.CheckKernelClean) {
		for _, l := range in.KernelLog {
			if kind, ok := ktext.Detect(l); ok {
				add(spec.CheckKernelClean, "", -1, "kernel %s: %s", kind, strings.TrimSpace(l))
				break
			}
		}
	}
	return out
}

// setKey names one workload set.
type setKey struct {
	cgroup string
	set    int
}

// workloadSets groups the completed, non-messenger workers by workload
// set, in first-seen order.
func workloadSets(workers []Worker) ([]setKey, map[setKey][]spec.WorkerReport) {
	sets := map[setKey][]spec.WorkerReport{}
	var order []setKey
	for _, w := range workers {
		if !w.Report.Completed || w.Report.IsMessenger {
			continue
		}
		k := setKey{w.Cgroup, w.Set}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], w.Report)
	}
	return order, sets
}

// fairness compares the cpu time of the completed, non-messenger workers of
// each workload set.
// FairnessMinCPU is the cpu time the best-served worker of a workload set
// needs for the fairness check to judge the set. Below it each worker ran
// a few time slices (20 ms by default in sched_ext): a worker that mostly
// yields or sleeps got 9 ms against its twin's 30 ms under fifo on a busy
// TCG host, a 70% spread made of one slice more.
const FairnessMinCPU = 100 * time.Millisecond

func fairness(workers []Worker, limit float64) []Failure {
	order, sets := workloadSets(workers)
	var out []Failure
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
		if hi.CPUTimeNs < uint64(FairnessMinCPU) {
			continue // a few slices each: the spread is noise
		}
		spread := 100 * float64(hi.CPUTimeNs-lo.CPUTimeNs) / float64(hi.CPUTimeNs)
		if spread > limit {
			out = append(out, Failure{
				Check: spec.CheckFairness, Cgroup: k.cgroup, Worker: -1,
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
func allowedCPUs(s spec.Scenario) map[string]spec.CPUSet {
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
		case spec.StepSetCpuset, spec.StepAddCgroup:
			current[st.Cgroup] = st.CPUs
			sets[st.Cgroup] = append(sets[st.Cgroup], st.CPUs)
		case spec.StepSwapCpusets:
			a, b := current[st.Cgroup], current[st.Target]
			current[st.Cgroup], current[st.Target] = b, a
			sets[st.Cgroup] = append(sets[st.Cgroup], b)
			sets[st.Target] = append(sets[st.Target], a)
		case spec.StepMoveTasks:
			movedTo[st.Cgroup] = append(movedTo[st.Cgroup], st.Target)
		}
	}
	// Moves: the moved workers may run anywhere their target allowed.
	for src, targets := range movedTo {
		for _, t := range targets {
			sets[src] = append(sets[src], sets[t]...)
		}
	}
	out := map[string]spec.CPUSet{}
	for name, lists := range sets {
		var cpus spec.CPUSet
		unrestricted := false
		for _, l := range lists {
			parsed, err := spec.ParseCPUSet(l)
			if err != nil || parsed.IsEmpty() {
				unrestricted = true
				break
			}
			cpus = cpus.Union(parsed)
		}
		if !unrestricted {
			out[name] = cpus
		}
	}
	return out
}

// DescribeExit says how a worker that did not report ended.
func DescribeExit(e spec.ExitInfo) string {
	switch e.Kind {
	case spec.ExitExited:
		return fmt.Sprintf("exited with code %d", e.Code)
	case spec.ExitSignaled:
		return fmt.Sprintf("killed by signal %d", e.Signal)
	case spec.ExitTimedOut:
		return "missed the collection deadline and was SIGKILLed"
	case spec.ExitWaitFailed:
		return "wait failed: " + e.Message
	}
	if e.Message != "" {
		return e.Message
	}
	return "no exit information"
}
