package agent

import (
	"testing"

	"github.com/scxvm/scxvm/protocol"
)

func TestSyntheticReports(t *testing.T) {
	g := newGuest(t, nil)
	if _, ok := g.recv().(*protocol.Hello); !ok {
		t.Fatal("first message is not Hello")
	}
	const workers, samples = 64, 10_000
	if err := g.host.Send(&protocol.Job{ID: 7, Synthetic: &protocol.SyntheticReports{Workers: workers, Samples: samples}}); err != nil {
		t.Fatal(err)
	}
	msgs, _ := g.jobMessages()
	got, total := 0, 0
	var res *protocol.JobResult
	for _, m := range msgs {
		switch m := m.(type) {
		case *protocol.Reports:
			if m.JobID != 7 {
				t.Errorf("reports for job %d", m.JobID)
			}
			for _, w := range m.Workers {
				if w.Report.Index != got || !w.Report.Completed || len(w.Report.ResumeLatenciesNs) != samples {
					t.Errorf("report %d: index %d, completed %v, %d samples", got, w.Report.Index, w.Report.Completed, len(w.Report.ResumeLatenciesNs))
				}
				got++
				total += len(w.Report.ResumeLatenciesNs)
			}
		case *protocol.JobResult:
			res = m
		default:
			t.Errorf("unexpected %T: a synthetic job runs no scheduler and no workers", m)
		}
	}
	if got != workers || total != workers*samples {
		t.Errorf("%d reports, %d samples; want %d, %d", got, total, workers, workers*samples)
	}
	if res == nil || res.Status != protocol.StatusOK || res.Timings.Total <= 0 || res.Timings.Collect <= 0 {
		t.Errorf("job result %+v", res)
	}
	g.loadMu.Lock()
	n := g.loads
	g.loadMu.Unlock()
	if n != 0 {
		t.Errorf("%d scheduler loads, want none", n)
	}
}
