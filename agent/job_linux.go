package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/scxvm/scxvm/agent/scenario"
	"github.com/scxvm/scxvm/agent/scxfs"
	"github.com/scxvm/scxvm/agent/supervise"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/workload/cgroup"
)

// jobTimeout is Job.Timeout with its default.
func jobTimeout(j *protocol.Job) time.Duration {
	if j.Timeout > 0 {
		return j.Timeout
	}
	d := j.Scenario.Duration
	if d <= 0 {
		d = spec.DefaultDuration
	}
	return d + spec.DefaultTimeoutSlack
}

// jobWatchdog is Job.Watchdog with its default.
func jobWatchdog(j *protocol.Job) time.Duration {
	if j.Watchdog > 0 {
		return j.Watchdog
	}
	return jobTimeout(j) + spec.DefaultTimeoutSlack
}

// runJob runs one job in a goroutine and waits for it under the job's
// watchdog. A Bye that arrives meanwhile cancels the job; other messages
// wait in msgs. It returns an error only when the session must end.
func (s *session) runJob(ctx context.Context, job *protocol.Job, msgs <-chan protocol.Message, recvErr <-chan error) error {
	s.cfg.Logf("job %d: scenario %q, scheduler %s", job.ID, job.Scenario.Name, specOf(job.Scheduler))
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	s.goSafe(func() { s.job(jctx, job) }, func() { close(done) })
	wd := time.NewTimer(jobWatchdog(job))
	defer wd.Stop()
	var pending []protocol.Message // handled by the loop after the job
	for {
		select {
		case <-done:
			select {
			case err := <-s.fatal: // the job panicked
				s.final(&protocol.Error{Op: "agent", JobID: job.ID, Message: err.Error(), Fatal: true}, &protocol.Bye{Reason: "agent panic"})
				return err
			default:
			}
			s.replay(pending)
			return nil
		case m := <-msgs:
			if r, ok := m.(*protocol.Resize); ok { // for the running shell, now
				s.resizeShell(r)
				continue
			}
			if _, ok := m.(*protocol.Bye); ok {
				s.cfg.Logf("job %d: host said bye mid-job; cancelling", job.ID)
				cancel()
			}
			pending = append(pending, m)
		case err := <-s.fatal:
			s.final(&protocol.Error{Op: "agent", JobID: job.ID, Message: err.Error(), Fatal: true}, &protocol.Bye{Reason: "agent panic"})
			return err
		case <-wd.C:
			err := fmt.Errorf("job %d: %w after %v", job.ID, ErrWatchdog, jobWatchdog(job))
			s.final(&protocol.Error{Op: "watchdog", JobID: job.ID, Message: err.Error(), Fatal: true}, &protocol.Bye{Reason: "job watchdog"})
			return err
		case err := <-recvErr:
			// The host is gone: stop the job, nobody will read it.
			cancel()
			<-done
			return fmt.Errorf("receive during job %d: %w", job.ID, err)
		case <-s.lost:
			return errors.New("channel to the host lost")
		}
	}
}

// replay hands messages that arrived during a job back to the loop.
func (s *session) replay(ms []protocol.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backlog = append(s.backlog, ms...)
}

// next pops a message that arrived during the previous job.
func (s *session) next() (protocol.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.backlog) == 0 {
		return nil, false
	}
	m := s.backlog[0]
	s.backlog = s.backlog[1:]
	return m, true
}

// specOf maps the wire scheduler spec to supervision's.
func specOf(p protocol.SchedulerSpec) supervise.Spec {
	switch p.Kind {
	case protocol.SchedulerBuiltin:
		return supervise.Spec{Builtin: p.Name, ErrorAfter: p.ErrorAfter, TimeoutMs: int(p.WatchdogTimeout / time.Millisecond)}
	case protocol.SchedulerBinary:
		return supervise.Spec{Path: p.Path, Args: slices.Clone(p.Args), Ops: p.Name}
	}
	return supervise.Spec{}
}

func sameSpec(a, b supervise.Spec) bool {
	return a.Builtin == b.Builtin && a.Path == b.Path && slices.Equal(a.Args, b.Args) &&
		a.Ops == b.Ops && a.ErrorAfter == b.ErrorAfter && a.TimeoutMs == b.TimeoutMs
}

