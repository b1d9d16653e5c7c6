// Package timeline places the measurements of a vmtest.Result on common
// time axes, for the HTML report and the trace writer alike.
//
// Each kind of measurement has its own origin: scheduler events and
// sched_ext telemetry readings count from the moment the scenario's job
// arrived in the guest (the host's sending, give or take the channel's
// latency), progress samples, migrations and stall positions from the
// workers' start, kernel incidents from QEMU's start. Scenario time, the axis of every chart, is the time since
// the workers started: Setup (the agent's JobTimings.Setup) after the job
// was sent. Run time, the axis of a trace, is the time since QEMU started;
// a scenario's job is placed at boot-to-hello plus the wall time of the
// scenarios before it, which neglects the host's few milliseconds between
// jobs.
package timeline

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

// Span is where one scenario result sits in its run.
type Span struct {
	// Job is the run time at which the job was sent.
	Job time.Duration
	// Setup is how long the job ran before its workers started (zero when
	// the agent did not report timings).
	Setup time.Duration
	// Elapsed is the job's wall time, sending to result.
	Elapsed time.Duration
}

// Start returns the run time at which the workers started: the origin of
// scenario time.
func (s Span) Start() time.Duration { return s.Job + s.Setup }

// End returns the run time at which the job's result arrived.
func (s Span) End() time.Duration { return s.Job + max(s.Elapsed, s.Setup) }

// Layout returns the span of every scenario result of res, in order.
func Layout(res *vmtest.Result) []Span {
	out := make([]Span, len(res.Scenarios))
	at := res.BootToHello
	for i := range res.Scenarios {
		sr := &res.Scenarios[i]
		out[i] = Span{Job: at, Setup: Setup(sr), Elapsed: sr.Elapsed}
		at += sr.Elapsed
	}
	return out
}

// Setup returns how long the scenario's job ran before the workers
// started, zero when unknown.
func Setup(sr *vmtest.ScenarioResult) time.Duration {
	if sr.Timings != nil && sr.Timings.Setup > 0 {
		return sr.Timings.Setup
	}
	return 0
}

// EventTime returns a scheduler event's time in scenario time (negative
// for events before the workers started, such as the scheduler attaching).
func EventTime(sr *vmtest.ScenarioResult, ev vmtest.SchedEvent) time.Duration {
	return ev.At - Setup(sr)
}

// TelemetryTime returns a sched_ext telemetry reading's time in scenario
// time (negative for the reading taken once the scheduler was in place,
// before the workers started).
func TelemetryTime(sr *vmtest.ScenarioResult, t spec.SchedTelemetry) time.Duration {
	return t.At - Setup(sr)
}

// Readings returns the scenario's sched_ext telemetry readings (the start
// reading, the progress samples' readings, the end reading) in time
// order; nil when the result has none.
func Readings(sr *vmtest.ScenarioResult) []spec.SchedTelemetry {
	t := sr.Telemetry
	if t == nil {
		return nil
	}
	var out []spec.SchedTelemetry
	if t.Start != nil {
		out = append(out, *t.Start)
	}
	out = append(out, t.Samples...)
	if t.End != nil {
		out = append(out, *t.End)
	}
	slices.SortStableFunc(out, func(a, b spec.SchedTelemetry) int { return cmp.Compare(a.At, b.At) })
	return out
}

// CounterPoint is a telemetry counter's value at one reading.
type CounterPoint struct {
	// At is the reading's scenario time.
	At    time.Duration
	Value uint64
}

// CounterSeries is one telemetry counter (a key of spec.Counters) over
// the readings that hold it, in time order.
type CounterSeries struct {
	Key    string
	Points []CounterPoint
}

// ChangedCounters returns the series of every telemetry counter whose
// value differs between the scenario's readings, ordered by key. A
// counter read with one value throughout is left out: it says nothing
// about the run's time line (the result keeps its value).
func ChangedCounters(sr *vmtest.ScenarioResult) []CounterSeries {
	readings := Readings(sr)
	series := map[string][]CounterPoint{}
	for _, r := range readings {
		at := TelemetryTime(sr, r)
		for k, v := range r.Counters {
			pts := series[k]
			if n := len(pts); n > 0 && pts[n-1].At == at {
				pts[n-1].Value = v // two readings at one time: the later one counts
				continue
			}
			series[k] = append(pts, CounterPoint{At: at, Value: v})
		}
	}
	var out []CounterSeries
	for _, k := range slices.Sorted(maps.Keys(series)) {
		pts := series[k]
		if slices.ContainsFunc(pts, func(p CounterPoint) bool { return p.Value != pts[0].Value }) {
			out = append(out, CounterSeries{Key: k, Points: pts})
		}
	}
	return out
}

// StateChange is a reading at which sched_ext's state or its enable_seq
// differs from the reading before, or the scenario's first reading.
type StateChange struct {
	// At is the reading's scenario time.
	At time.Duration
	// First marks the scenario's first reading: Prev and PrevSeq are
	// unknown.
	First bool
	// State is /sys/kernel/sched_ext/state ("enabled", "disabled", ...),
	// Prev the state at the reading before.
	State, Prev string
	// Ops is the running scheduler's name (root/ops), when there is one.
	Ops string
	// Seq is enable_seq and PrevSeq its value at the reading before;
	// HasSeq and HasPrevSeq say whether they were read (progress samples
	// without telemetry have none).
	Seq, PrevSeq       uint64
	HasSeq, HasPrevSeq bool
}

