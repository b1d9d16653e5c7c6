package vmtest

import (
	"fmt"
	"time"

	"github.com/scxvm/scxvm/internal/jsonfile"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/stressng"
	"github.com/scxvm/scxvm/vmtest/check"
)

// KernelInfo names the kernel a run booted.
type KernelInfo struct {
	Name    string `json:"name"`
	Image   string `json:"image"`
	Release string `json:"release,omitempty"`
	// Boot is "pvh" (an ELF vmlinux entered at its PVH entry point) or
	// "bzImage" (the image decompressed itself in the guest); BootFile is
	// the file QEMU booted and BootReason why this way.
	Boot       string `json:"boot,omitempty"`
	BootFile   string `json:"boot_file,omitempty"`
	BootReason string `json:"boot_reason,omitempty"`
}

// GuestInfo is what the agent's Hello said about the guest.
type GuestInfo struct {
	KernelRelease string `json:"kernel_release,omitempty"`
	Cmdline       string `json:"cmdline,omitempty"`
	AgentBuild    string `json:"agent_build,omitempty"`
	SchedExt      string `json:"sched_ext,omitempty"` // sched_ext state at boot
	CPUs          int    `json:"cpus"`
	LLCs          int    `json:"llcs"`
	NUMANodes     int    `json:"numa_nodes"`
	// Topology is the layout the guest sees, as in Config.Topology.
	Topology string `json:"topology,omitempty"`
}

// SchedEvent is a scheduler lifecycle event seen by the agent.
type SchedEvent struct {
	// Kind is "attached", "detached", "ejected", "load_failed" or "died".
	Kind string `json:"kind"`
	// At is the time since the scenario's job was sent.
	At time.Duration `json:"at_ns"`
	// Scheduler is the scheduler's name (root/ops) when known.
	Scheduler string `json:"scheduler,omitempty"`
	// Reason is the kernel's reason line ("runnable task stall", ...).
	Reason string `json:"reason,omitempty"`
	// Message holds the stall/error lines after the reason, the exit
	// status of a dead loader, or why loading failed.
	Message string `json:"message,omitempty"`
	// Log is the loader's captured output (verifier output included).
	Log string `json:"log,omitempty"`
	// Dump is the kernel's sched_ext debug dump when the scheduler exited
	// with an error (ejected, died, failed to load): the exit reason and
	// backtrace, each cpu's state and the runnable tasks, as the kernel
	// wrote them to its sched_ext_dump trace event, whichever loader
	// started the scheduler (built-ins included).
	Dump string `json:"dump,omitempty"`
}

// SchedTelemetry is what the kernel's sched_ext interface said during a
// scenario (see spec.SchedTelemetry for the keys): a reading once the
// scheduler was in place, one at the end of the run, one with every
// progress sample, and the counters' growth from start to end.
type SchedTelemetry struct {
	Start *spec.SchedTelemetry `json:"start,omitempty"`
	End   *spec.SchedTelemetry `json:"end,omitempty"`
	// Samples are the progress samples' readings (sysfs only), in order.
	Samples []spec.SchedTelemetry `json:"samples,omitempty"`
	// Delta is End minus Start for each counter that changed: the
	// scheduler's events during the scenario ("root/events/SCX_EV_...").
	Delta map[string]int64 `json:"delta,omitempty"`
}

// ProgressSample is one periodic progress frame of a scenario.
type ProgressSample struct {
	// Elapsed is the time since the workers started.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Iterations are the per-worker iteration counters, in check.Worker
	// order (cgroups and their workload sets in order).
	Iterations []uint64 `json:"iterations"`
	// Rates are iterations per second per cgroup since the previous sample.
	Rates map[string]float64 `json:"rates,omitempty"`
	// SchedState is /sys/kernel/sched_ext/state at the sample.
	SchedState string `json:"sched_state,omitempty"`
}

