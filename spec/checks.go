package spec

import (
	"slices"
	"strings"
	"time"
)

// Check names, as they appear in check failures and in Checks.Skip.
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
	CheckNoStalledTask     = "no_stalled_task"     // no task of the guest stayed runnable without running above MaxRunnableWait
	CheckPayloadExit       = "payload_exit"        // every payload with expect_exit exited with that status
)

// CheckNames lists every check in evaluation order.
var CheckNames = []string{
	CheckJobCompleted, CheckSchedulerAttached, CheckNoWorkerCrash, CheckNotStarved,
	CheckIsolation, CheckMaxGap, CheckFairness, CheckP99WakeLatency,
	CheckWakeLatencyCV, CheckMinIterationRate, CheckMaxMigrationRatio, CheckNoStalledTask,
	CheckKernelClean, CheckPayloadExit,
}

// Default thresholds (REFERENCE.md section 1).
const (
	DefaultMaxGap            = 2000 * time.Millisecond
	DefaultFairnessSpreadPct = 15.0
	// DefaultMaxRunnableWait bounds how long any task of the guest may
	// stay runnable without running: the workers' DefaultMaxGap, well
	// below the kernel's sched_ext watchdog (30 s by default, 5 s in the
	// example schedulers that set it), and above the waits EEVDF and a
	// global FIFO cause on the catalogue in a 2-cpu TCG guest on a loaded
	// host (up to about 0.8 s).
	DefaultMaxRunnableWait = 2 * time.Second
	// MinMaxRunnableWait is the smallest MaxRunnableWait accepted: the
	// guest samples its tasks every MaxRunnableWait/8, and never more
	// often than every 100 ms.
	MinMaxRunnableWait = 500 * time.Millisecond
)

// Checks are the host-side pass/fail thresholds of a scenario. The zero
// value applies the defaults: not starved, isolation, max gap 2 s, fairness
// spread 15 %, no task of the guest runnable without running for more
// than 2 s, scheduler attached, no worker crash, kernel clean. Optional
// checks are off while their threshold is zero.
type Checks struct {
	// Skip names checks not to evaluate (see CheckNames).
	Skip []string `msgpack:"skip,omitempty" json:"skip,omitempty" yaml:"skip,omitempty"`
	// MaxGap is the longest allowed gap between a worker's progress
	// checkpoints; zero means DefaultMaxGap.
	MaxGap time.Duration `msgpack:"max_gap,omitempty" json:"max_gap,omitempty" yaml:"max_gap,omitempty"`
	// FairnessSpreadPct is the largest allowed spread of cpu time among the
	// workers of one workload set, as (max-min)/max in percent; zero means
	// DefaultFairnessSpreadPct. Messengers of fan-out groups are excluded.
	FairnessSpreadPct float64 `msgpack:"fairness_spread_pct,omitempty" json:"fairness_spread_pct,omitempty" yaml:"fairness_spread_pct,omitempty"`
	// MaxP99WakeLatency bounds each worker's p99 resume latency.
	MaxP99WakeLatency time.Duration `msgpack:"max_p99_wake_latency,omitempty" json:"max_p99_wake_latency,omitempty" yaml:"max_p99_wake_latency,omitempty"`
	// MaxWakeLatencyCV bounds each worker's resume latency coefficient of
	// variation (stddev/mean).
	MaxWakeLatencyCV float64 `msgpack:"max_wake_latency_cv,omitempty" json:"max_wake_latency_cv,omitempty" yaml:"max_wake_latency_cv,omitempty"`
	// MinIterationRate is the least outer iterations per second of wall
	// time each worker must reach.
	MinIterationRate float64 `msgpack:"min_iteration_rate,omitempty" json:"min_iteration_rate,omitempty" yaml:"min_iteration_rate,omitempty"`
	// MaxMigrationRatio bounds migrations per outer iteration per worker.
	MaxMigrationRatio float64 `msgpack:"max_migration_ratio,omitempty" json:"max_migration_ratio,omitempty" yaml:"max_migration_ratio,omitempty"`
	// MaxRunnableWait is the longest any task of the guest (workers,
	// kernel threads, the agent) may stay runnable without running; zero
	// means DefaultMaxRunnableWait. The guest samples every task while a
	// job runs, so waits are measured to within the sampling interval.
	MaxRunnableWait time.Duration `msgpack:"max_runnable_wait,omitempty" json:"max_runnable_wait,omitempty" yaml:"max_runnable_wait,omitempty"`
}

// Skips reports whether the named check is skipped.
func (c Checks) Skips(name string) bool { return slices.Contains(c.Skip, name) }

// MaxGapOrDefault returns MaxGap with the default applied.
func (c Checks) MaxGapOrDefault() time.Duration {
	if c.MaxGap > 0 {
		return c.MaxGap
	}
	return DefaultMaxGap
}

// MaxRunnableWaitOrDefault returns MaxRunnableWait with the default
// applied.
func (c Checks) MaxRunnableWaitOrDefault() time.Duration {
	if c.MaxRunnableWait > 0 {
		return c.MaxRunnableWait
	}
	return DefaultMaxRunnableWait
}

// FairnessOrDefault returns FairnessSpreadPct with the default applied.
func (c Checks) FairnessOrDefault() float64 {
	if c.FairnessSpreadPct > 0 {
		return c.FairnessSpreadPct
	}
	return DefaultFairnessSpreadPct
}

// Validate checks the thresholds and skip names; paths are relative to
// the checks.
func (c Checks) Validate() error {
	for _, s := range c.Skip {
		if !slices.Contains(CheckNames, s) {
			return invalid("skip", "unknown check %q (allowed: %s)", s, strings.Join(CheckNames, ", "))
		}
	}
	switch {
	case c.MaxGap < 0:
		return invalid("max_gap", "%v is negative", c.MaxGap)
	case c.FairnessSpreadPct < 0 || c.FairnessSpreadPct > 100:
		return invalid("fairness_spread_pct", "%v is outside 0-100", c.FairnessSpreadPct)
	case c.MaxP99WakeLatency < 0:
		return invalid("max_p99_wake_latency", "%v is negative", c.MaxP99WakeLatency)
	case c.MaxWakeLatencyCV < 0:
		return invalid("max_wake_latency_cv", "%v is negative", c.MaxWakeLatencyCV)
	case c.MinIterationRate < 0:
		return invalid("min_iteration_rate", "%v is negative", c.MinIterationRate)
	case c.MaxMigrationRatio < 0:
		return invalid("max_migration_ratio", "%v is negative", c.MaxMigrationRatio)
	case c.MaxRunnableWait < 0:
		return invalid("max_runnable_wait", "%v is negative", c.MaxRunnableWait)
	case c.MaxRunnableWait > 0 && c.MaxRunnableWait < MinMaxRunnableWait:
		return invalid("max_runnable_wait", "%v is below %v (the guest samples its tasks every max_runnable_wait/4, at most every 100 ms)", c.MaxRunnableWait, MinMaxRunnableWait)
	}
	return nil
}