// ensureScheduler makes the job's scheduler the running one: it keeps an
// identical healthy scheduler, otherwise stops the current one and starts
// the new one.
//
// The scheduler instance then belongs to job (id, arrived): its events
// carry that job's ID, even when the agent notices them during a later
// job (a loader exits some time after its ejection).
func (s *session) ensureScheduler(ctx context.Context, p protocol.SchedulerSpec, id uint32, arrived time.Time) error {
	want := specOf(p)
	s.mu.Lock()
	cur, curSpec, curOwner := s.sup, s.supSpec, s.supOwner
	s.mu.Unlock()
	if cur != nil {
		_, ended := cur.Terminal()
		if !ended && sameSpec(curSpec, want) {
			curOwner.set(id, arrived)
			return nil
		}
		s.stopScheduler()
	}
	if want.None() {
		return nil
	}
	owner := &schedOwner{}
	owner.set(id, arrived)
	cfg := s.cfg.Supervise
	cfg.OnEvent = func(e supervise.Event) { s.onSchedEvent(owner, e) }
	cfg.AttachTimeout = p.AttachTimeout // zero: supervise's default
	sup := supervise.New(want, cfg)
	// Registered before Start so that the kernel log reaches it from the
	// scheduler's "enabled" line on.
	s.mu.Lock()
	s.sup, s.supSpec, s.supOwner = sup, want, owner
	s.mu.Unlock()
	ok := false
	defer func() {
		if !ok { // failed, or panicked
			s.mu.Lock()
			s.sup = nil
			s.mu.Unlock()
		}
	}()
	if err := sup.Start(ctx); err != nil {
		return err
	}
	ok = true
	return nil
}

// job runs one job to its JobResult.
func (s *session) job(ctx context.Context, job *protocol.Job) {
	arrived := time.Now()
	if job.Synthetic != nil { // benchmark of the report path (synthetic_linux.go)
		s.syntheticJob(job, arrived)
		return
	}
	if job.Shell != nil { // an interactive shell (shell_linux.go)
		s.shellJob(ctx, job, arrived)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, jobTimeout(job))
	defer cancel()
	res := &protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK}
	finish := func() {
		s.awaitSchedulerEnd(ctx)
		// The end state is read before a requested restart unloads the
		// scheduler: it describes the run, not the restart.
		if st, err := scxfs.Read(s.cfg.SchedExtDir); err == nil {
			res.SchedStateEnd, res.EnableSeqEnd = st.State, st.EnableSeq
		}
		res.TelemetryEnd = s.telemetry(arrived, true)
		if job.Scheduler.Restart {
			s.stopScheduler()
		}
		res.Collected = s.collect(job)
		res.Timings.Total = time.Since(arrived)
		s.send(res)
		s.cfg.Logf("job %d: %s in %v", job.ID, res.Status, res.Timings.Total.Round(time.Millisecond))
	}

	if err := s.ensureScheduler(ctx, job.Scheduler, job.ID, arrived); err != nil {
		var le *supervise.LoadError
		if errors.As(err, &le) {
			res.Status = protocol.StatusSchedulerFailed
		} else {
			res.Status = statusOf(ctx, err)
		}
		res.Error = err.Error()
		res.Timings.Setup = time.Since(arrived)
		if st, err := scxfs.Read(s.cfg.SchedExtDir); err == nil {
			res.EnableSeqStart = st.EnableSeq // nothing ran: no bracket
		}
		finish()
		return
	}
	if st, err := scxfs.Read(s.cfg.SchedExtDir); err == nil {
		res.EnableSeqStart, res.SchedStateStart = st.EnableSeq, st.State
	}
	res.TelemetryStart = s.telemetry(arrived, true)
	schedSetup := time.Since(arrived)

	stopWatch := s.startStallWatch(job, arrived)
	interval := job.ProgressInterval
	if interval == 0 {
		interval = protocol.DefaultProgressInterval
	}
	sr, err := scenario.Run(ctx, job.Scenario, scenario.Config{
		CgroupParent:  s.cfg.CgroupParent,
		Name:          fmt.Sprintf("scxvm-job-%d", job.ID),
		CgroupOptions: s.cfg.CgroupOptions,
		Interval:      interval,
		Hooks: scenario.Hooks{
			Progress:      func(p scenario.Progress) { s.progress(job.ID, arrived, p) },
			KillScheduler: s.killScheduler,
			SysRq:         s.cfg.SysRq,
			Hang:          s.hang,
			Logf:          s.cfg.Logf,
			Output: func(payload, stream int, data []byte) {
				s.send(&protocol.Output{JobID: job.ID, Payload: payload, Stream: stream, Data: data})
			},
		},
	})
	if err != nil {
		s.awaitWatchdog(ctx, job, err)
	}
	stopWatch()
	if sr != nil {
		s.sendReports(job.ID, sr.Reports)
		res.Payloads = sr.Payloads
		res.Timings.Setup = schedSetup + sr.Setup
		res.Timings.Run, res.Timings.Collect = sr.Run, sr.Collect
	}
	if err != nil {
		res.Status = statusOf(ctx, err)
		res.Error = err.Error()
	}
	finish()
}

