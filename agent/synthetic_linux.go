package agent

import (
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// syntheticJob answers a Job with Synthetic set: generated reports sent
// like real ones, then the JobResult (see protocol.SyntheticReports).
func (s *session) syntheticJob(job *protocol.Job, arrived time.Time) {
	gen := time.Now()
	n, m := max(job.Synthetic.Workers, 0), min(max(job.Synthetic.Samples, 0), spec.MaxLatencySamples)
	reps := make([]protocol.CgroupReport, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range reps {
		samples := make(spec.Samples, m)
		for j := range samples {
			// xorshift: latencies of 1-65 µs, as incompressible as real ones.
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			samples[j] = 1000 + x%64000
		}
		reps[i] = protocol.CgroupReport{Cgroup: "synthetic", Report: spec.WorkerReport{
			Index: i, Completed: true, Iterations: uint64(m), ResumeLatenciesNs: samples, ResumeLatencyCount: uint64(m),
		}}
	}
	res := &protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK}
	res.Timings.Setup = time.Since(gen)
	sent := time.Now()
	s.sendReports(job.ID, reps)
	res.Timings.Collect = time.Since(sent)
	res.Timings.Total = time.Since(arrived)
	s.send(res)
}
