package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
	"github.com/scxvm/scxvm/vmtest/report/internal/timeline"
)

// group is one scenario with the runs drawn together: the scheduler under
// test and, when Compare ran it, its run under the Compare scheduler.
type group struct {
	ID   string
	Name string
	Runs []*runView
}

// runView is one scenario result with what the page derives from it.
type runView struct {
	Index int // in Result.Scenarios
	SR    *vmtest.ScenarioResult
	// Label names the run in headings and legends.
	Label string
	// Cgroups are the scenario's cgroups in order of first worker.
	Cgroups []*cgroupStats
	// Incidents are the run's kernel incidents placed in this scenario.
	Incidents []timeline.Incident
	// KernelLines are the scenario's kernel log lines that report an
	// incident, each with the lines after it.
	KernelLines [][]string
}

// cgroupStats sums a cgroup's workers.
type cgroupStats struct {
	Name string
	// Workers index SR.Workers (and ProgressSample.Iterations).
	Workers    []int
	Iterations uint64
	CPU        time.Duration
	Migrations uint64
	// RunDelay is the mean schedstat run delay per timeslice.
	RunDelay time.Duration
	// Latency is the merged wake-up latency sample (nil when none).
	Latency *latencyDist
	Sets    []setStats
}

// setStats is the fairness of one workload set: the spread of its
// workers' cpu time.
type setStats struct {
	Set       int
	Kind      string
	Workers   int
	Min, Max  time.Duration
	SpreadPct float64
}

// groups pairs the scenario results: each result under the scheduler
// under test starts a group, and its baseline joins it.
func groups(res *vmtest.Result, incidents []timeline.Incident, maxLatency int) []*group {
	var out []*group
	ids := map[string]int{}
	for i := range res.Scenarios {
		sr := &res.Scenarios[i]
		rv := newRunView(i, sr, incidents, maxLatency)
		if sr.Baseline && len(out) > 0 && out[len(out)-1].Name == sr.Name {
			g := out[len(out)-1]
			g.Runs = append(g.Runs, rv)
			continue
		}
		id := "s-" + slug(sr.Name)
		if n := ids[id]; n > 0 {
			id = fmt.Sprintf("%s-%d", id, n+1)
		}
		ids["s-"+slug(sr.Name)]++
		out = append(out, &group{ID: id, Name: sr.Name, Runs: []*runView{rv}})
	}
	return out
}

func newRunView(i int, sr *vmtest.ScenarioResult, incidents []timeline.Incident, maxLatency int) *runView {
	rv := &runView{Index: i, SR: sr, Label: runLabel(sr)}
	byName := map[string]*cgroupStats{}
	for wi, w := range sr.Workers {
		cg := byName[w.Cgroup]
		if cg == nil {
			cg = &cgroupStats{Name: w.Cgroup}
			byName[w.Cgroup] = cg
			rv.Cgroups = append(rv.Cgroups, cg)
		}
		cg.Workers = append(cg.Workers, wi)
		r := w.Report
		cg.Iterations += r.Iterations
		cg.CPU += time.Duration(r.CPUTimeNs)
		cg.Migrations += r.MigrationCount
	}
	for _, cg := range rv.Cgroups {
		var delay, count uint64
		for _, wi := range cg.Workers {
			delay += sr.Workers[wi].Report.SchedstatRunDelayNs
			count += sr.Workers[wi].Report.SchedstatRunCount
		}
		if count > 0 {
			cg.RunDelay = time.Duration(delay / count)
		}
		cg.Latency = mergeLatencies(sr.Workers, cg.Workers, maxLatency)
		cg.Sets = fairness(sr.Workers, cg.Workers)
	}
	for _, in := range incidents {
		if in.Scenario == i {
			rv.Incidents = append(rv.Incidents, in)
		}
	}
	rv.KernelLines = incidentLines(sr.KernelLog, 6, 8)
	return rv
}

// runLabel names a run for headings and legends.
func runLabel(sr *vmtest.ScenarioResult) string { return sr.Label() }

// fairness returns the cpu time spread of each workload set among the
// completed workers that are not fan-out messengers, as the fairness check
// computes it: (max-min)/max.
func fairness(ws []check.Worker, idx []int) []setStats {
	var out []setStats
	at := map[int]int{}
	for _, wi := range idx {
		w := ws[wi]
		if !w.Report.Completed || w.Report.IsMessenger {
			continue
		}
		cpu := time.Duration(w.Report.CPUTimeNs)
		k, ok := at[w.Set]
		if !ok {
			k = len(out)
			at[w.Set] = k
			out = append(out, setStats{Set: w.Set, Kind: string(w.Kind), Min: cpu, Max: cpu})
		}
		s := &out[k]
		s.Workers++
		s.Min, s.Max = min(s.Min, cpu), max(s.Max, cpu)
	}
	for i := range out {
		if s := &out[i]; s.Max > 0 {
			s.SpreadPct = 100 * float64(s.Max-s.Min) / float64(s.Max)
		}
	}
	return out
}

// latencyDist is a weighted sample of wake-up latencies: each worker's
// reservoir stands for all of its wake-ups.
type latencyDist struct {
	// Values are sorted latencies in nanoseconds; Cum[i] is the fraction
	// of wake-ups at or below Values[i].
	Values []float64
	Cum    []float64
	// Count is the number of wake-ups measured.
	Count uint64
}

