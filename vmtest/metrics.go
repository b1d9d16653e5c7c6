package vmtest

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// Better says in which direction a metric improves.
type Better int

// Directions of a metric.
const (
	HigherIsBetter Better = iota + 1 // throughput: more is better
	LowerIsBetter                    // latencies, delays: less is better
)

func (b Better) String() string {
	switch b {
	case HigherIsBetter:
		return "higher is better"
	case LowerIsBetter:
		return "lower is better"
	}
	return fmt.Sprintf("Better(%d)", int(b))
}

// MarshalText writes "higher" or "lower".
func (b Better) MarshalText() ([]byte, error) {
	switch b {
	case HigherIsBetter:
		return []byte("higher"), nil
	case LowerIsBetter:
		return []byte("lower"), nil
	}
	return nil, fmt.Errorf("marshal %v: unknown direction", b)
}

// UnmarshalText reads what MarshalText writes.
func (b *Better) UnmarshalText(text []byte) error {
	switch string(text) {
	case "higher":
		*b = HigherIsBetter
	case "lower":
		*b = LowerIsBetter
	default:
		return fmt.Errorf("unknown direction %q (allowed: higher, lower)", text)
	}
	return nil
}

// Metric is a number a scenario run measures, once per key: a cgroup's
// name, a payload's "name/stressor", or "" for the run as a whole.
//
// To add a metric, add a row to metricTable: the summary of every result
// (Result.Summary), the --compare table of `scxvm run` and `scxvm
// compare` (package vmtest/compare) pick it up from there.
type Metric struct {
	// Name identifies the metric in summaries, comparisons and on the
	// command line ("throughput", "wake_p99").
	Name string
	// Unit is the unit of the values ("units/s", "ns").
	Unit string
	// Doc says what the metric is, in one line.
	Doc    string
	Better Better
	// Rel and Abs are the default thresholds of a comparison between two
	// runs: a change counts only when it exceeds both, |new-old| > Abs
	// and |new-old| > Rel*|old|. Abs keeps tiny numbers (a 2 us latency
	// becoming 3 us) from counting, Rel large ones.
	Rel, Abs float64
	// Extract returns the metric's values in one run, at most one per
	// key; a key the run did not measure (a cgroup without wake-ups) has
	// no value.
	Extract func(*ScenarioResult) []KeyValue
}

// KeyValue is one value of a metric.
type KeyValue struct {
	Key   string
	Value float64
}

// metricTable lists the metrics of a scenario run. Default thresholds are
// set for TCG guests on a busy host, where run-to-run differences of 5-10%
// in throughput and 20% in latency percentiles are common; with repeated
// runs (Config.Repeat) their spread decides what is noise.
var metricTable = []Metric{
	{
		Name: "throughput", Unit: "units/s", Better: HigherIsBetter, Rel: 0.10,
		Doc:     "work units per second of run time, summed over the cgroup's workers",
		Extract: perCgroupRate(func(r *spec.WorkerReport) uint64 { return r.WorkUnits }),
	},
	{
		Name: "iterations", Unit: "it/s", Better: HigherIsBetter, Rel: 0.10,
		Doc:     "outer iterations (a burst and its sleep, a round trip) per second of run time, summed over the cgroup's workers",
		Extract: perCgroupRate(func(r *spec.WorkerReport) uint64 { return r.Iterations }),
	},
	{
		Name: "wake_p50", Unit: "ns", Better: LowerIsBetter, Rel: 0.20, Abs: 10e3,
		Doc:     "median wake-up latency of the cgroup's workers (waker's stamp to wakee running)",
		Extract: wakePercentile(0.50),
	},
	{
		Name: "wake_p99", Unit: "ns", Better: LowerIsBetter, Rel: 0.25, Abs: 50e3,
		Doc:     "99th percentile wake-up latency of the cgroup's workers",
		Extract: wakePercentile(0.99),
	},
	{
		Name: "run_delay", Unit: "ns", Better: LowerIsBetter, Rel: 0.25, Abs: 20e3,
		Doc:     "mean time runnable before running, per scheduling (schedstat run delay / run count)",
		Extract: runDelay,
	},
	{
		Name: "max_gap", Unit: "ms", Better: LowerIsBetter, Rel: 0.50, Abs: 20,
		Doc:     "longest gap between a worker's progress checkpoints in the cgroup",
		Extract: maxGap,
	},
	{
		Name: "stress_ng", Unit: "ops/s", Better: HigherIsBetter, Rel: 0.10,
		Doc:     "a stress-ng payload's bogo ops per second of real time, per stressor",
		Extract: stressOps,
	},
}

