package timeline

import (
	"reflect"
	"testing"
	"time"

	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

const ms = time.Millisecond

func TestPick(t *testing.T) {
	for _, tc := range []struct {
		n, limit int
		want     []int
	}{
		{0, 5, nil},
		{3, 5, []int{0, 1, 2}},
		{5, 5, []int{0, 1, 2, 3, 4}},
		{10, 4, []int{0, 3, 6, 9}},
		{10, 1, []int{0, 9}},
		{1, 1, []int{0}},
	} {
		if got := Pick(tc.n, tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Pick(%d, %d) = %v, want %v", tc.n, tc.limit, got, tc.want)
		}
	}
}

func result() *vmtest.Result {
	return &vmtest.Result{
		BootToHello: 2 * time.Second,
		Scenarios: []vmtest.ScenarioResult{
			{Name: "a", Elapsed: 3 * time.Second, Timings: &vmtest.JobTimings{Setup: 500 * ms}},
			{Name: "b", Elapsed: 2 * time.Second},
		},
	}
}

func TestLayout(t *testing.T) {
	got := Layout(result())
	want := []Span{{Job: 2 * time.Second, Setup: 500 * ms, Elapsed: 3 * time.Second}, {Job: 5 * time.Second, Elapsed: 2 * time.Second}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Layout = %+v, want %+v", got, want)
	}
	if got[0].Start() != 2500*ms || got[1].End() != 7*time.Second {
		t.Errorf("Start %v End %v, want 2.5s and 7s", got[0].Start(), got[1].End())
	}
}

func TestIncidents(t *testing.T) {
	res := result()
	res.Incidents = []vmtest.Incident{{Kind: ktext.Panic, Line: "boot", At: time.Second}, {Kind: ktext.Oops, Line: "in a", At: 3 * time.Second}, {Kind: ktext.BUG, Line: "in b", At: 6 * time.Second}, {Kind: ktext.Warning, Line: "after", At: 9 * time.Second}}
	var got []Incident
	for _, in := range Incidents(res, Layout(res)) {
		got = append(got, Incident{Scenario: in.Scenario, At: in.At})
	}
	want := []Incident{{Scenario: -1, At: time.Second}, {Scenario: 0, At: 500 * ms}, {Scenario: 1, At: time.Second}, {Scenario: -1, At: 9 * time.Second}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Incidents = %+v, want %+v", got, want)
	}
	// A failed run's last incident (the panic that ended it) belongs to
	// the last scenario.
	res.Failure = &vmtest.Failure{Kind: vmtest.FailPanic}
	if in := Incidents(res, Layout(res)); in[3].Scenario != 1 || in[3].At != 4*time.Second {
		t.Errorf("failed run: last incident %+v, want scenario 1 at 4s", in[3])
	}
}

func TestActivity(t *testing.T) {
	sr := &vmtest.ScenarioResult{Progress: []vmtest.ProgressSample{
		{Elapsed: 100 * ms, Iterations: []uint64{5, 0}},
		{Elapsed: 200 * ms, Iterations: []uint64{5, 1}},
		{Elapsed: 300 * ms, Iterations: []uint64{5}}, // short: worker 1 missing
		{Elapsed: 300 * ms, Iterations: []uint64{6, 1}},
		{Elapsed: 400 * ms, Iterations: []uint64{9, 1}},
	}}
	want := []Interval{{0, 100 * ms, true}, {100 * ms, 300 * ms, false}, {300 * ms, 400 * ms, true}}
	if got := Activity(sr, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("Activity(0) = %+v, want %+v", got, want)
	}
	want = []Interval{{0, 100 * ms, false}, {100 * ms, 200 * ms, true}, {200 * ms, 400 * ms, false}}
	if got := Activity(sr, 1); !reflect.DeepEqual(got, want) {
		t.Errorf("Activity(1) = %+v, want %+v", got, want)
	}
}

func TestLongestGap(t *testing.T) {
	w := check.Worker{Report: spec.WorkerReport{Completed: true, MaxGapMs: 300, MaxGapAtMs: 1000}}
	if got, ok := LongestGap(w); !ok || got != (Interval{From: 700 * ms, To: time.Second}) {
		t.Errorf("LongestGap = %+v %v, want 0.7s-1s", got, ok)
	}
	w.Report.Completed = false
	if _, ok := LongestGap(w); ok {
		t.Error("a worker that did not report has no gap")
	}
}

func TestEventTime(t *testing.T) {
	sr := &vmtest.ScenarioResult{Timings: &vmtest.JobTimings{Setup: time.Second}}
	if got := EventTime(sr, vmtest.SchedEvent{At: 300 * ms}); got != -700*ms {
		t.Errorf("EventTime = %v, want -700ms (before the workers started)", got)
	}
}

func TestTelemetryTime(t *testing.T) {
	sr := &vmtest.ScenarioResult{Timings: &vmtest.JobTimings{Setup: time.Second}}
	if got := TelemetryTime(sr, spec.SchedTelemetry{At: 1500 * ms}); got != 500*ms {
		t.Errorf("TelemetryTime = %v, want 500ms (the job arrived 1s before the workers started)", got)
	}
}

func reading(at time.Duration, state string, counters spec.Counters) spec.SchedTelemetry {
	return spec.SchedTelemetry{At: at, Counters: counters, Values: map[string]string{"state": state, "root/ops": "x"}}
}

func TestReadings(t *testing.T) {
	if got := Readings(&vmtest.ScenarioResult{}); got != nil {
		t.Errorf("Readings without telemetry = %v, want nil", got)
	}
	start, end := reading(300*ms, "enabled", nil), reading(900*ms, "enabled", nil)
	sr := &vmtest.ScenarioResult{Telemetry: &vmtest.SchedTelemetry{
		Start: &start, End: &end,
		Samples: []spec.SchedTelemetry{reading(600*ms, "enabled", nil), reading(400*ms, "enabled", nil)},
	}}
	var got []time.Duration
	for _, r := range Readings(sr) {
		got = append(got, r.At)
	}
	if want := []time.Duration{300 * ms, 400 * ms, 600 * ms, 900 * ms}; !reflect.DeepEqual(got, want) {
		t.Errorf("Readings at %v, want %v (time order)", got, want)
	}
}

func TestChangedCounters(t *testing.T) {
	start := reading(200*ms, "enabled", spec.Counters{"a": 1, "same": 5, "debugfs/x": 9})
	end := reading(900*ms, "enabled", spec.Counters{"a": 4, "same": 5, "debugfs/x": 9, "late": 2})
	sr := &vmtest.ScenarioResult{
		Timings: &vmtest.JobTimings{Setup: 500 * ms},
		Telemetry: &vmtest.SchedTelemetry{Start: &start, End: &end, Samples: []spec.SchedTelemetry{
			reading(600*ms, "enabled", spec.Counters{"a": 2, "same": 5, "late": 2}),
			// Two readings at one time: the later one holds.
			reading(600*ms, "enabled", spec.Counters{"a": 3, "same": 5, "late": 2}),
			reading(700*ms, "disabled", spec.Counters{"same": 5}),
		}},
	}
	want := []CounterSeries{{Key: "a", Points: []CounterPoint{{-300 * ms, 1}, {100 * ms, 3}, {400 * ms, 4}}}}
	if got := ChangedCounters(sr); !reflect.DeepEqual(got, want) {
		t.Errorf("ChangedCounters = %+v, want %+v (same, debugfs/x and late never change)", got, want)
	}
}

func TestStateChanges(t *testing.T) {
	start := reading(200*ms, "enabled", spec.Counters{"enable_seq": 1})
	end := reading(900*ms, "enabled", spec.Counters{"enable_seq": 2})
	sr := &vmtest.ScenarioResult{Telemetry: &vmtest.SchedTelemetry{Start: &start, End: &end, Samples: []spec.SchedTelemetry{
		reading(400*ms, "enabled", spec.Counters{"enable_seq": 1}),
		// Restarted between readings: the state is the same, enable_seq
		// is not.
		reading(600*ms, "enabled", spec.Counters{"enable_seq": 2}),
		{At: 700 * ms, Values: map[string]string{"state": "disabled"}}, // enable_seq unread
	}}}
	want := []StateChange{
		{At: 200 * ms, First: true, State: "enabled", Ops: "x", Seq: 1, HasSeq: true},
		{At: 600 * ms, State: "enabled", Prev: "enabled", Ops: "x", Seq: 2, PrevSeq: 1, HasSeq: true, HasPrevSeq: true},
		{At: 700 * ms, State: "disabled", Prev: "enabled", PrevSeq: 2, HasPrevSeq: true},
		{At: 900 * ms, State: "enabled", Prev: "disabled", Ops: "x", Seq: 2, HasSeq: true},
	}
	if got := StateChanges(sr); !reflect.DeepEqual(got, want) {
		t.Errorf("StateChanges =\n%+v, want\n%+v", got, want)
	}
	// Without telemetry, the progress samples' state.
	sr = &vmtest.ScenarioResult{Progress: []vmtest.ProgressSample{
		{Elapsed: 100 * ms}, {Elapsed: 200 * ms, SchedState: "enabled"}, {Elapsed: 300 * ms, SchedState: "enabled"}, {Elapsed: 400 * ms, SchedState: "disabled"},
	}}
	want = []StateChange{{At: 200 * ms, First: true, State: "enabled"}, {At: 400 * ms, State: "disabled", Prev: "enabled"}}
	if got := StateChanges(sr); !reflect.DeepEqual(got, want) {
		t.Errorf("StateChanges from progress = %+v, want %+v", got, want)
	}
}
