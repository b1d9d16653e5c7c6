package vmtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest/check"
)

// jobSpec returns the protocol scheduler spec for a run of a scenario.
func (s *session) jobSpec(sc spec.Scenario, baseline bool) protocol.SchedulerSpec {
	sched := s.cfg.jobScheduler(sc, baseline)
	if sched.IsNone() {
		return protocol.SchedulerSpec{Kind: protocol.SchedulerNone}
	}
	out := protocol.SchedulerSpec{
		AttachTimeout: sched.AttachTimeout,
		Restart:       s.cfg.RestartScheduler,
	}
	if out.AttachTimeout == 0 {
		// Loading and verifying BPF programs takes seconds under TCG.
		out.AttachTimeout = spec.DefaultAttachTimeout
		if s.res.Accel == "tcg" {
			out.AttachTimeout = spec.DefaultAttachTimeoutTCG
		}
	}
	switch {
	case sched.IsBuiltin():
		out.Kind, out.Name = protocol.SchedulerBuiltin, sched.Name
		if out.Name == "" {
			out.Name = spec.SchedulerFIFO
		}
	default:
		out.Kind = protocol.SchedulerBinary
		out.Path = s.guestSchedulerPath(sched)
		out.Args = sched.Args
	}
	return out
}

// jobState accumulates one job's messages.
type jobState struct {
	sr      *ScenarioResult
	sc      spec.Scenario
	sent    time.Time
	workers []protocol.WorkerInfo
	prev    *protocol.Progress
	prevAt  time.Duration
	reports []protocol.CgroupReport
	result  *protocol.JobResult
	errs    []string
	// index is sr's place in Result.Scenarios once filed there, or -1.
	index int
	// badEvent indexes sr.SchedEvents: the first ejection, death or load
	// failure, or -1.
	badEvent int
	// outputs are the payloads' output files, by payload index.
	outputs []*payloadOutput
	// collect is set when the job copies Config.Collect.
	collect *collecting
}

// schedBad returns the job's first ejection, death or load failure, or
// nil.
func (js *jobState) schedBad() *SchedEvent {
	if js.badEvent < 0 {
		return nil
	}
	return &js.sr.SchedEvents[js.badEvent]
}

// telemetry returns the scenario's telemetry, made on first use.
func (js *jobState) telemetry() *SchedTelemetry {
	if js.sr.Telemetry == nil {
		js.sr.Telemetry = &SchedTelemetry{}
	}
	return js.sr.Telemetry
}

// addSchedEvent files ev with the job and reports whether it is the job's
// first bad one.
func (js *jobState) addSchedEvent(ev SchedEvent) (firstBad bool) {
	js.sr.SchedEvents = append(js.sr.SchedEvents, ev)
	switch protocol.SchedEventKind(ev.Kind) {
	case protocol.SchedEjected, protocol.SchedDied, protocol.SchedLoadFailed:
		if js.badEvent < 0 {
			js.badEvent = len(js.sr.SchedEvents) - 1
			return true
		}
	}
	return false
}