// PayloadResult is how a payload command ended.
type PayloadResult struct {
	Name string `json:"name"`
	// ExitCode is the status of a command that exited; nil when it could
	// not start (Error says why), was killed by a signal, or was not
	// reaped.
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   int    `json:"signal,omitempty"`
	Error    string `json:"error,omitempty"`
	Output   string `json:"output,omitempty"`
	// TimedOut means the agent killed it (end of the scenario or job
	// timeout); Duration is how long it ran.
	TimedOut bool          `json:"timed_out,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	// StressNG holds stress-ng's metrics rows when the payload printed
	// them (--metrics-brief; see StressNGPayload).
	StressNG []stressng.Metric `json:"stress_ng,omitempty"`
	// ExpectExit is the scenario's expect_exit for the payload: its exit
	// status counts when set (check payload_exit).
	ExpectExit *int `json:"expect_exit,omitempty"`
	// OutputBytes is how many bytes of output the payload wrote (Output
	// holds their head and tail only); OutputFile is the file on the
	// host that holds all of them (Config.OutputPrefix), and
	// OutputMissing how many of them did not reach it (zero when the
	// output is complete), OutputError why.
	OutputBytes   int64  `json:"output_bytes,omitempty"`
	OutputFile    string `json:"output_file,omitempty"`
	OutputMissing int64  `json:"output_missing,omitempty"`
	OutputError   string `json:"output_error,omitempty"`
}

// CollectResult is how a Config.Collect directory was copied.
type CollectResult struct {
	Guest string `json:"guest"`
	Host  string `json:"host"`
	// Files and Bytes count the files copied and their bytes; Skipped
	// the entries that are neither files nor directories.
	Files   int   `json:"files"`
	Bytes   int64 `json:"bytes"`
	Skipped int   `json:"skipped,omitempty"`
	// Error says what could not be copied ("no such directory in the
	// guest", a host write error).
	Error string `json:"error,omitempty"`
}

// ScenarioResult is the outcome of one scenario under one scheduler.
type ScenarioResult struct {
	Name string `json:"name"`
	// Scheduler is the scheduler the scenario ran under (for a Baseline
	// run, Config.Compare's: "none" is EEVDF).
	Scheduler string `json:"scheduler"`
	// Baseline marks the comparison run under Config.Compare's scheduler.
	Baseline bool `json:"baseline,omitempty"`
	// Repeat numbers the repetitions of the scenario (Config.Repeat),
	// from 0.
	Repeat int `json:"repeat,omitempty"`
	// Passed is true when every check passed.
	Passed bool `json:"passed"`
	// Failures are the failed checks.
	Failures []check.Failure `json:"failures,omitempty"`
	// Failure attributes a scenario that did not complete.
	Failure *Failure `json:"failure,omitempty"`
	// Workers are the raw worker reports.
	Workers []check.Worker `json:"workers,omitempty"`
	// Progress is the series of progress samples.
	Progress []ProgressSample `json:"progress,omitempty"`
	// SchedEvents are the scheduler events of the scenario.
	SchedEvents []SchedEvent `json:"sched_events,omitempty"`
	// KernelLog holds the kernel log lines that arrived during the scenario.
	KernelLog []string `json:"kernel_log,omitempty"`
	// Payloads are the payload commands' results.
	Payloads []PayloadResult `json:"payloads,omitempty"`
	// Telemetry is the kernel's sched_ext telemetry during the scenario;
	// nil when the kernel has none (or the agent sent none).
	Telemetry *SchedTelemetry `json:"telemetry,omitempty"`
	// StallWatch is what the guest-wide stall watch saw (tasks runnable
	// without running, and its cost); nil when it did not report.
	StallWatch *check.StallWatch `json:"stall_watch,omitempty"`
	// Duration is the configured run time; Elapsed the wall time from
	// sending the job to its result (the per-scenario overhead is
	// Elapsed - Duration).
	Duration time.Duration `json:"duration_ns"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// Timings is the agent's split of the job's time, when it reported.
	Timings *JobTimings `json:"timings,omitempty"`
	// Checks are the thresholds the scenario was judged by.
	Checks spec.Checks `json:"checks"`
	// CheckSources names, for each check whose threshold is not the
	// default, the layer that set it (spec.Checks.Sources).
	CheckSources map[string]string `json:"check_sources,omitempty"`
}

