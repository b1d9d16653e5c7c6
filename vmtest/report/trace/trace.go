package trace

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/report/internal/timeline"
)

// Options tune a trace. The zero value (or nil) gives the defaults.
type Options struct {
	// MaxCounterPoints caps the counter events of each worker's progress
	// counter, each cgroup's rate counter and each sched_ext telemetry
	// counter (default 500).
	MaxCounterPoints int
	// MaxLogBytes caps a scheduler event's loader log in the event's
	// args (default 16 KiB, its tail kept).
	MaxLogBytes int
}

// Event is one trace event. Times are microseconds.
type Event struct {
	Name string `json:"name"`
	Cat  string `json:"cat,omitempty"`
	// Ph is the phase: "X" complete, "i" instant, "C" counter, "M"
	// metadata, "b"/"e" nestable async begin/end.
	Ph  string   `json:"ph"`
	Ts  float64  `json:"ts"`
	Dur *float64 `json:"dur,omitempty"`
	Pid int      `json:"pid"`
	Tid int      `json:"tid"`
	// S is an instant event's scope: "g" global, "p" process, "t" thread.
	S    string         `json:"s,omitempty"`
	ID   string         `json:"id,omitempty"`
	Args map[string]any `json:"args,omitempty"`
}

// Thread ids inside a scenario's process.
const (
	tidScenario  = 1
	tidScheduler = 2
	tidKernel    = 3
	tidWorker0   = 100     // + worker index
	tidCPU0      = 100_000 // + cpu
)

// WriteFile writes the trace of res to path.
func WriteFile(path string, res *vmtest.Result, opts *Options) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write trace: %w", cerr)
		}
	}()
	return Write(f, res, opts)
}

