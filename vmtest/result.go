package vmtest

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

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
}

// ScenarioResult is the outcome of one scenario under one scheduler.
type ScenarioResult struct {
	Name string `json:"name"`
	// Scheduler is the scheduler the scenario ran under ("none" for the
	// EEVDF baseline of Compare).
	Scheduler string `json:"scheduler"`
	// Baseline marks the EEVDF comparison run.
	Baseline bool `json:"baseline,omitempty"`
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
	// follows its scenario).
	Scenarios []ScenarioResult `json:"scenarios"`
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
}

// SnapshotInfo describes a warm start's snapshot: the saved VM state.
type SnapshotInfo struct {
	// Path is the state file in the cache's snapshot/ area.
	Path string `json:"path"`
	// Saved reports that this run saved it (cold), after SaveTime; Size
	// is its size in bytes then.
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
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// Scenario returns the result of the named scenario under the scheduler
// under test (not the baseline), or nil.
func (r *Result) Scenario(name string) *ScenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name && !r.Scenarios[i].Baseline {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// Baseline returns the EEVDF baseline of the named scenario, or nil.
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
)

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
}