// runJob sends one job and collects everything about it. fatal is set when
// the guest is lost and no further job can run.
func (s *session) runJob(ctx context.Context, sc spec.Scenario, baseline bool, repeat int) (sr *ScenarioResult, fatal *Failure) {
	s.nextID++
	id := s.nextID
	sched := s.jobSpec(sc, baseline)
	schedName := s.cfg.jobScheduler(sc, baseline).String()
	if sched.Kind == protocol.SchedulerNone {
		schedName = spec.SchedulerNone
	}
	// The thresholds are layered once, here: the defaults, the scheduler's
	// layer, the scenario's own (spec.Checks.Resolve).
	judged := s.cfg.jobScheduler(sc, baseline)
	if sched.Kind == protocol.SchedulerNone {
		judged = spec.Scheduler{Name: spec.SchedulerNone, Checks: judged.Checks}
	}
	sources := sc.Checks.Sources(judged)
	if len(sources) == 0 {
		sources = nil
	}
	sc.Checks = sc.Checks.Resolve(judged)
	sr = &ScenarioResult{Name: sc.Name, Scheduler: schedName, Baseline: baseline, Repeat: repeat, Duration: sc.RunTime(),
		Checks: sc.Checks, CheckSources: sources}
	js := &jobState{sr: sr, sc: sc, sent: time.Now(), index: -1, badEvent: -1}
	if s.jobs == nil {
		s.jobs = map[uint32]*jobState{}
	}
	s.jobs[id] = js
	s.openOutputs(js)
	job := &protocol.Job{
		ID:               id,
		Scheduler:        sched,
		Scenario:         sc,
		ProgressInterval: progressInterval(sc),
		Timeout:          sc.JobTimeout(),
	}
	if job.Scenario.Duration == 0 {
		job.Scenario.Duration = sc.RunTime()
	}
	if s.collectNext && len(s.cfg.Collect) > 0 {
		js.collect = &collecting{dirs: s.cfg.Collect, roots: make([]*os.Root, len(s.cfg.Collect)), errs: make([]error, len(s.cfg.Collect))}
		for _, c := range s.cfg.Collect {
			job.Collect = append(job.Collect, c.Guest)
		}
	}
	s.emit(Event{Kind: EventScenarioStart, Scenario: sc.Name, Scheduler: schedName})
	wait := jobTimeout(sc)
	if s.jobWait > 0 {
		wait = s.jobWait
	}
	jctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	if err := s.conn.Send(job); err != nil {
		f := s.attribute(jctx, sc.Name, fmt.Errorf("send job: %w", err))
		sr.Failure = f
		return sr, f
	}
	for js.result == nil {
		m, err := s.conn.RecvContext(jctx)
		if err != nil {
			if s.userCtx.Err() != nil {
				return sr, nil // run notices the cancellation
			}
			f := s.attribute(jctx, sc.Name, err)
			s.finishJob(js, f)
			return sr, f
		}
		if fatal := s.handle(js, id, m); fatal != nil {
			s.finishJob(js, fatal)
			return sr, fatal
		}
	}
	s.finishJob(js, nil)
	return sr, nil
}

// progressInterval picks a progress period: ten samples a run, within
// 100 ms - 1 s.
func progressInterval(sc spec.Scenario) time.Duration {
	return min(max(sc.RunTime()/10, 100*time.Millisecond), time.Second)
}

// handle files one message of the running job; it returns a failure when
// the agent says the conversation is over.
func (s *session) handle(js *jobState, id uint32, m protocol.Message) *Failure {
	switch m := m.(type) {
	case *protocol.Progress:
		if m.JobID == id {
			s.progress(js, m)
		}
	case *protocol.SchedEvent:
		ev := SchedEvent{
			Kind: string(m.Kind), At: m.At, Scheduler: m.Scheduler, Reason: m.Reason,
			Message: strings.Join(m.KernelLines, "\n"), Log: m.Log, Dump: m.Dump,
		}
		if m.Exit != nil {
			if ev.Message != "" {
				ev.Message += "\n"
			}
			ev.Message += "loader " + m.Exit.String()
		}
		if owner, ok := s.jobs[m.JobID]; ok && m.JobID != id {
			s.lateSchedEvent(owner, ev)
			break
		}
		js.addSchedEvent(ev)
		s.emit(Event{Kind: EventSched, Scenario: js.sc.Name, Scheduler: js.sr.Scheduler, SchedEvent: &ev, Message: describeSchedEvent(ev)})
	case *protocol.KernelLog:
		s.kernelLines(m, js.sr)
	case *protocol.Reports:
		if m.JobID == id {
			js.reports = append(js.reports, m.Workers...)
		}
	case *protocol.JobResult:
		if m.JobID == id {
			js.result = m
		}
	case *protocol.Output:
		if m.JobID == id {
			s.output(js, m)
		}
	case *protocol.FileData:
		if m.JobID == id && js.collect != nil {
			js.collect.fileData(m)
		}
	case *protocol.RunnableWaits:
		if m.JobID == id {
			js.runnableWaits(m)
			if !m.Final {
				for _, w := range m.Waits {
					s.emit(Event{Kind: EventStall, Scenario: js.sc.Name, Scheduler: js.sr.Scheduler, Message: check.TaskWait{
						PID: w.PID, TGID: w.TGID, Comm: w.Comm, CPU: w.CPU, Waited: w.Waited, At: w.At, Kthread: w.Kthread, Policy: w.Policy,
					}.String()})
				}
			}
		}
	case *protocol.Error:
		js.errs = append(js.errs, fmt.Sprintf("%s: %s", m.Op, m.Message))
		if m.Fatal {
			return &Failure{Kind: FailAgent, Scenario: js.sc.Name, Message: fmt.Sprintf("agent: %s: %s", m.Op, m.Message), Detail: s.vm.ConsoleTail(20)}
		}
	case *protocol.Bye:
		return &Failure{Kind: FailAgent, Scenario: js.sc.Name, Message: fmt.Sprintf("the agent said bye during the job (%s)", m.Reason)}
	case *protocol.Hello, *protocol.Job:
		return &Failure{Kind: FailProtocol, Scenario: js.sc.Name, Message: fmt.Sprintf("unexpected %s message during a job", m.MessageType())}
	}
	return nil
}