// Write writes the trace of res to w.
func Write(w io.Writer, res *vmtest.Result, opts *Options) error {
	if res == nil {
		return errors.New("write trace: no result")
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.MaxCounterPoints <= 0 {
		o.MaxCounterPoints = 500
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = 16 << 10
	}
	tw := &writer{bw: bufio.NewWriterSize(w, 1<<16), opts: o}
	tw.raw(`{"traceEvents":[`)
	tw.run(res)
	tw.raw("\n],\"displayTimeUnit\":\"ms\",\"otherData\":")
	other, err := json.Marshal(map[string]string{
		"generator": "scxvm",
		"kernel":    res.Kernel.Name + " " + res.Kernel.Release,
		"scheduler": res.Scheduler,
		"topology":  res.Topology,
		"time":      "microseconds since QEMU started; scenario jobs placed at boot-to-hello plus the wall time of the jobs before them",
	})
	if err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	tw.raw(string(other))
	tw.raw("}\n")
	if tw.err != nil {
		return fmt.Errorf("write trace: %w", tw.err)
	}
	if err := tw.bw.Flush(); err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	return nil
}

// writer streams events; the first error sticks.
type writer struct {
	bw   *bufio.Writer
	opts Options
	n    int
	err  error
}

func (t *writer) raw(s string) {
	if t.err == nil {
		_, t.err = t.bw.WriteString(s)
	}
}

func (t *writer) emit(e Event) {
	if t.err != nil {
		return
	}
	data, err := json.Marshal(e)
	if err != nil {
		t.err = err
		return
	}
	if t.n > 0 {
		t.raw(",")
	}
	t.raw("\n")
	if t.err == nil {
		_, t.err = t.bw.Write(data)
	}
	t.n++
}

// us converts a duration to trace microseconds, never negative.
func us(d time.Duration) float64 { return math.Max(0, float64(d)/1e3) }

func dur(d time.Duration) *float64 {
	v := us(d)
	return &v
}

func (t *writer) processName(pid int, name string, sort int) {
	t.emit(Event{Name: "process_name", Ph: "M", Pid: pid, Args: map[string]any{"name": name}})
	t.emit(Event{Name: "process_sort_index", Ph: "M", Pid: pid, Args: map[string]any{"sort_index": sort}})
}

func (t *writer) threadName(pid, tid int, name string) {
	t.emit(Event{Name: "thread_name", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": name}})
	t.emit(Event{Name: "thread_sort_index", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"sort_index": tid}})
}

func (t *writer) run(res *vmtest.Result) {
	spans := timeline.Layout(res)
	incidents := timeline.Incidents(res, spans)
	runPid := len(res.Scenarios) + 1
	t.processName(runPid, fmt.Sprintf("scxvm run: %s on %s", res.Scheduler, res.Kernel.Name), 0)
	t.threadName(runPid, 1, "vm")
	t.emit(Event{Name: "boot to hello", Cat: "vm", Ph: "X", Ts: 0, Dur: dur(res.BootToHello), Pid: runPid, Tid: 1})
	for i := range res.Scenarios {
		sr := &res.Scenarios[i]
		t.emit(Event{Name: sr.Name + " · " + sr.Scheduler, Cat: "job", Ph: "X", Ts: us(spans[i].Job), Dur: dur(spans[i].End() - spans[i].Job), Pid: runPid, Tid: 1,
			Args: map[string]any{"passed": sr.Passed}})
	}
	if res.Failure != nil {
		end := res.VMTime
		if end <= 0 && len(spans) > 0 {
			end = spans[len(spans)-1].End()
		}
		t.emit(Event{Name: "run failed: " + string(res.Failure.Kind), Cat: "verdict", Ph: "i", S: "g", Ts: us(end), Pid: runPid, Tid: 1,
			Args: map[string]any{"message": res.Failure.Message, "detail": res.Failure.Detail}})
	}
	for _, in := range incidents {
		if in.Scenario < 0 {
			t.emit(incidentEvent(in, in.At, runPid, 1, "g"))
		}
	}
	for i := range res.Scenarios {
		t.scenario(res, i, spans[i], incidents)
	}
}

func incidentEvent(in timeline.Incident, at time.Duration, pid, tid int, scope string) Event {
	args := map[string]any{"line": in.Line}
	if len(in.Excerpt) > 0 {
		args["excerpt"] = in.Excerpt
	}
	return Event{Name: "kernel " + in.Kind.String(), Cat: "kernel", Ph: "i", S: scope, Ts: us(at), Pid: pid, Tid: tid, Args: args}
}

func (t *writer) scenario(res *vmtest.Result, i int, span timeline.Span, incidents []timeline.Incident) {
	sr := &res.Scenarios[i]
	pid := i + 1
	name := sr.Name + " · " + sr.Label()
	t.processName(pid, name, pid)
	at := func(d time.Duration) float64 { return us(span.Start() + d) }

	t.threadName(pid, tidScenario, "scenario")
	verdict := map[string]any{"passed": sr.Passed}
	if len(sr.Failures) > 0 {
		var fs []string
		for _, f := range sr.Failures {
			fs = append(fs, f.String())
		}
		verdict["failed_checks"] = fs
	}
	if sr.Failure != nil {
		verdict["failure"] = sr.Failure.Error()
	}
	if tm := sr.Timings; tm != nil {
		t.emit(Event{Name: "setup", Cat: "job", Ph: "X", Ts: us(span.Job), Dur: dur(tm.Setup), Pid: pid, Tid: tidScenario})
		t.emit(Event{Name: "run", Cat: "job", Ph: "X", Ts: us(span.Start()), Dur: dur(tm.Run), Pid: pid, Tid: tidScenario, Args: verdict})
		t.emit(Event{Name: "collect", Cat: "job", Ph: "X", Ts: us(span.Start() + tm.Run), Dur: dur(tm.Collect), Pid: pid, Tid: tidScenario})
	} else {
		t.emit(Event{Name: "job", Cat: "job", Ph: "X", Ts: us(span.Job), Dur: dur(span.Elapsed), Pid: pid, Tid: tidScenario, Args: verdict})
	}

	t.threadName(pid, tidScheduler, "scheduler")
	for _, ev := range sr.SchedEvents {
		args := map[string]any{}
		for k, v := range map[string]string{"scheduler": ev.Scheduler, "reason": ev.Reason, "message": ev.Message} {
			if v != "" {
				args[k] = v
			}
		}
		if ev.Log != "" {
			log := ev.Log
			if len(log) > t.opts.MaxLogBytes {
				log = "…" + log[len(log)-t.opts.MaxLogBytes:]
			}
			args["log"] = log
		}
		t.emit(Event{Name: ev.Kind, Cat: "scheduler", Ph: "i", S: "p", Ts: us(span.Job + ev.At), Pid: pid, Tid: tidScheduler, Args: args})
	}

	t.stateChanges(sr, pid, at)

	t.threadName(pid, tidKernel, "kernel")
	for _, in := range incidents {
		if in.Scenario == i {
			t.emit(incidentEvent(in, span.Start()+in.At, pid, tidKernel, "p"))
		}
	}

	for w, wr := range sr.Workers {
		tid := tidWorker0 + w
		t.threadName(pid, tid, fmt.Sprintf("%s/%d %s (tid %d)", wr.Cgroup, wr.Report.Index, wr.Kind, wr.Report.TID))
		for _, iv := range timeline.Activity(sr, w) {
			name := "no progress"
			if iv.Progress {
				name = "progress"
			}
			t.emit(Event{Name: name, Cat: "worker", Ph: "X", Ts: at(iv.From), Dur: dur(iv.To - iv.From), Pid: pid, Tid: tid})
		}
		if gap, ok := timeline.LongestGap(wr); ok {
			id := fmt.Sprintf("0x%x", pid<<20|(w+1)) // async ids are global
			args := map[string]any{"worker": w, "cgroup": wr.Cgroup, "cpu": wr.Report.MaxGapCPU, "gap_ms": wr.Report.MaxGapMs}
			t.emit(Event{Name: "longest stall", Cat: "stall", Ph: "b", ID: id, Ts: at(gap.From), Pid: pid, Tid: tid, Args: args})
			t.emit(Event{Name: "longest stall", Cat: "stall", Ph: "e", ID: id, Ts: at(gap.To), Pid: pid, Tid: tid})
		}
		if !wr.Report.Completed {
			t.emit(Event{Name: "did not report", Cat: "worker", Ph: "i", S: "t", Ts: at(sr.RunTime()), Pid: pid, Tid: tid,
				Args: map[string]any{"exit": string(wr.Report.Exit.Kind), "code": wr.Report.Exit.Code, "signal": wr.Report.Exit.Signal, "message": wr.Report.Exit.Message}})
		}
	}

	t.migrations(sr, pid, at)
	t.counters(sr, pid, at)
	t.telemetryCounters(sr, pid, at)
}

// stateChanges puts sched_ext's state at the scenario's first reading,
// and each change of state or enable_seq after it, on the scheduler's
// track.
func (t *writer) stateChanges(sr *vmtest.ScenarioResult, pid int, at func(time.Duration) float64) {
	for _, c := range timeline.StateChanges(sr) {
		if c.First || c.State != c.Prev {
			args := map[string]any{"state": c.State}
			if !c.First {
				args["previous"] = c.Prev
			}
			if c.Ops != "" {
				args["ops"] = c.Ops
			}
			if c.HasSeq {
				args["enable_seq"] = c.Seq
			}
			t.emit(Event{Name: "sched_ext " + cmp.Or(c.State, "state unknown"), Cat: "sched_ext", Ph: "i", S: "t", Ts: at(c.At), Pid: pid, Tid: tidScheduler, Args: args})
		}
		if c.HasSeq && c.HasPrevSeq && c.Seq != c.PrevSeq {
			args := map[string]any{"from": c.PrevSeq, "to": c.Seq, "state": c.State}
			if c.Ops != "" {
				args["ops"] = c.Ops
			}
			t.emit(Event{Name: "enable_seq bump", Cat: "sched_ext", Ph: "i", S: "t", Ts: at(c.At), Pid: pid, Tid: tidScheduler, Args: args})
		}
	}
}

// telemetryCounters writes a counter track for each sched_ext telemetry
// counter that changed during the scenario: an event counter's growth
// since the scenario's first reading of it (the package doc says why
// growth, not a rate), any other counter's value.
func (t *writer) telemetryCounters(sr *vmtest.ScenarioResult, pid int, at func(time.Duration) float64) {
	for _, s := range timeline.ChangedCounters(sr) {
		name := strings.TrimPrefix(s.Key, "root/events/")
		key, base := counterValue, int64(0)
		if isEventCounter(s.Key) {
			key, base = counterSinceStart, int64(s.Points[0].Value)
		}
		for _, k := range timeline.Pick(len(s.Points), t.opts.MaxCounterPoints) {
			p := s.Points[k]
			t.emit(Event{Name: name, Cat: "sched_ext", Ph: "C", Ts: at(p.At), Pid: pid, Tid: tidScheduler,
				Args: map[string]any{key: int64(p.Value) - base}})
		}
	}
}

// isEventCounter says whether a telemetry key is one of a scheduler's
// event counters (a line of root/events), which count occurrences since
// the scheduler was enabled; the other counters are states, sequence
// numbers and settings (switch_all, enable_seq, debugfs/...).
func isEventCounter(key string) bool { return strings.Contains(key, "/events/") }

// The value keys of telemetry counter events: a Perfetto track is named
// after the event and its value's key ("SCX_EV_SELECT_CPU_FALLBACK since
// start", "enable_seq value").
const (
	counterSinceStart = "since start"
	counterValue      = "value"
)

// migrations puts each migration on the track of the cpu it went to.
func (t *writer) migrations(sr *vmtest.ScenarioResult, pid int, at func(time.Duration) float64) {
	var cpus []int
	for _, wr := range sr.Workers {
		for _, m := range wr.Report.Migrations {
			if !slices.Contains(cpus, m.ToCPU) {
				cpus = append(cpus, m.ToCPU)
			}
		}
	}
	slices.Sort(cpus)
	for _, c := range cpus {
		t.threadName(pid, tidCPU0+c, fmt.Sprintf("cpu %d", c))
	}
	for w, wr := range sr.Workers {
		for _, m := range wr.Report.Migrations {
			t.emit(Event{Name: "migrate in", Cat: "migration", Ph: "i", S: "t", Ts: at(time.Duration(m.AtNs)), Pid: pid, Tid: tidCPU0 + m.ToCPU,
				Args: map[string]any{"worker": fmt.Sprintf("%s/%d", wr.Cgroup, wr.Report.Index), "worker_index": w, "from_cpu": m.FromCPU}})
		}
	}
}

// counters writes each worker's iteration counter and each cgroup's rate.
func (t *writer) counters(sr *vmtest.ScenarioResult, pid int, at func(time.Duration) float64) {
	prog := sr.Progress
	if len(prog) == 0 {
		return
	}
	pick := timeline.Pick(len(prog), t.opts.MaxCounterPoints)
	for w, wr := range sr.Workers {
		name := fmt.Sprintf("iterations %s/%d", wr.Cgroup, wr.Report.Index)
		t.emit(Event{Name: name, Cat: "progress", Ph: "C", Ts: at(0), Pid: pid, Tid: tidWorker0 + w, Args: map[string]any{"iterations": 0}})
		for _, k := range pick {
			if w < len(prog[k].Iterations) {
				t.emit(Event{Name: name, Cat: "progress", Ph: "C", Ts: at(prog[k].Elapsed), Pid: pid, Tid: tidWorker0 + w, Args: map[string]any{"iterations": prog[k].Iterations[w]}})
			}
		}
	}
	var cgroups []string
	members := map[string][]int{}
	for w, wr := range sr.Workers {
		if _, ok := members[wr.Cgroup]; !ok {
			cgroups = append(cgroups, wr.Cgroup)
		}
		members[wr.Cgroup] = append(members[wr.Cgroup], w)
	}
	sum := func(s vmtest.ProgressSample, ws []int) uint64 {
		var n uint64
		for _, w := range ws {
			if w < len(s.Iterations) {
				n += s.Iterations[w]
			}
		}
		return n
	}
	for i := 1; i < len(pick); i++ {
		a, b := prog[pick[i-1]], prog[pick[i]]
		dt := (b.Elapsed - a.Elapsed).Seconds()
		if dt <= 0 {
			continue
		}
		args := map[string]any{}
		for _, cg := range cgroups {
			na, nb := sum(a, members[cg]), sum(b, members[cg])
			args[cg] = float64(max(nb, na)-na) / dt
		}
		t.emit(Event{Name: "iterations/s by cgroup", Cat: "progress", Ph: "C", Ts: at(a.Elapsed), Pid: pid, Args: args})
	}
}
