package compare

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/scxvm/scxvm/vmtest"
)

// Threshold is how large a change of a metric must be to count: larger
// than Abs (in the metric's unit) and than Rel times the old value.
type Threshold struct {
	Rel float64 `json:"rel"`
	Abs float64 `json:"abs"`
}

// DefaultThreshold returns the default threshold of a metric.
func DefaultThreshold(m vmtest.Metric) Threshold { return Threshold{Rel: m.Rel, Abs: m.Abs} }

// Options tune a comparison; the zero value uses the metrics' default
// thresholds and refuses results with different scenario sets.
type Options struct {
	// Thresholds override the default thresholds, by metric name.
	Thresholds map[string]Threshold
	// Common compares the scenarios both results ran and lists the others
	// in Comparison.OnlyOld and OnlyNew, instead of refusing results
	// whose scenario sets differ.
	Common bool
}

// Verdict is what a change amounts to.
type Verdict string

// Verdicts.
const (
	Unchanged   Verdict = "unchanged"   // within the thresholds
	Noise       Verdict = "noise"       // beyond the thresholds, inside the runs' spread
	Improvement Verdict = "improvement" // beyond both, in the metric's good direction
	Regression  Verdict = "regression"  // beyond both, in the metric's bad direction
	OnlyInOld   Verdict = "only_old"    // measured in OLD only (a cgroup that stopped waking up)
	OnlyInNew   Verdict = "only_new"    // measured in NEW only
)

// Change is one metric of one scenario (and key) in both results.
type Change struct {
	Metric string `json:"metric"`
	// Key is the cgroup (or payload/stressor) the value belongs to; ""
	// for the scenario as a whole.
	Key    string        `json:"key,omitempty"`
	Unit   string        `json:"unit"`
	Better vmtest.Better `json:"better"`
	// Old and New are the metric's statistics over each side's
	// repetitions; one is nil for OnlyInOld and OnlyInNew.
	Old *vmtest.MetricSummary `json:"old,omitempty"`
	New *vmtest.MetricSummary `json:"new,omitempty"`
	// Delta is New.Median - Old.Median; Rel is Delta / |Old.Median|, nil
	// when Old.Median is 0.
	Delta float64  `json:"delta"`
	Rel   *float64 `json:"rel,omitempty"`
	// Spread is the noise band: the larger of the two sides' spreads.
	Spread    float64   `json:"spread"`
	Threshold Threshold `json:"threshold"`
	Verdict   Verdict   `json:"verdict"`
}

// ScenarioComparison is one scenario in both results.
type ScenarioComparison struct {
	Name         string `json:"name"`
	OldScheduler string `json:"old_scheduler"`
	NewScheduler string `json:"new_scheduler"`
	// OldRuns and NewRuns count the repetitions, OldPassed and NewPassed
	// those that passed.
	OldRuns   int `json:"old_runs"`
	NewRuns   int `json:"new_runs"`
	OldPassed int `json:"old_passed"`
	NewPassed int `json:"new_passed"`
	// Verdict is Regression when every OLD run passed and a NEW run
	// failed, Improvement in the other direction, else Unchanged.
	Verdict Verdict  `json:"verdict"`
	Changes []Change `json:"changes"`
}

// Side describes one of the two results.
type Side struct {
	Kernel    string `json:"kernel"`
	Scheduler string `json:"scheduler"`
	Topology  string `json:"topology"`
	Accel     string `json:"accel,omitempty"`
}

// Comparison is the change between two results, scenario by scenario.
type Comparison struct {
	Old       Side                 `json:"old"`
	New       Side                 `json:"new"`
	Scenarios []ScenarioComparison `json:"scenarios"`
	// OnlyOld and OnlyNew are the scenarios only one result ran (with
	// Options.Common; otherwise Compare refuses them).
	OnlyOld []string `json:"only_old,omitempty"`
	OnlyNew []string `json:"only_new,omitempty"`
}

// Regressed reports whether a scenario or a metric regressed.
func (c *Comparison) Regressed() bool { return c.Count(Regression) > 0 }

// Count returns how many scenario verdicts and metric changes are v.
func (c *Comparison) Count(v Verdict) int {
	n := 0
	for _, s := range c.Scenarios {
		if s.Verdict == v {
			n++
		}
		for _, ch := range s.Changes {
			if ch.Verdict == v {
				n++
			}
		}
	}
	return n
}

// Difference is one reason two results cannot be compared.
type Difference struct {
	// Field names what differs ("topology", "scenarios", "scenario
	// mixed: cgroups").
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
	// Detail, when set, says it better than Old and New.
	Detail string `json:"detail,omitempty"`
}

