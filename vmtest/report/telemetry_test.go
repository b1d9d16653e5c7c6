package report

import (
	"strings"
	"testing"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

func TestTelemetryAndDump(t *testing.T) {
	res := readFixture(t, "ejected.json")
	sr := &res.Scenarios[0]
	found := false
	for i := range sr.SchedEvents {
		if sr.SchedEvents[i].Kind == string(protocol.SchedEjected) {
			sr.SchedEvents[i].Dump = "scxvm_error: root\ninit[111] triggered exit kind 1024 on CPU 0:\n  runtime error (<non-existent DSQ>)\nCPU states"
			found = true
		}
	}
	if !found {
		t.Fatal("fixture has no ejection")
	}
	start := &spec.SchedTelemetry{Counters: map[string]uint64{"enable_seq": 1, "root/events/SCX_EV_REFILL_SLICE_DFL": 10, "nr_rejected": 0},
		Values: map[string]string{"state": "enabled", "root/ops": "scxvm_error"}}
	end := &spec.SchedTelemetry{Counters: map[string]uint64{"enable_seq": 1, "root/events/SCX_EV_REFILL_SLICE_DFL": 52, "nr_rejected": 0},
		Values: map[string]string{"state": "disabled"}}
	sr.Telemetry = &vmtest.SchedTelemetry{Start: start, End: end, Delta: start.Delta(*end), Samples: []spec.SchedTelemetry{*start}}

	page := string(render(t, res))
	for _, want := range []string{
		"kernel debug dump (exit reason, backtrace, cpu and task states)",
		"runtime error (&lt;non-existent DSQ&gt;)",
		"sched_ext telemetry: state disabled, 1 counters changed, 1 samples",
		"<code>root/events/SCX_EV_REFILL_SLICE_DFL</code></td><td class=\"num\">10</td><td class=\"num\">52</td><td class=\"num\">&#43;42</td>",
		"<code>root/ops</code></td><td class=\"num\">scxvm_error</td><td class=\"num\"></td><td class=\"num\">changed</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Changed counters come first.
	if strings.Index(page, "SCX_EV_REFILL_SLICE_DFL") > strings.Index(page, "<code>enable_seq</code>") {
		t.Error("a changed counter is listed after an unchanged one")
	}
}

// TestTimelineStateFromTelemetry: the timeline's sched_ext state row reads
// the telemetry readings, so a result whose progress samples carry no
// state still shows the state the scheduler ran in.
func TestTimelineStateFromTelemetry(t *testing.T) {
	res := readFixture(t, "telemetry.json")
	for i := range res.Scenarios {
		for j := range res.Scenarios[i].Progress {
			res.Scenarios[i].Progress[j].SchedState = ""
		}
	}
	pg, err := newPage(res, (&Options{}).withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range pg.Groups {
		for _, f := range g.Figures {
			if f.Title == "Timeline" {
				found = true
				if !strings.Contains(string(f.SVG), ">enabled</text>") {
					t.Errorf("%s: the timeline shows no sched_ext state from the telemetry", g.Name)
				}
			}
		}
	}
	if !found {
		t.Fatal("no timeline chart")
	}
}