func describeSchedEvent(ev SchedEvent) string {
	var b strings.Builder
	b.WriteString(ev.Kind)
	if ev.Scheduler != "" {
		fmt.Fprintf(&b, " %q", ev.Scheduler)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, " (%s)", ev.Reason)
	}
	if ev.Message != "" {
		first, _, _ := strings.Cut(ev.Message, "\n")
		b.WriteString(": " + first)
	}
	return b.String()
}

// kernelLines records kernel log lines, in the scenario too when one runs.
func (s *session) kernelLines(m *protocol.KernelLog, sr *ScenarioResult) {
	for _, l := range m.Lines {
		s.res.KernelLog = append(s.res.KernelLog, l.Text)
		if sr != nil {
			sr.KernelLog = append(sr.KernelLog, l.Text)
		}
		s.emit(Event{Kind: EventKernelLog, Message: l.Text})
	}
}

func (s *session) progress(js *jobState, m *protocol.Progress) {
	if m.Workers != nil {
		js.workers = m.Workers
	}
	sample := ProgressSample{Elapsed: m.At, Iterations: m.Iterations, SchedState: m.SchedState, Rates: map[string]float64{}}
	if js.prev != nil && m.At > js.prevAt && len(js.prev.Iterations) <= len(m.Iterations) {
		dt := (m.At - js.prevAt).Seconds()
		for i, it := range m.Iterations {
			cg := "?"
			if i < len(js.workers) {
				cg = js.workers[i].Cgroup
			}
			var before uint64
			if i < len(js.prev.Iterations) {
				before = js.prev.Iterations[i]
			}
			if it >= before {
				sample.Rates[cg] += float64(it-before) / dt
			}
		}
	}
	js.prev, js.prevAt = m, m.At
	js.sr.Progress = append(js.sr.Progress, sample)
	if m.Telemetry != nil {
		js.telemetry().Samples = append(js.telemetry().Samples, *m.Telemetry)
	}
	s.emit(Event{Kind: EventProgress, Scenario: js.sc.Name, Scheduler: js.sr.Scheduler, Sample: &sample})
}

// finishJob turns the collected messages into the scenario's verdict.
// lost is set when the guest was lost during the job.
func (s *session) finishJob(js *jobState, lost *Failure) {
	sr := js.sr
	sr.Elapsed = time.Since(js.sent)
	sr.Workers = workerResults(js.sc, js.reports)
	if ev := js.schedBad(); ev != nil && ev.Kind == string(protocol.SchedEjected) && !strings.Contains(ev.Message, "disabled (") {
		// The agent saw the state change before the kernel's lines: take
		// the reason and the stall or error message from the kernel log.
		if reason, lines := ktext.Ejection(sr.KernelLog); reason != "" {
			ev.Reason, ev.Message = reason, strings.Join(lines, "\n")
		}
	}
	var missing []string
	in := check.Input{
		Scenario:       js.sc,
		Workers:        sr.Workers,
		Sched:          !s.cfg.jobScheduler(js.sc, sr.Baseline).IsNone(),
		KernelLog:      sr.KernelLog,
		StallWatch:     sr.StallWatch,
		WorkerInfo:     js.workers,
		EnableSeqStart: -1,
		EnableSeqEnd:   -1,
		Rates:          rateSamples(sr.Progress),
		CPUNode:        s.cpuNode,
	}
	if ev := js.schedBad(); ev != nil {
		in.SchedFailure = describeSchedEvent(*ev)
	}
	if r := js.result; r != nil {
		sr.Timings = &JobTimings{Setup: r.Timings.Setup, Run: r.Timings.Run, Collect: r.Timings.Collect, Total: r.Timings.Total}
		for i, p := range r.Payloads {
			pr := payloadResult(p)
			if i < len(js.sc.Payloads) {
				pr.ExpectExit = js.sc.Payloads[i].ExpectExit
			}
			sr.Payloads = append(sr.Payloads, pr)
		}
		if r.TelemetryStart != nil || r.TelemetryEnd != nil {
			t := js.telemetry()
			t.Start, t.End = r.TelemetryStart, r.TelemetryEnd
			if t.Start != nil && t.End != nil {
				t.Delta = t.Start.Delta(*t.End)
			}
		}
		if r.EnableSeqStart != 0 || r.EnableSeqEnd != 0 {
			in.EnableSeqStart, in.EnableSeqEnd = int64(r.EnableSeqStart), int64(r.EnableSeqEnd)
		}
		if r.Status != protocol.StatusOK {
			in.Incomplete = fmt.Sprintf("job %s: %s", r.Status, r.Error)
		}
		if in.Sched && r.SchedStateEnd != "" && r.SchedStateEnd != "enabled" && in.SchedFailure == "" {
			in.SchedFailure = fmt.Sprintf("sched_ext state is %q at the end of the run", r.SchedStateEnd)
		}
		if r.Status == protocol.StatusOK {
			missing = s.missingEvidence(js, in.Sched)
		}
	} else {
		in.Incomplete = "no job result (the guest was lost)"
	}
	js.closeOutputs()
	if js.collect != nil {
		var agent []protocol.CollectResult
		if js.result != nil {
			agent = js.result.Collected
		}
		s.res.Collected = js.collect.finish(agent)
	}
	in.Payloads = checkPayloads(js.sc, sr.Payloads)
	sr.Failures = check.Evaluate(in)

	sr.Passed = len(sr.Failures) == 0 && lost == nil
	sr.Failure = s.jobFailure(js, lost)
	if len(missing) > 0 && sr.Failure == nil {
		sr.Failure = &Failure{Kind: FailNoEvidence, Scenario: sr.Name,
			Message: "no evidence for a verdict: " + strings.Join(missing, "; "), Detail: missing}
	}
	if sr.Failure != nil {
		sr.Passed = false
	}
	res := sr
	s.emit(Event{Kind: EventScenarioDone, Scenario: sr.Name, Scheduler: sr.Scheduler, Result: res})
}