// StateChanges returns the scenario's first sched_ext state and each
// change of state or enable_seq, from the telemetry readings, or from the
// progress samples' state when the result has no telemetry.
func StateChanges(sr *vmtest.ScenarioResult) []StateChange {
	type reading struct {
		at     time.Duration
		state  string
		ops    string
		seq    uint64
		hasSeq bool
	}
	var rs []reading
	if readings := Readings(sr); len(readings) > 0 {
		for _, r := range readings {
			seq, ok := r.Counters["enable_seq"]
			rs = append(rs, reading{at: TelemetryTime(sr, r), state: r.Values["state"], ops: r.Values["root/ops"], seq: seq, hasSeq: ok})
		}
	} else {
		for _, p := range sr.Progress {
			rs = append(rs, reading{at: p.Elapsed, state: p.SchedState})
		}
	}
	var out []StateChange
	var prev *reading
	for i := range rs {
		r := &rs[i]
		if r.state == "" && !r.hasSeq {
			continue
		}
		switch {
		case prev == nil:
			out = append(out, StateChange{At: r.at, First: true, State: r.state, Ops: r.ops, Seq: r.seq, HasSeq: r.hasSeq})
		case r.state != prev.state || (r.hasSeq && prev.hasSeq && r.seq != prev.seq):
			out = append(out, StateChange{At: r.at, State: r.state, Prev: prev.state, Ops: r.ops,
				Seq: r.seq, HasSeq: r.hasSeq, PrevSeq: prev.seq, HasPrevSeq: prev.hasSeq})
		}
		prev = r
	}
	return out
}

// Incident is a kernel incident placed in a scenario.
type Incident struct {
	vmtest.Incident
	// Scenario indexes res.Scenarios, -1 when the incident happened
	// outside every scenario (during boot, or after the last one).
	Scenario int
	// At is the incident's scenario time when Scenario >= 0, its run time
	// otherwise.
	At time.Duration
}

// Incidents places the run's kernel incidents in the scenarios whose job
// was running when the host read them.
func Incidents(res *vmtest.Result, spans []Span) []Incident {
	out := make([]Incident, 0, len(res.Incidents))
	for _, in := range res.Incidents {
		pi := Incident{Incident: in, Scenario: -1, At: in.At}
		for i, s := range spans {
			if in.At >= s.Job && in.At < s.End() {
				pi.Scenario, pi.At = i, in.At-s.Start()
				break
			}
		}
		// An incident that ended a run arrives after its job's last
		// frame: it belongs to the last scenario.
		if pi.Scenario < 0 && len(spans) > 0 && in.At >= spans[len(spans)-1].End() && res.Failure != nil {
			last := len(spans) - 1
			pi.Scenario, pi.At = last, in.At-spans[last].Start()
		}
		out = append(out, pi)
	}
	return out
}

// Interval is a stretch of scenario time in which a worker either made
// progress or made none.
type Interval struct {
	From, To time.Duration
	// Progress is true when the worker's iteration counter advanced.
	Progress bool
}

// Activity returns worker w's stretches of progress and of no progress,
// as the scenario's progress samples show them (their period is the
// resolution), merged so that neighbours differ.
func Activity(sr *vmtest.ScenarioResult, w int) []Interval {
	var out []Interval
	var prevT time.Duration
	var prevN uint64
	for _, s := range sr.Progress {
		if w >= len(s.Iterations) {
			continue
		}
		n := s.Iterations[w]
		if s.Elapsed <= prevT {
			prevN = max(prevN, n)
			continue
		}
		adv := n > prevN
		if k := len(out); k > 0 && out[k-1].Progress == adv && out[k-1].To == prevT {
			out[k-1].To = s.Elapsed
		} else {
			out = append(out, Interval{From: prevT, To: s.Elapsed, Progress: adv})
		}
		prevT, prevN = s.Elapsed, n
	}
	return out
}

// LongestGap returns the worker's longest gap between progress
// checkpoints in scenario time, and false when it reported none.
func LongestGap(w check.Worker) (Interval, bool) {
	r := w.Report
	if !r.Completed || r.MaxGapMs == 0 || r.MaxGapAtMs < r.MaxGapMs {
		return Interval{}, false
	}
	to := time.Duration(r.MaxGapAtMs) * time.Millisecond
	return Interval{From: to - time.Duration(r.MaxGapMs)*time.Millisecond, To: to}, true
}

// Pick returns the indexes of at most limit (at least 2) of n evenly
// spaced items, always the first and the last; every index when
// n <= limit.
func Pick(n, limit int) []int {
	if n <= 0 {
		return nil
	}
	limit = max(limit, 2)
	if n <= limit {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, limit)
	step := float64(n-1) / float64(limit-1)
	for i := range out {
		out[i] = int(float64(i)*step + 0.5)
	}
	out[limit-1] = n - 1
	return out
}