func (d Difference) String() string {
	if d.Detail != "" {
		return d.Field + ": " + d.Detail
	}
	return fmt.Sprintf("%s: old %s, new %s", d.Field, d.Old, d.New)
}

// IncompatibleError says why two results cannot be compared.
type IncompatibleError struct {
	Differences []Difference
}

func (e *IncompatibleError) Error() string {
	parts := make([]string, len(e.Differences))
	for i, d := range e.Differences {
		parts[i] = d.String()
	}
	return "results are not comparable: " + strings.Join(parts, "; ")
}

// group is one scenario's runs of the scheduler under test in a result.
type group struct {
	name   string
	runs   []*vmtest.ScenarioResult
	passed int
}

// groups returns res's non-baseline runs by scenario, in run order.
func groups(res *vmtest.Result) []*group {
	var out []*group
	at := map[string]*group{}
	for i := range res.Scenarios {
		sr := &res.Scenarios[i]
		if sr.Baseline {
			continue
		}
		g := at[sr.Name]
		if g == nil {
			g = &group{name: sr.Name}
			at[sr.Name] = g
			out = append(out, g)
		}
		g.runs = append(g.runs, sr)
		if sr.Passed {
			g.passed++
		}
	}
	return out
}

// layout describes a scenario run's workers: per cgroup and workload set,
// how many of which kind ("a: 2 CpuSpin, b: 1 PipeIo"); "" when no
// worker reported.
func layout(g *group) string {
	for _, sr := range g.runs {
		if len(sr.Workers) == 0 {
			continue
		}
		type set struct {
			cgroup, kind string
			set          int
		}
		var order []set
		n := map[set]int{}
		for _, w := range sr.Workers {
			k := set{w.Cgroup, string(w.Kind), w.Set}
			if n[k] == 0 {
				order = append(order, k)
			}
			n[k]++
		}
		parts := make([]string, len(order))
		for i, k := range order {
			parts[i] = fmt.Sprintf("%s: %d %s", k.cgroup, n[k], k.kind)
		}
		return strings.Join(parts, ", ")
	}
	return ""
}

func names(gs []*group) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.name
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Compare compares the scenarios of new against those of old.
func Compare(old, new *vmtest.Result, opt Options) (*Comparison, error) {
	thresholds := map[string]Threshold{}
	for _, m := range vmtest.Metrics() {
		thresholds[m.Name] = DefaultThreshold(m)
	}
	for name, t := range opt.Thresholds {
		if _, ok := thresholds[name]; !ok {
			return nil, fmt.Errorf("compare: threshold for unknown metric %q (metrics: %s)", name, strings.Join(MetricNames(), ", "))
		}
		if err := t.validate(); err != nil {
			return nil, fmt.Errorf("compare: threshold of %s: %w", name, err)
		}
		thresholds[name] = t
	}

	var diffs []Difference
	if old.Topology != new.Topology {
		diffs = append(diffs, Difference{Field: "topology", Old: old.Topology, New: new.Topology})
	}
	if old.Accel != "" && new.Accel != "" && old.Accel != new.Accel {
		diffs = append(diffs, Difference{Field: "accel", Old: old.Accel, New: new.Accel})
	}
	og, ng := groups(old), groups(new)
	byName := map[string]*group{}
	for _, g := range ng {
		byName[g.name] = g
	}
	var onlyOld, onlyNew []string
	for _, g := range og {
		if byName[g.name] == nil {
			onlyOld = append(onlyOld, g.name)
		}
	}
	for _, g := range ng {
		if !slices.Contains(names(og), g.name) {
			onlyNew = append(onlyNew, g.name)
		}
	}
	common := len(og) - len(onlyOld)
	if (len(onlyOld) > 0 || len(onlyNew) > 0) && (!opt.Common || common == 0) {
		d := Difference{Field: "scenarios", Old: orNone(names(og)), New: orNone(names(ng))}
		var parts []string
		if len(onlyOld) > 0 {
			parts = append(parts, strings.Join(onlyOld, ", ")+" only in old")
		}
		if len(onlyNew) > 0 {
			parts = append(parts, strings.Join(onlyNew, ", ")+" only in new")
		}
		d.Detail = strings.Join(parts, ", ")
		if common == 0 && len(og) > 0 && len(ng) > 0 {
			d.Detail += " (none in common)"
		} else if common > 0 {
			d.Detail += " (compare the common ones with Options.Common, scxvm compare --common)"
		}
		diffs = append(diffs, d)
	}
	if len(og) == 0 || len(ng) == 0 {
		for _, side := range []struct {
			name string
			gs   []*group
		}{{"old", og}, {"new", ng}} {
			if len(side.gs) == 0 {
				diffs = append(diffs, Difference{Field: "scenarios", Detail: side.name + " has no scenario results"})
			}
		}
	}

	c := &Comparison{
		Old:     Side{Kernel: kernelName(old), Scheduler: old.Scheduler, Topology: old.Topology, Accel: old.Accel},
		New:     Side{Kernel: kernelName(new), Scheduler: new.Scheduler, Topology: new.Topology, Accel: new.Accel},
		OnlyOld: onlyOld,
		OnlyNew: onlyNew,
	}
	for _, o := range og {
		n := byName[o.name]
		if n == nil {
			continue
		}
		if od, nd := o.runs[0].Duration, n.runs[0].Duration; od != nd {
			diffs = append(diffs, Difference{Field: "scenario " + o.name + ": duration", Old: od.String(), New: nd.String()})
		}
		if ol, nl := layout(o), layout(n); ol != "" && nl != "" && ol != nl {
			diffs = append(diffs, Difference{Field: "scenario " + o.name + ": workers", Old: ol, New: nl})
		}
		c.Scenarios = append(c.Scenarios, compareScenario(o, n, thresholds))
	}
	if len(diffs) > 0 {
		return nil, &IncompatibleError{Differences: diffs}
	}
	return c, nil
}