// jobFailure attributes a failed job to its most specific cause.
func (s *session) jobFailure(js *jobState, lost *Failure) *Failure {
	if lost != nil && (lost.Kind == FailPanic || lost.Kind == FailAgent || lost.Kind == FailProtocol) {
		return lost
	}
	if ev := js.schedBad(); ev != nil {
		f := &Failure{Scenario: js.sc.Name}
		switch ev.Kind {
		case string(protocol.SchedLoadFailed):
			f.Kind = FailLoad
			f.Message = fmt.Sprintf("scheduler %s did not load", js.sr.Scheduler)
			var why []string
			if ev.Reason != "" {
				why = append(why, ev.Reason)
			}
			if ev.Message != "" {
				why = append(why, firstLine(ev.Message))
			}
			if len(why) > 0 {
				f.Message += ": " + strings.Join(why, "; ")
			}
		case string(protocol.SchedEjected):
			f.Kind = FailEjected
			f.Message = fmt.Sprintf("the kernel ejected scheduler %s", orName(ev.Scheduler, js.sr.Scheduler))
			if ev.Reason != "" {
				f.Message += " (" + ev.Reason + ")"
			}
		default:
			f.Kind = FailSchedulerDied
			f.Message = fmt.Sprintf("scheduler %s died during the run", js.sr.Scheduler)
			if ev.Message != "" {
				f.Message += ": " + lastLine(ev.Message)
			}
		}
		f.Detail = append(f.Detail, splitLines(ev.Message)...)
		if ev.Log != "" {
			f.Detail = append(f.Detail, "scheduler output:")
			f.Detail = append(f.Detail, tailLines(splitLines(ev.Log), 40)...)
		}
		if ev.Dump != "" {
			// The head holds the exit reason, its backtrace and the cpus'
			// states; the whole dump is in the result's sched_events.
			lines := splitLines(ev.Dump)
			f.Detail = append(f.Detail, fmt.Sprintf("kernel debug dump (%d lines, the first %d):", len(lines), min(len(lines), dumpDetailLines)))
			f.Detail = append(f.Detail, lines[:min(len(lines), dumpDetailLines)]...)
		}
		return f
	}
	if lost != nil {
		return lost
	}
	if r := js.result; r != nil {
		switch r.Status {
		case protocol.StatusTimedOut:
			return s.timeoutFailure(js, r)
		case protocol.StatusFailed, protocol.StatusSchedulerFailed:
			return &Failure{Kind: FailScenario, Scenario: js.sc.Name, Message: r.Error, Detail: js.errs}
		}
	}
	for _, w := range js.sr.Workers {
		if !w.Report.Completed && !js.sc.Checks.Skips(spec.CheckNoWorkerCrash) {
			return &Failure{Kind: FailWorkerCrash, Scenario: js.sc.Name,
				Message: fmt.Sprintf("worker %d of cgroup %s (%s) %s", w.Report.Index, w.Cgroup, w.Kind, check.DescribeExit(w.Report.Exit))}
		}
	}
	if !js.sc.Checks.Skips(spec.CheckKernelClean) {
		for _, l := range js.sr.KernelLog {
			if k, ok := ktext.Detect(l); ok && k.Fatal() {
				return &Failure{Kind: FailPanic, Scenario: js.sc.Name, Message: fmt.Sprintf("kernel %s: %s", k, strings.TrimSpace(l))}
			}
		}
	}
	if f := payloadFailure(js); f != nil {
		return f
	}
	if len(js.sr.Failures) > 0 {
		return checksFailure(js.sr)
	}
	return nil
}