// awaitSchedulerEnd lets the verdict on a scheduler that the kernel is
// disabling reach the host before the job's end does (see
// supervise.Supervisor.AwaitEnd).
func (s *session) awaitSchedulerEnd(ctx context.Context) {
	if sup := s.supervisor(); sup != nil {
		sup.AwaitEnd(ctx)
	}
}

// awaitWatchdog gives the kernel's watchdog time to judge the scheduler
// after a job failed on a cgroup write that timed out. Such a write waits
// for tasks that the scheduler does not run: the setup error is a symptom
// and the ejection that follows is the cause. The job's result goes out
// after the ejection's event, so the host attributes the failure to the
// scheduler rather than to the scenario.
//
// The wait ends at the scheduler's terminal event, at ctx's end, or after
// the longest the watchdog may take: it checks every half timeout, so a
// stall is caught within 1.5 timeouts of its start.
func (s *session) awaitWatchdog(ctx context.Context, job *protocol.Job, err error) {
	var we *cgroup.WriteError
	if !errors.As(err, &we) || !we.TimedOut {
		return
	}
	sup := s.supervisor()
	if sup == nil {
		return
	}
	if _, ended := sup.Terminal(); ended {
		return
	}
	timeout := job.Scheduler.WatchdogTimeout
	if timeout <= 0 || job.Scheduler.Path != "" {
		timeout = maxWatchdogTimeout
	}
	bound := timeout*3/2 + watchdogSlack
	s.cfg.Logf("job %d: %v; waiting up to %v for the kernel's watchdog to judge scheduler %s", job.ID, err, bound, sup.Spec())
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-sup.Done():
	case <-t.C:
	case <-ctx.Done():
	}
}

const (
	// maxWatchdogTimeout is the largest ops.timeout_ms the kernel
	// accepts, and the default of a scheduler that sets none.
	maxWatchdogTimeout = 30 * time.Second
	// watchdogSlack covers the supervisor's wait for the kernel's
	// trailing lines and the loader's exit after an ejection.
	watchdogSlack = 2 * time.Second
)

// statusOf classifies a job error.
func statusOf(ctx context.Context, err error) protocol.JobStatus {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return protocol.StatusTimedOut
	}
	return protocol.StatusFailed
}

func (s *session) progress(id uint32, arrived time.Time, p scenario.Progress) {
	m := &protocol.Progress{JobID: id, At: p.At, Iterations: p.Iterations, Workers: p.Workers}
	// One walk of the sysfs directory (about ten small files) per sample:
	// the state and enable_seq come from it too.
	if t := s.telemetry(arrived, false); t != nil {
		m.Telemetry = t
		m.SchedState, m.EnableSeq = t.Values["state"], t.Counters["enable_seq"]
	}
	s.send(m)
}

// telemetry reads sched_ext's sysfs files, and its debugfs files when
// debug is set, stamped with the time since the job arrived; nil when
// the kernel has no sched_ext.
func (s *session) telemetry(arrived time.Time, debug bool) *spec.SchedTelemetry {
	dbg := ""
	if debug {
		dbg = s.cfg.DebugDir
	}
	t, err := scxfs.Snapshot(s.cfg.SchedExtDir, dbg)
	if err != nil {
		return nil
	}
	t.At = time.Since(arrived)
	return &t
}

func (s *session) killScheduler(sig syscall.Signal) error {
	sup := s.supervisor()
	if sup == nil {
		return errors.New("kill scheduler: no scheduler running")
	}
	return sup.Signal(sig)
}

// hang silences the agent for good (fault fixture: the host must time
// out) and blocks until ctx ends.
func (s *session) hang(ctx context.Context) {
	s.cfg.Logf("hang step: the agent stops answering")
	s.muted.Store(true)
	<-ctx.Done()
}

// sendReports sends reports in messages of bounded size, in order.
func (s *session) sendReports(id uint32, reps []protocol.CgroupReport) {
	msgs := protocol.SplitReports(id, reps, maxReportsBytes)
	if len(msgs) == 0 {
		msgs = []*protocol.Reports{{JobID: id}} // "no workers" is a report too
	}
	for _, m := range msgs {
		s.send(m)
	}
}
