package agent

import (
	"path/filepath"
	"time"

	"github.com/scxvm/scxvm/agent/stallwatch"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// primeStallWatch opens the proc files of the guest's threads before the
// first job, so that the first sample of a job does not pay for opening
// them all (about 100 us each under TCG).
func (s *session) primeStallWatch() {
	s.samplerMu.Lock()
	defer s.samplerMu.Unlock()
	s.sampler = stallwatch.NewSampler(filepath.Join(s.cfg.SysRoot, "proc"))
	if _, _, err := s.sampler.Sample(nil); err != nil {
		s.cfg.Logf("stall watch: %v", err)
	}
}

// closeStallWatch closes the sampler's files. A job that outlived the
// session (its watchdog expired) may still hold the sampler: its watch is
// stopped first, so that nothing samples while the files close.
func (s *session) closeStallWatch() {
	s.mu.Lock()
	w := s.watch
	s.mu.Unlock()
	if w != nil {
		w.Stop()
	} else {
		s.samplerMu.Lock()
		defer s.samplerMu.Unlock()
	}
	if s.sampler != nil {
		s.sampler.Close()
	}
}

// startStallWatch starts the guest-wide stall watch for a job (unless the
// job's checks skip no_stalled_task) and returns the function that stops
// it and sends its final RunnableWaits. A wait that exceeds the job's
// MaxRunnableWait is sent at once, from the watch's real-time thread.
func (s *session) startStallWatch(job *protocol.Job, arrived time.Time) (stop func()) {
	checks := job.Scenario.Checks
	if checks.Skips(spec.CheckNoStalledTask) {
		return func() {}
	}
	threshold := checks.MaxRunnableWaitOrDefault()
	floor := threshold / 4
	s.samplerMu.Lock() // until stop: the sampler is the watch's
	if s.sampler == nil {
		s.sampler = stallwatch.NewSampler(filepath.Join(s.cfg.SysRoot, "proc"))
	}
	w := stallwatch.Start(stallwatch.Config{
		Sampler:   s.sampler,
		Threshold: threshold,
		Floor:     floor,
		Start:     arrived,
		OnStall: func(tw protocol.TaskWait) {
			s.cfg.Logf("job %d: task %d (%s) runnable on cpu %d for %v without running", job.ID, tw.PID, tw.Comm, tw.CPU, tw.Waited.Round(time.Millisecond))
			s.send(&protocol.RunnableWaits{JobID: job.ID, Waits: []protocol.TaskWait{tw}, Floor: floor})
		},
	})
	s.mu.Lock()
	s.watch = w
	s.mu.Unlock()
	return func() {
		waits, stats := w.Stop()
		s.mu.Lock()
		s.watch = nil
		s.mu.Unlock()
		s.samplerMu.Unlock()
		if stats.Error != "" {
			s.cfg.Logf("job %d: %s", job.ID, stats.Error)
		}
		s.send(&protocol.RunnableWaits{JobID: job.ID, Final: true, Waits: waits, Floor: floor, Stats: stats})
	}
}