// dumpDetailLines bounds the debug dump lines in a failure's detail.
const dumpDetailLines = 40

func orName(a, b string) string {
	if a != "" {
		return fmt.Sprintf("%q", a)
	}
	return b
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func lastLine(s string) string {
	ls := splitLines(s)
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1]
}

func tailLines(ls []string, n int) []string {
	if len(ls) > n {
		return ls[len(ls)-n:]
	}
	return ls
}

// workerResults attaches each report to its workload set: per cgroup, the
// workload configs in order (then those of spawn and add_cgroup steps),
// reports taken in the agent's order (spawn order within the cgroup).
func workerResults(sc spec.Scenario, reports []protocol.CgroupReport) []check.Worker {
	type set struct {
		id   int
		n    int
		kind spec.WorkKind
	}
	sets := map[string][]set{}
	id := 0
	addSets := func(cg string, ws []spec.WorkloadConfig) {
		for _, w := range ws {
			kind := w.WorkType.Kind
			if kind == "" {
				kind = spec.CpuSpin
			}
			sets[cg] = append(sets[cg], set{id: id, n: w.NumWorkers, kind: kind})
			id++
		}
	}
	for _, cg := range sc.Cgroups {
		addSets(cg.Name, cg.Workloads)
	}
	for _, st := range sc.Steps {
		if st.Action == spec.StepSpawn || st.Action == spec.StepAddCgroup {
			addSets(st.Cgroup, st.Workloads)
		}
	}
	pos := map[string]int{}
	out := make([]check.Worker, 0, len(reports))
	for _, r := range reports {
		p := pos[r.Cgroup]
		pos[r.Cgroup]++
		w := check.Worker{Cgroup: r.Cgroup, Set: -1, Report: r.Report}
		for _, st := range sets[r.Cgroup] {
			if p < st.n {
				w.Set, w.Kind = st.id, st.kind
				break
			}
			p -= st.n
		}
		out = append(out, w)
	}
	return out
}

// missingEvidence lists what a passing job must have shown and js did
// not: a report from every configured worker (spawn steps included),
// progress samples during the run, the stall watch's summary (unless its
// check is skipped), and, with a scheduler under test, that scheduler
// enabled before the workers started and still at the end.
func (s *session) missingEvidence(js *jobState, sched bool) []string {
	var out []string
	if want, got := js.sc.Workers(), len(js.reports); got < want {
		out = append(out, fmt.Sprintf("%d of %d configured workers reported", got, want))
	}
	if js.sc.Workers() > 0 && len(js.sr.Progress) == 0 {
		out = append(out, "no progress sample arrived during the run")
	}
	if sw := js.sr.StallWatch; !js.sc.Checks.Skips(spec.CheckNoStalledTask) && (sw == nil || !sw.Final) {
		out = append(out, "the guest's stall watch sent no summary")
	}
	if r := js.result; sched && r != nil {
		if r.SchedStateStart != "enabled" {
			out = append(out, fmt.Sprintf("sched_ext state %q when the workers started, want \"enabled\"", orUnknown(r.SchedStateStart)))
		}
		if r.SchedStateEnd != "enabled" {
			out = append(out, fmt.Sprintf("sched_ext state %q at the end of the run, want \"enabled\"", orUnknown(r.SchedStateEnd)))
		}
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// rateSamples turns the progress samples that carry rates into the
// rate_dip check's input.
func rateSamples(ps []ProgressSample) []check.RateSample {
	var out []check.RateSample
	for _, p := range ps {
		if len(p.Rates) == 0 {
			continue
		}
		rates := make(map[string]float64, len(p.Rates))
		for cg, r := range p.Rates {
			if cg != "?" { // a worker the agent had not named yet
				rates[cg] = r
			}
		}
		out = append(out, check.RateSample{At: p.Elapsed, Rates: rates})
	}
	return out
}
