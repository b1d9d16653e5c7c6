// Package compare compares two run results (vmtest.Result, as `scxvm run
// --json` writes them): the same scenarios run on two commits of a
// scheduler or a kernel. It is pure: it reads Results and returns a typed
// Comparison; `scxvm compare OLD.json NEW.json` prints it.
//
// For every scenario both results ran, and every metric of vmtest.Metrics
// (throughput per cgroup, wake-up latency percentiles per cgroup, run
// delay, longest progress gap, stress-ng rates, and whatever rows are added
// there), Compare takes the median over the scenario's repetitions
// (`scxvm run --repeat N`) on each side and judges the change:
//
//   - unchanged: it does not exceed both thresholds of the metric,
//     |new-old| > Abs and |new-old| > Rel*|old| (the metric's defaults,
//     or Options.Thresholds);
//   - noise: it exceeds them but not the runs' spread: |new-old| is at
//     most the larger of the two sides' spreads (max - min over the
//     repetitions; 0 for a single run);
//   - improvement or regression: otherwise, by the metric's direction.
//
// A scenario whose runs all passed in OLD and not all in NEW is a
// regression too, whatever its numbers. Only the runs of the scheduler
// under test are compared, not the Baseline runs of --compare.
//
// Results that cannot be compared (another topology or accelerator,
// scenario sets that differ, a scenario whose cgroups, workers or duration
// differ) give an *IncompatibleError naming every difference.
//
//	old, _ := report.ReadFile("old.json")
//	new, _ := report.ReadFile("new.json")
//	c, err := compare.Compare(old, new, compare.Options{})
//	if err == nil && c.Regressed() { ... }
package compare
