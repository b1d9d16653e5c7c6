package vmtest

import (
	"slices"
	"testing"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest/check"
)

// A failed check whose threshold a layer above the defaults set names
// that layer; one judged by the default does not.
func TestChecksFailureNamesTheLayer(t *testing.T) {
	sc := spec.Checks{FairnessSpreadPct: 60}
	sched := spec.Scheduler{Name: spec.SchedulerFIFO}
	sr := &ScenarioResult{Name: "over", Scheduler: "fifo", Checks: sc.Resolve(sched), CheckSources: sc.Sources(sched),
		Failures: []check.Failure{
			{Check: spec.CheckFairness, Cgroup: "over", Worker: -1, Message: "cpu time spread 70.0% above 60.0%"},
			{Check: spec.CheckMaxGap, Cgroup: "over", Worker: 1, Message: "stalled for 2.5s (limit 2s)"},
		}}
	f := checksFailure(sr)
	want := []string{
		"fairness [over]: cpu time spread 70.0% above 60.0% (threshold set by the scenario)",
		"max_gap [over worker 1]: stalled for 2.5s (limit 2s)",
	}
	if !slices.Equal(f.Detail, want) {
		t.Errorf("detail:\n%q\nwant\n%q", f.Detail, want)
	}
}
