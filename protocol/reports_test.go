package protocol

import (
	"bytes"
	"testing"

	"github.com/scxvm/scxvm/spec"
)

func TestSplitReports(t *testing.T) {
	if got := SplitReports(1, nil, 0); got != nil {
		t.Errorf("SplitReports(nil) = %v, want nil", got)
	}
	// 24 workers with the maximum samples: 19 MB of samples, split to
	// stay under 4 MB per message.
	var reports []CgroupReport
	for i := range 24 {
		reports = append(reports, CgroupReport{Cgroup: "c", Report: spec.WorkerReport{
			Index: i, ResumeLatenciesNs: make(spec.Samples, spec.MaxLatencySamples),
			CPUsUsed: []int{0, 1, 2}, Migrations: make([]spec.Migration, 50),
			Exit: spec.ExitInfo{Kind: spec.ExitSignaled, Message: "some text"},
		}})
	}
	const maxBody = 4 << 20
	msgs := SplitReports(9, reports, maxBody)
	if len(msgs) < 5 {
		t.Errorf("%d messages for 19 MB under a 4 MB limit", len(msgs))
	}
	next := 0
	for _, m := range msgs {
		if m.JobID != 9 || len(m.Workers) == 0 {
			t.Fatalf("bad message: job %d, %d workers", m.JobID, len(m.Workers))
		}
		var buf bytes.Buffer
		if err := NewWriter(&buf, WithMaxFrameSize(maxBody)).WriteMessage(m); err != nil {
			t.Fatalf("message of %d workers does not fit: %v", len(m.Workers), err)
		}
		for _, w := range m.Workers {
			if w.Report.Index != next {
				t.Fatalf("worker %d out of order, want %d", w.Report.Index, next)
			}
			next++
		}
	}
	if next != len(reports) {
		t.Errorf("%d of %d workers sent", next, len(reports))
	}
}