// Metrics returns the metrics of a scenario run, in display order.
func Metrics() []Metric { return slices.Clone(metricTable) }

// LookupMetric returns the metric named name.
func LookupMetric(name string) (Metric, bool) {
	for _, m := range metricTable {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// cgroupOrder returns the run's cgroups in the order of their workers.
func cgroupOrder(sr *ScenarioResult) []string {
	var out []string
	for _, w := range sr.Workers {
		if !slices.Contains(out, w.Cgroup) {
			out = append(out, w.Cgroup)
		}
	}
	return out
}

// perCgroupRate sums f over each cgroup's workers, per second of run
// time.
func perCgroupRate(f func(*spec.WorkerReport) uint64) func(*ScenarioResult) []KeyValue {
	return func(sr *ScenarioResult) []KeyValue {
		secs := sr.RunTime().Seconds()
		if len(sr.Workers) == 0 || secs <= 0 {
			return nil
		}
		sum := map[string]uint64{}
		for i := range sr.Workers {
			sum[sr.Workers[i].Cgroup] += f(&sr.Workers[i].Report)
		}
		var out []KeyValue
		for _, cg := range cgroupOrder(sr) {
			out = append(out, KeyValue{cg, float64(sum[cg]) / secs})
		}
		return out
	}
}

// wakePercentile is the q-quantile of the wake-up latencies of each
// cgroup's workers, pooled.
func wakePercentile(q float64) func(*ScenarioResult) []KeyValue {
	return func(sr *ScenarioResult) []KeyValue {
		var out []KeyValue
		for _, cg := range cgroupOrder(sr) {
			var pool []uint64
			for _, w := range sr.Workers {
				if w.Cgroup == cg {
					pool = append(pool, w.Report.ResumeLatenciesNs...)
				}
			}
			if len(pool) == 0 {
				continue
			}
			out = append(out, KeyValue{cg, float64(nearestRank(pool, q))})
		}
		return out
	}
}

// nearestRank returns the nearest-rank q-quantile of s, reordering s
// (a selection, not a sort: the pools are large).
func nearestRank(s []uint64, q float64) uint64 {
	k := int(math.Ceil(q*float64(len(s)))) - 1
	k = min(max(k, 0), len(s)-1)
	lo, hi := 0, len(s)-1
	for lo < hi {
		// Hoare partition around the median of three.
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		p := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i] < p {
				i++
			}
			for s[j] > p {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return s[k]
		}
	}
	return s[k]
}

func runDelay(sr *ScenarioResult) []KeyValue {
	delay, count := map[string]uint64{}, map[string]uint64{}
	for _, w := range sr.Workers {
		delay[w.Cgroup] += w.Report.SchedstatRunDelayNs
		count[w.Cgroup] += w.Report.SchedstatRunCount
	}
	var out []KeyValue
	for _, cg := range cgroupOrder(sr) {
		if count[cg] > 0 {
			out = append(out, KeyValue{cg, float64(delay[cg]) / float64(count[cg])})
		}
	}
	return out
}

func maxGap(sr *ScenarioResult) []KeyValue {
	gap := map[string]uint64{}
	for _, w := range sr.Workers {
		if w.Report.Completed {
			gap[w.Cgroup] = max(gap[w.Cgroup], w.Report.MaxGapMs)
		}
	}
	var out []KeyValue
	for _, cg := range cgroupOrder(sr) {
		if g, ok := gap[cg]; ok {
			out = append(out, KeyValue{cg, float64(g)})
		}
	}
	return out
}

func stressOps(sr *ScenarioResult) []KeyValue {
	var out []KeyValue
	for _, p := range sr.Payloads {
		for _, m := range p.StressNG {
			out = append(out, KeyValue{p.Name + "/" + m.Stressor, m.OpsPerSecReal})
		}
	}
	return out
}

// ScenarioSummary is one scenario under one scheduler over its
// repetitions.
type ScenarioSummary struct {
	Name      string `json:"name"`
	Scheduler string `json:"scheduler"`
	Baseline  bool   `json:"baseline,omitempty"`
	// Runs counts the repetitions, Passed those that passed.
	Runs   int `json:"runs"`
	Passed int `json:"passed"`
	// Metrics are the metrics' statistics in Metrics order, then by key
	// in the order the runs reported them.
	Metrics []MetricSummary `json:"metrics,omitempty"`
}

// Metric returns the summary of metric name for key, or nil.
func (s *ScenarioSummary) Metric(name, key string) *MetricSummary {
	for i := range s.Metrics {
		if s.Metrics[i].Metric == name && s.Metrics[i].Key == key {
			return &s.Metrics[i]
		}
	}
	return nil
}

// MetricSummary is a metric's value over a scenario's repetitions.
type MetricSummary struct {
	Metric string `json:"metric"`
	Key    string `json:"key,omitempty"`
	Unit   string `json:"unit,omitempty"`
	// Median is the median of Values (the mean of the middle two for an
	// even count); Spread is Max - Min, 0 for one run.
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Spread float64 `json:"spread"`
	// Values are the repetitions' values in run order (repetitions that
	// did not measure the key are left out).
	Values []float64 `json:"values"`
}

// NewMetricSummary summarises values (at least one).
func NewMetricSummary(metric, key, unit string, values []float64) MetricSummary {
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return MetricSummary{Metric: metric, Key: key, Unit: unit, Median: med, Min: s[0], Max: s[n-1], Spread: s[n-1] - s[0], Values: values}
}

// Summarize groups res's scenario runs by scenario, scheduler and
// baseline (the repetitions of one scenario under one scheduler) in the
// order they first ran, and summarises every metric of each group.
func Summarize(res *Result) []ScenarioSummary {
	type groupKey struct {
		name, sched string
		baseline    bool
	}
	var out []ScenarioSummary
	var runs [][]*ScenarioResult
	at := map[groupKey]int{}
	for i := range res.Scenarios {
		sr := &res.Scenarios[i]
		k := groupKey{sr.Name, sr.Scheduler, sr.Baseline}
		j, ok := at[k]
		if !ok {
			j = len(out)
			at[k] = j
			out = append(out, ScenarioSummary{Name: sr.Name, Scheduler: sr.Scheduler, Baseline: sr.Baseline})
			runs = append(runs, nil)
		}
		out[j].Runs++
		if sr.Passed {
			out[j].Passed++
		}
		runs[j] = append(runs[j], sr)
	}
	for j := range out {
		out[j].Metrics = SummarizeRuns(runs[j])
	}
	return out
}

// SummarizeRuns summarises every metric over runs (repetitions of one
// scenario under one scheduler).
func SummarizeRuns(runs []*ScenarioResult) []MetricSummary {
	var out []MetricSummary
	for _, m := range metricTable {
		var keys []string
		vals := map[string][]float64{}
		for _, sr := range runs {
			for _, kv := range m.Extract(sr) {
				if _, ok := vals[kv.Key]; !ok {
					keys = append(keys, kv.Key)
				}
				vals[kv.Key] = append(vals[kv.Key], kv.Value)
			}
		}
		for _, k := range keys {
			out = append(out, NewMetricSummary(m.Name, k, m.Unit, vals[k]))
		}
	}
	return out
}

// FormatValue renders v in unit for people: latencies in us or ms, rates
// with k/M suffixes.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "ns":
		d := time.Duration(v)
		switch {
		case d >= 10*time.Millisecond:
			return fmt.Sprintf("%.1fms", v/1e6)
		case d >= time.Millisecond:
			return fmt.Sprintf("%.2fms", v/1e6)
		case d >= 10*time.Microsecond:
			return fmt.Sprintf("%.0fus", v/1e3)
		}
		return fmt.Sprintf("%.1fus", v/1e3)
	case "ms":
		return fmt.Sprintf("%.0fms", v)
	}
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 10 || a == 0:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