// FailureText describes c, a failed check of sr, naming the layer that
// set its threshold when that is not the default.
func (sr *ScenarioResult) FailureText(c check.Failure) string {
	if src := sr.CheckSources[c.Check]; src != "" {
		return c.String() + " (threshold set by " + src + ")"
	}
	return c.String()
}

// JobTimings is the agent's split of a job's wall time: Setup covers the
// scheduler start, cgroups and spawning, Run is Start to stop, Collect
// gathers reports, Total is arrival to result.
type JobTimings struct {
	Setup   time.Duration `json:"setup_ns"`
	Run     time.Duration `json:"run_ns"`
	Collect time.Duration `json:"collect_ns"`
	Total   time.Duration `json:"total_ns"`
}

// Label names the run for people: its scheduler, marked "(EEVDF
// baseline)" or "(comparison)" for a Compare run, and "run N" for a
// repetition after the first.
func (s *ScenarioResult) Label() string {
	l := s.Scheduler
	switch {
	case s.Baseline && s.Scheduler == spec.SchedulerNone:
		l += " (EEVDF baseline)"
	case s.Baseline:
		l += " (comparison)"
	}
	if s.Repeat > 0 {
		l += fmt.Sprintf(" run %d", s.Repeat+1)
	}
	return l
}

// Iterations returns the total outer iterations per cgroup.
func (s *ScenarioResult) Iterations() map[string]uint64 {
	out := map[string]uint64{}
	for _, w := range s.Workers {
		out[w.Cgroup] += w.Report.Iterations
	}
	return out
}

// RunTime returns how long the workers ran: the agent's Run timing when
// reported, else the configured Duration.
func (s *ScenarioResult) RunTime() time.Duration {
	if s.Timings != nil && s.Timings.Run > 0 {
		return s.Timings.Run
	}
	return s.Duration
}

// Rates returns the outer iterations per second of run time per cgroup.
func (s *ScenarioResult) Rates() map[string]float64 {
	out := map[string]float64{}
	secs := s.RunTime().Seconds()
	if secs <= 0 {
		return out
	}
	for cg, it := range s.Iterations() {
		out[cg] = float64(it) / secs
	}
	return out
}

// Result is everything a run produced. It is JSON-serialisable; durations
// are nanoseconds.
type Result struct {
	Kernel    KernelInfo `json:"kernel"`
	Scheduler string     `json:"scheduler"`
	Topology  string     `json:"topology"`
	// Compare is the scheduler of the Baseline runs (Config.Compare), ""
	// without them; Repeat is Config.Repeat.
	Compare string `json:"compare,omitempty"`
	Repeat  int    `json:"repeat,omitempty"`
	// Accel and Transport are what the VM actually used.
	Accel     string `json:"accel,omitempty"`
	Transport string `json:"transport,omitempty"`
	// Guest is what the agent reported at boot.
	Guest *GuestInfo `json:"guest,omitempty"`
	// ConsoleLog is the path of the serial console log.
	ConsoleLog string `json:"console_log,omitempty"`
	// BootToHello is the time from QEMU start to the agent's Hello: the
	// kernel's boot (cold), or the restore of the snapshot and the files'
	// delivery (warm).
	BootToHello time.Duration `json:"boot_to_hello_ns"`
	// Start is "warm" (the guest was restored from a snapshot of the
	// same machine) or "cold" (the kernel booted); StartNote says why a
	// run booted cold (Config.Cold, no snapshot yet, a snapshot that
	// failed to restore and was deleted, a transport that is not
	// restored).
	Start     string `json:"start,omitempty"`
	StartNote string `json:"start_note,omitempty"`
	// Snapshot describes the snapshot this run restored or saved.
	Snapshot *SnapshotInfo `json:"snapshot,omitempty"`
	// Wall is the time of the whole run, image build included.
	Wall time.Duration `json:"wall_ns"`
	// VMTime is how long QEMU had been running when the run ended (compare
	// with Incident.At for the time to report a panic).
	VMTime time.Duration `json:"vm_time_ns"`
	// Scenarios are the scenario results in run order (a baseline run
	// follows its scenario, repetitions follow each other).
	Scenarios []ScenarioResult `json:"scenarios"`
	// Summary holds, per scenario and scheduler, every metric's median
	// and spread over the repetitions (see Metrics and Summarize).
	Summary []ScenarioSummary `json:"summary,omitempty"`
	// KernelLog is every kernel log line received.
	KernelLog []string `json:"kernel_log,omitempty"`
	// Incidents are kernel incidents (panic, oops, BUG, WARNING, RCU
	// stall, hung task) the host saw on the console.
	Incidents []Incident `json:"incidents,omitempty"`
	// Failure attributes a run that did not pass; nil when Passed.
	Failure *Failure `json:"failure,omitempty"`
	// ConsoleExcerpt is the console's tail when the run failed.
	ConsoleExcerpt []string `json:"console_excerpt,omitempty"`
	// Passed is true when every scenario passed.
	Passed bool `json:"passed"`
	// Collected says how each Config.Collect directory was copied.
	Collected []CollectResult `json:"collected,omitempty"`
}