func kernelName(r *vmtest.Result) string {
	if r.Kernel.Release != "" {
		return r.Kernel.Release
	}
	return r.Kernel.Name
}

// compareScenario judges one scenario's metrics.
func compareScenario(o, n *group, thresholds map[string]Threshold) ScenarioComparison {
	sc := ScenarioComparison{
		Name:         o.name,
		OldScheduler: o.runs[0].Scheduler, NewScheduler: n.runs[0].Scheduler,
		OldRuns: len(o.runs), NewRuns: len(n.runs), OldPassed: o.passed, NewPassed: n.passed,
		Verdict: Unchanged,
	}
	switch {
	case o.passed == len(o.runs) && n.passed < len(n.runs):
		sc.Verdict = Regression
	case o.passed < len(o.runs) && n.passed == len(n.runs):
		sc.Verdict = Improvement
	}
	om, nm := vmtest.SummarizeRuns(o.runs), vmtest.SummarizeRuns(n.runs)
	for _, m := range vmtest.Metrics() {
		t := thresholds[m.Name]
		var keys []string
		oldBy, newBy := map[string]*vmtest.MetricSummary{}, map[string]*vmtest.MetricSummary{}
		for i := range om {
			if om[i].Metric == m.Name {
				keys = append(keys, om[i].Key)
				oldBy[om[i].Key] = &om[i]
			}
		}
		for i := range nm {
			if nm[i].Metric == m.Name {
				if oldBy[nm[i].Key] == nil {
					keys = append(keys, nm[i].Key)
				}
				newBy[nm[i].Key] = &nm[i]
			}
		}
		for _, k := range keys {
			sc.Changes = append(sc.Changes, judge(m, k, oldBy[k], newBy[k], t))
		}
	}
	return sc
}

// judge classifies the change of metric m (key k) from old to new.
func judge(m vmtest.Metric, k string, old, new *vmtest.MetricSummary, t Threshold) Change {
	ch := Change{Metric: m.Name, Key: k, Unit: m.Unit, Better: m.Better, Old: old, New: new, Threshold: t}
	switch {
	case new == nil:
		ch.Verdict = OnlyInOld
		return ch
	case old == nil:
		ch.Verdict = OnlyInNew
		return ch
	}
	ch.Delta = new.Median - old.Median
	ch.Spread = max(old.Spread, new.Spread)
	d := math.Abs(ch.Delta)
	relExceeded := d > 0
	if old.Median != 0 {
		rel := ch.Delta / math.Abs(old.Median)
		ch.Rel = &rel
		relExceeded = d > t.Rel*math.Abs(old.Median)
	}
	switch {
	case d <= t.Abs || !relExceeded:
		ch.Verdict = Unchanged
	case d <= ch.Spread:
		ch.Verdict = Noise
	case (ch.Delta > 0) == (m.Better == vmtest.HigherIsBetter):
		ch.Verdict = Improvement
	default:
		ch.Verdict = Regression
	}
	return ch
}

// MetricNames returns the names of the metrics a comparison covers.
func MetricNames() []string {
	var out []string
	for _, m := range vmtest.Metrics() {
		out = append(out, m.Name)
	}
	return out
}