// mergeLatencies merges the workers' latency reservoirs, keeping at most
// limit values (a strided subset of each reservoir, weighted so that each
// worker counts as many wake-ups as it measured).
func mergeLatencies(ws []check.Worker, idx []int, limit int) *latencyDist {
	total := 0
	for _, wi := range idx {
		total += len(ws[wi].Report.ResumeLatenciesNs)
	}
	if total == 0 {
		return nil
	}
	stride := 1
	if limit > 0 && total > limit {
		stride = (total + limit - 1) / limit
	}
	type sample struct{ v, w float64 }
	samples := make([]sample, 0, total/stride+len(idx))
	d := &latencyDist{}
	for _, wi := range idx {
		r := ws[wi].Report
		n := len(r.ResumeLatenciesNs)
		if n == 0 {
			continue
		}
		count := max(r.ResumeLatencyCount, uint64(n))
		d.Count += count
		kept := (n + stride - 1) / stride
		w := float64(count) / float64(kept)
		for j := 0; j < n; j += stride {
			samples = append(samples, sample{float64(r.ResumeLatenciesNs[j]), w})
		}
	}
	slices.SortFunc(samples, func(a, b sample) int { return cmp.Compare(a.v, b.v) })
	var sum float64
	for _, s := range samples {
		sum += s.w
	}
	d.Values = make([]float64, len(samples))
	d.Cum = make([]float64, len(samples))
	var acc float64
	for i, s := range samples {
		acc += s.w
		d.Values[i], d.Cum[i] = s.v, acc/sum
	}
	return d
}

// Quantile returns the smallest latency with at least fraction q of the
// wake-ups at or below it.
func (d *latencyDist) Quantile(q float64) time.Duration {
	if d == nil || len(d.Values) == 0 {
		return 0
	}
	i, _ := slices.BinarySearch(d.Cum, q)
	i = min(i, len(d.Values)-1)
	return time.Duration(d.Values[i])
}

// incidentLines returns the kernel log lines that report an incident
// (ktext.Detect), each with up to after lines that follow it, at
// most limit of them.
func incidentLines(log []string, after, limit int) [][]string {
	var out [][]string
	for i := 0; i < len(log) && len(out) < limit; i++ {
		if _, ok := ktext.Detect(log[i]); !ok {
			continue
		}
		end := min(len(log), i+1+after)
		out = append(out, log[i:end])
		i = end - 1
	}
	return out
}

// slug makes s usable in an HTML id.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// runSpan returns the scenario time range the run's charts cover: from
// the earliest scheduler event (negative when the scheduler attached
// before the workers started) or zero to the end of the run.
func runSpan(rv *runView) (lo, hi time.Duration) {
	sr := rv.SR
	hi = sr.RunTime()
	if n := len(sr.Progress); n > 0 {
		hi = max(hi, sr.Progress[n-1].Elapsed)
	}
	for _, ev := range sr.SchedEvents {
		t := timeline.EventTime(sr, ev)
		lo, hi = min(lo, t), max(hi, t)
	}
	for _, in := range rv.Incidents {
		lo, hi = min(lo, in.At), max(hi, in.At)
	}
	return lo, hi
}

// telemetryRow is one sched_ext file (or events line) at the scenario's
// start and end.
type telemetryRow struct {
	Key, Start, End, Change string
}

// TelemetryRows lists the run's sched_ext readings, counters that
// changed first; nil when the run has none.
func (rv *runView) TelemetryRows() []telemetryRow {
	t := rv.SR.Telemetry
	if t == nil || (t.Start == nil && t.End == nil) {
		return nil
	}
	var start, end spec.SchedTelemetry
	if t.Start != nil {
		start = *t.Start
	}
	if t.End != nil {
		end = *t.End
	}
	keys := map[string]bool{}
	for _, m := range []map[string]uint64{start.Counters, end.Counters} {
		for k := range m {
			keys[k] = true
		}
	}
	var changed, same []telemetryRow
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		row := telemetryRow{Key: k}
		v0, ok0 := start.Counters[k]
		v1, ok1 := end.Counters[k]
		if ok0 {
			row.Start = fmt.Sprint(v0)
		}
		if ok1 {
			row.End = fmt.Sprint(v1)
		}
		if d, ok := t.Delta[k]; ok {
			row.Change = fmt.Sprintf("%+d", d)
			changed = append(changed, row)
			continue
		}
		same = append(same, row)
	}
	vals := map[string]bool{}
	for _, m := range []map[string]string{start.Values, end.Values} {
		for k := range m {
			vals[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		row := telemetryRow{Key: k, Start: start.Values[k], End: end.Values[k]}
		if row.Start != row.End {
			row.Change = "changed"
		}
		same = append(same, row)
	}
	return append(changed, same...)
}

// TelemetrySummary names the scheduler at the end of the run and how many
// counters changed.
func (rv *runView) TelemetrySummary() string {
	t := rv.SR.Telemetry
	if t == nil || t.End == nil {
		return "no reading at the end"
	}
	s := "state " + cmp.Or(t.End.Values["state"], "?")
	if ops := t.End.Values["root/ops"]; ops != "" {
		s += ", ops " + ops
	}
	return fmt.Sprintf("%s, %d counters changed, %d samples", s, len(t.Delta), len(t.Samples))
}