// SnapshotInfo describes a warm start's snapshot: the saved VM state.
type SnapshotInfo struct {
	// Path is the state file in the cache's snapshot/ area.
	Path string `json:"path"`
	// Saved reports that this run saved it (cold), after SaveTime; Size
	// is its disk usage in bytes then (a memory image is mostly holes).
	Saved    bool          `json:"saved,omitempty"`
	SaveTime time.Duration `json:"save_ns,omitempty"`
	Size     int64         `json:"size,omitempty"`
	// RestoreTime is how long QEMU took from its start to run the
	// restored guest (warm).
	RestoreTime time.Duration `json:"restore_ns,omitempty"`
	// Files and FileBytes count what went into the guest over the
	// channel (scheduler binaries, libraries, extra files), in FileTime.
	Files     int           `json:"files,omitempty"`
	FileBytes int64         `json:"file_bytes,omitempty"`
	FileTime  time.Duration `json:"file_ns,omitempty"`
}

// WriteJSON writes the result, indented, to path.
func (r *Result) WriteJSON(path string) error {
	return jsonfile.Write(path, "result", r)
}

// Scenario returns the (first) result of the named scenario under the
// scheduler under test (not the baseline), or nil.
func (r *Result) Scenario(name string) *ScenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name && !r.Scenarios[i].Baseline {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// Baseline returns the first Compare run of the named scenario, or nil.
func (r *Result) Baseline(name string) *ScenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name && r.Scenarios[i].Baseline {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventBuilt         EventKind = "built"          // the image is ready; QEMU starts
	EventHello         EventKind = "hello"          // the agent said hello
	EventScenarioStart EventKind = "scenario_start" // a job was sent
	EventProgress      EventKind = "progress"       // a progress sample arrived
	EventSched         EventKind = "sched"          // a scheduler event arrived
	EventScenarioDone  EventKind = "scenario_done"  // a scenario finished and was judged
	EventKernelLog     EventKind = "kernel_log"     // a kernel log line (Message)
	EventStall         EventKind = "stall"          // a task of the guest waited longer than MaxRunnableWait (Message)
	EventOutput        EventKind = "output"         // a chunk of a payload's output (Output)
)

// OutputChunk is a chunk of a payload's output, in the order the payload
// wrote it.
type OutputChunk struct {
	// Payload is the payload's label (spec.Payload.Label).
	Payload string
	// Stderr marks standard error; the agent sends a payload's standard
	// output and error combined, as standard output.
	Stderr bool
	Data   []byte
}

// Event is a live report of a run, for Config.Progress.
type Event struct {
	Kind EventKind
	// Scenario and Scheduler name the running job, when there is one.
	Scenario  string
	Scheduler string
	// Elapsed is the time since Run started.
	Elapsed time.Duration
	// Message is a human-readable line.
	Message string
	// Sample is set for EventProgress, SchedEvent for EventSched, Result
	// for EventScenarioDone.
	Sample     *ProgressSample
	SchedEvent *SchedEvent
	Result     *ScenarioResult
	// Output is set for EventOutput; its Data is only valid during the
	// call.
	Output *OutputChunk
}
