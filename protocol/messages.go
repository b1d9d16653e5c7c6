package protocol

import (
	"fmt"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// Version is the protocol version this package speaks. It is written in
// every frame header and in Hello. Bump it whenever a message changes in a
// way an older peer would misread.
const Version uint16 = 2

// Transport names, as reported in Hello.Transport.
const (
	TransportVirtioSerial = "virtio-serial"
	TransportVsock        = "vsock"
)

// Channel endpoints shared by the host and the agent.
const (
	// VirtioPortName is the name of the virtio-serial port the agent opens
	// (found under /sys/class/virtio-ports/*/name).
	VirtioPortName = "org.scxvm.0"
	// VsockPort is the host's default vsock port; the kernel argument
	// scxvm.vsock_port=N overrides it.
	VsockPort = 1024
	// VsockHostCID is the CID the agent dials (the host).
	VsockHostCID = 2
	// VsockAgentPort is the guest port a parked agent listens on (vsock,
	// any CID): a restore resets the guest's vsock connections and gives
	// it a new CID, and the host of the restored run dials the agent
	// there. It is a reserved port (below 1024), so that no ephemeral
	// port of the guest's own connections can hold it.
	VsockAgentPort = 1023
)

// Type identifies a message in the frame header.
type Type uint16

// Message types. Zero is never valid.
const (
	TypeHello Type = iota + 1
	TypeJob
	TypeProgress
	TypeSchedEvent
	TypeKernelLog
	TypeReports
	TypeJobResult
	TypeError
	TypeBye
	TypeRunnableWaits
	TypeShellEvent
	TypeResize
	TypeOutput
	TypeFileData
	TypePark
	TypeParked
	TypePutFile
	TypeResume
	numTypes // one past the last type
)

var typeNames = [...]string{
	TypeHello:      "hello",
	TypeJob:        "job",
	TypeProgress:   "progress",
	TypeSchedEvent: "sched_event",
	TypeKernelLog:  "kernel_log",
	TypeReports:    "reports",
	TypeJobResult:  "job_result",
	TypeError:      "error",
	TypeBye:        "bye",

	TypeRunnableWaits: "runnable_waits",
	TypeShellEvent:    "shell_event",
	TypeResize:        "resize",
	TypeOutput:        "output",
	TypeFileData:      "file_data",
	TypePark:          "park",
	TypeParked:        "parked",
	TypePutFile:       "put_file",
	TypeResume:        "resume",
}

// String returns the type's snake_case name, or "type(N)" when unknown.
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint16(t))
}

// Valid reports whether t is a message type this version knows.
func (t Type) Valid() bool { return t > 0 && t < numTypes }

// Message is implemented by the pointer types *Hello, *Job, *Progress,
// *SchedEvent, *KernelLog, *Reports, *JobResult, *Error, *Bye,
// *RunnableWaits, *ShellEvent, *Resize, *Output, *FileData, and the warm
// start's *Park, *Parked, *PutFile and *Resume.
type Message interface {
	// MessageType returns the type written in the frame header.
	MessageType() Type
}

// NewMessage returns a new zero message of type t, ready to decode into.
func NewMessage(t Type) (Message, error) {
	switch t {
	case TypeHello:
		return new(Hello), nil
	case TypeJob:
		return new(Job), nil
	case TypeProgress:
		return new(Progress), nil
	case TypeSchedEvent:
		return new(SchedEvent), nil
	case TypeKernelLog:
		return new(KernelLog), nil
	case TypeReports:
		return new(Reports), nil
	case TypeJobResult:
		return new(JobResult), nil
	case TypeError:
		return new(Error), nil
	case TypeBye:
		return new(Bye), nil
	case TypeRunnableWaits:
		return new(RunnableWaits), nil
	case TypeShellEvent:
		return new(ShellEvent), nil
	case TypeResize:
		return new(Resize), nil
	case TypeOutput:
		return new(Output), nil
	case TypeFileData:
		return new(FileData), nil
	case TypePark:
		return new(Park), nil
	case TypeParked:
		return new(Parked), nil
	case TypePutFile:
		return new(PutFile), nil
	case TypeResume:
		return new(Resume), nil
	}
	return nil, fmt.Errorf("%w %d", ErrUnknownType, uint16(t))
}

// MessageType implements Message.
func (*Hello) MessageType() Type { return TypeHello }

// MessageType implements Message.
func (*Job) MessageType() Type { return TypeJob }

// MessageType implements Message.
func (*Progress) MessageType() Type { return TypeProgress }

// MessageType implements Message.
func (*SchedEvent) MessageType() Type { return TypeSchedEvent }

// MessageType implements Message.
func (*KernelLog) MessageType() Type { return TypeKernelLog }

// MessageType implements Message.
func (*Reports) MessageType() Type { return TypeReports }

// MessageType implements Message.
func (*JobResult) MessageType() Type { return TypeJobResult }

// MessageType implements Message.
func (*Error) MessageType() Type { return TypeError }

// MessageType implements Message.
func (*Bye) MessageType() Type { return TypeBye }

// MessageType implements Message.
func (*RunnableWaits) MessageType() Type { return TypeRunnableWaits }

// MessageType implements Message.
func (*Output) MessageType() Type { return TypeOutput }

// MessageType implements Message.
func (*FileData) MessageType() Type { return TypeFileData }

// Hello is the agent's first message: who it is and what guest it runs in.
type Hello struct {
	// ProtocolVersion is the agent's Version; CheckHello compares it.
	ProtocolVersion uint16 `msgpack:"protocol_version" json:"protocol_version"`
	// Agent is the agent's build (CurrentBuild); the host refuses an
	// agent whose build is not Compatible with its own.
	Agent Build `msgpack:"agent" json:"agent"`
	// KernelRelease is uname -r; KernelCmdline is /proc/cmdline.
	KernelRelease string `msgpack:"kernel_release" json:"kernel_release"`
	KernelCmdline string `msgpack:"kernel_cmdline,omitempty" json:"kernel_cmdline,omitempty"`
	// SchedExt is the sched_ext state when the agent started.
	SchedExt SchedExtInfo `msgpack:"sched_ext" json:"sched_ext"`
	// Topology is what the guest sees, to confirm the requested layout.
	Topology GuestTopology `msgpack:"topology" json:"topology"`
	// BootTime is CLOCK_BOOTTIME when the agent started: how long the
	// kernel took to reach init.
	BootTime time.Duration `msgpack:"boot_time" json:"boot_time"`
	// AgentStart is the guest's wall clock when the agent started.
	AgentStart time.Time `msgpack:"agent_start" json:"agent_start"`
	// Transport is the channel in use: TransportVirtioSerial or
	// TransportVsock.
	Transport string `msgpack:"transport" json:"transport"`
	// ShareErrors says which virtio-9p shares of the kernel command line
	// (ShareArg) the agent could not mount, one message each.
	ShareErrors []string `msgpack:"share_errors,omitempty" json:"share_errors,omitempty"`
}

// SchedExtInfo is a snapshot of /sys/kernel/sched_ext.
type SchedExtInfo struct {
	// Available is false when the kernel has no sched_ext (no
	// /sys/kernel/sched_ext); the other fields are then empty.
	Available bool `msgpack:"available" json:"available"`
	// State is the content of state: enabling, enabled, disabling or
	// disabled.
	State string `msgpack:"state,omitempty" json:"state,omitempty"`
	// EnableSeq counts scheduler enables since boot (enable_seq).
	EnableSeq uint64 `msgpack:"enable_seq,omitempty" json:"enable_seq,omitempty"`
	// Ops is root/ops: the loaded scheduler's name, empty when none.
	Ops string `msgpack:"ops,omitempty" json:"ops,omitempty"`
}

// GuestTopology is the cpu layout the guest kernel sees.
type GuestTopology struct {
	// Layout is the layout in the terms the host asked for: nodes, LLCs
	// per node, cores per LLC, threads per core.
	Layout spec.Topology `msgpack:"layout" json:"layout"`
	// CPUs counts the possible cpus; Online is the online cpu list
	// ("0-3").
	CPUs   int    `msgpack:"cpus" json:"cpus"`
	Online string `msgpack:"online" json:"online"`
	// CPULLC and CPUNode give each cpu's LLC id and NUMA node, indexed by
	// cpu number; nil when unknown.
	CPULLC  []int `msgpack:"cpu_llc,omitempty" json:"cpu_llc,omitempty"`
	CPUNode []int `msgpack:"cpu_node,omitempty" json:"cpu_node,omitempty"`
	// MemoryBytes is MemTotal.
	MemoryBytes uint64 `msgpack:"memory_bytes,omitempty" json:"memory_bytes,omitempty"`
}

// Job asks the agent to run one scenario under one scheduler.
type Job struct {
	// ID is chosen by the host, unique within a boot; every message about
	// the job carries it.
	ID uint32 `msgpack:"id" json:"id"`
	// Scheduler is what to load before the workers start.
	Scheduler SchedulerSpec `msgpack:"scheduler" json:"scheduler"`
	// Scenario is what to run.
	Scenario spec.Scenario `msgpack:"scenario" json:"scenario"`
	// ProgressInterval is the period of Progress messages; zero means
	// DefaultProgressInterval, negative means none.
	ProgressInterval time.Duration `msgpack:"progress_interval,omitempty" json:"progress_interval,omitempty"`
	// Timeout bounds the whole job: scheduler start, setup, run,
	// collection. When it expires the agent kills what is left, sends what
	// it has and a JobResult with StatusTimedOut. Zero means the
	// scenario's duration plus DefaultTimeoutSlack.
	Timeout time.Duration `msgpack:"timeout,omitempty" json:"timeout,omitempty"`
	// Watchdog is the agent's last resort: when the job is still not done
	// Watchdog after it arrived (the agent itself is stuck, for example
	// starved by a broken scheduler), the agent sends a fatal Error and
	// powers the guest off. Zero means Timeout plus DefaultTimeoutSlack.
	Watchdog time.Duration `msgpack:"watchdog,omitempty" json:"watchdog,omitempty"`
	// Synthetic, when set, replaces the scheduler and the scenario by
	// generated reports (a benchmark of the report path).
	Synthetic *SyntheticReports `msgpack:"synthetic,omitempty" json:"synthetic,omitempty"`
	// Shell, when set, replaces the scenario by an interactive shell on
	// the guest's console, under the job's scheduler (see shell.go).
	Shell *ShellSpec `msgpack:"shell,omitempty" json:"shell,omitempty"`
	// Collect lists guest directories the agent sends back (FileData
	// messages) after the scenario, before the JobResult, whatever the
	// scenario's outcome; JobResult.Collected says how each went.
	Collect []string `msgpack:"collect,omitempty" json:"collect,omitempty"`
}

// Defaults for the zero values of Job and SchedulerSpec fields.
const (
	DefaultProgressInterval = time.Second
)

// SchedulerKind says where a job's scheduler comes from.
type SchedulerKind string

// Scheduler kinds. The empty kind is SchedulerNone.
const (
	// SchedulerNone runs the job under the kernel's default scheduler.
	SchedulerNone SchedulerKind = "none"
	// SchedulerBuiltin loads one of the agent's Go struct_ops schedulers
	// by Name ("fifo", and the fault fixtures "stall" and "error").
	SchedulerBuiltin SchedulerKind = "builtin"
	// SchedulerBinary runs the loader at Path with Args.
	SchedulerBinary SchedulerKind = "binary"
)

// SchedulerSpec is the scheduler a job runs under.
type SchedulerSpec struct {
	Kind SchedulerKind `msgpack:"kind,omitempty" json:"kind,omitempty"`
	// Name is the built-in scheduler's name; for a binary it is the name
	// expected in /sys/kernel/sched_ext/root/ops (empty: accept any).
	Name string `msgpack:"name,omitempty" json:"name,omitempty"`
	// Path and Args are the loader binary in the guest (/sched/<base>) and
	// its arguments.
	Path string   `msgpack:"path,omitempty" json:"path,omitempty"`
	Args []string `msgpack:"args,omitempty" json:"args,omitempty"`
	// AttachTimeout bounds the wait for state "enabled" after the start;
	// zero means spec.DefaultAttachTimeout.
	AttachTimeout time.Duration `msgpack:"attach_timeout,omitempty" json:"attach_timeout,omitempty"`
	// Restart makes the agent stop the scheduler after this job and load it
	// afresh for the next; otherwise an identical spec keeps running.
	Restart bool `msgpack:"restart,omitempty" json:"restart,omitempty"`
	// WatchdogTimeout is the built-in scheduler's ops.timeout_ms (the
	// kernel's stall watchdog, at most 30 s); zero leaves the kernel
	// default (the "stall" fixture picks a short one).
	WatchdogTimeout time.Duration `msgpack:"watchdog_timeout,omitempty" json:"watchdog_timeout,omitempty"`
	// ErrorAfter is the number of enqueues after which the built-in
	// "error" fixture provokes a runtime error; zero means its default.
	ErrorAfter int `msgpack:"error_after,omitempty" json:"error_after,omitempty"`
}

// Progress is the agent's periodic snapshot of a running job.
type Progress struct {
	JobID uint32 `msgpack:"job_id" json:"job_id"`
	// At is the time since the workers were started.
	At time.Duration `msgpack:"at" json:"at"`
	// Iterations holds each worker's outer-loop count, in Workers order.
	Iterations []uint64 `msgpack:"iterations,omitempty" json:"iterations,omitempty"`
	// Workers names the worker behind each Iterations entry. It is sent in
	// a job's first Progress and again whenever the set changes (a spawn
	// step, say); nil means "same as before".
	Workers []WorkerInfo `msgpack:"workers,omitempty" json:"workers,omitempty"`
	// SchedState and EnableSeq are /sys/kernel/sched_ext state and
	// enable_seq now.
	SchedState string `msgpack:"sched_state,omitempty" json:"sched_state,omitempty"`
	EnableSeq  uint64 `msgpack:"enable_seq,omitempty" json:"enable_seq,omitempty"`
	// Telemetry is a reading of /sys/kernel/sched_ext now (its counters
	// and values; no debugfs); nil when the kernel has no sched_ext.
	Telemetry *spec.SchedTelemetry `msgpack:"telemetry,omitempty" json:"telemetry,omitempty"`
}

// WorkerInfo identifies one worker of a job.
type WorkerInfo struct {
	// Cgroup is the scenario cgroup the worker runs in.
	Cgroup string `msgpack:"cgroup" json:"cgroup"`
	// Index is the worker's index among its cgroup's workers (spawn
	// order); PID is its thread or process id.
	Index int `msgpack:"index" json:"index"`
	PID   int `msgpack:"pid,omitempty" json:"pid,omitempty"`
}

// SchedEventKind is what happened to a scheduler.
type SchedEventKind string

// Scheduler event kinds.
const (
	// SchedAttached: state became enabled with the expected ops.
	SchedAttached SchedEventKind = "attached"
	// SchedDetached: the agent unloaded the scheduler as planned.
	SchedDetached SchedEventKind = "detached"
	// SchedEjected: the kernel disabled the scheduler (stall, runtime
	// error, scx_bpf_error, sysrq-S); Reason and KernelLines say why.
	SchedEjected SchedEventKind = "ejected"
	// SchedLoadFailed: the loader exited or never attached within the
	// attach timeout; Log holds its output, verifier log included.
	SchedLoadFailed SchedEventKind = "load_failed"
	// SchedDied: the loader exited while attached; Exit says how.
	SchedDied SchedEventKind = "died"
)

// SchedEvent reports a scheduler lifecycle change.
type SchedEvent struct {
	// JobID is the job the scheduler instance last served: the job the
	// event belongs to, even when the agent notices it during a later job
	// (a loader exits some time after its ejection).
	JobID uint32         `msgpack:"job_id" json:"job_id"`
	Kind  SchedEventKind `msgpack:"kind" json:"kind"`
	// Scheduler is the scheduler's name (root/ops or the spec's name).
	Scheduler string `msgpack:"scheduler,omitempty" json:"scheduler,omitempty"`
	// At is the time since job JobID arrived.
	At time.Duration `msgpack:"at" json:"at"`
	// Reason is the kernel's reason ("runnable task stall") from the
	// "disabled (REASON)" line, for ejections.
	Reason string `msgpack:"reason,omitempty" json:"reason,omitempty"`
	// KernelLines are the kernel's disable line and the stall or error
	// lines after it.
	KernelLines []string `msgpack:"kernel_lines,omitempty" json:"kernel_lines,omitempty"`
	// Log is the loader's captured output (the tail when it is long).
	Log string `msgpack:"log,omitempty" json:"log,omitempty"`
	// Exit is the loader's exit status once it has exited, else nil.
	Exit *ExitStatus `msgpack:"exit,omitempty" json:"exit,omitempty"`
	// EnableSeq is /sys/kernel/sched_ext/enable_seq at the event.
	EnableSeq uint64 `msgpack:"enable_seq,omitempty" json:"enable_seq,omitempty"`
	// Dump is the kernel's sched_ext debug dump (exit reason, backtrace,
	// cpu and task states) when the scheduler exited with an error,
	// recorded from the sched_ext_dump trace event whichever loader
	// started it; empty when the kernel wrote none.
	Dump string `msgpack:"dump,omitempty" json:"dump,omitempty"`
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	// Code is the exit code; it is meaningful when Signal is zero.
	Code int `msgpack:"code" json:"code"`
	// Signal is the signal that killed the process, or zero.
	Signal int `msgpack:"signal,omitempty" json:"signal,omitempty"`
}

// String formats the status like a shell would ("exit 1", "signal 9").
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("signal %d", s.Signal)
	}
	return fmt.Sprintf("exit %d", s.Code)
}

// KernelLog carries a batch of /dev/kmsg records.
type KernelLog struct {
	Lines []KernelLine `msgpack:"lines" json:"lines"`
}

// KernelLine is one /dev/kmsg record.
type KernelLine struct {
	// Level is the syslog level (0 emerg .. 7 debug), facility stripped.
	Level int `msgpack:"level" json:"level"`
	// Seq is the record's sequence number; gaps mean lost records.
	Seq uint64 `msgpack:"seq" json:"seq"`
	// TimeUs is the record's CLOCK_MONOTONIC time in microseconds.
	TimeUs uint64 `msgpack:"time_us" json:"time_us"`
	Text   string `msgpack:"text" json:"text"`
}

// Reports carries worker reports of a job. A job's reports may be split
// over several Reports messages (each worker appears in exactly one); all
// of them come before the job's JobResult.
type Reports struct {
	JobID   uint32         `msgpack:"job_id" json:"job_id"`
	Workers []CgroupReport `msgpack:"workers" json:"workers"`
}

// CgroupReport is one worker's report and the scenario cgroup it ran in.
type CgroupReport struct {
	Cgroup string            `msgpack:"cgroup" json:"cgroup"`
	Report spec.WorkerReport `msgpack:"report" json:"report"`
}

// JobStatus is how a job ended.
type JobStatus string

// Job statuses.
const (
	// StatusOK: the scenario ran to its end and reports were collected.
	StatusOK JobStatus = "ok"
	// StatusFailed: setup or the run failed; Error says why.
	StatusFailed JobStatus = "failed"
	// StatusTimedOut: Job.Timeout expired.
	StatusTimedOut JobStatus = "timed_out"
	// StatusSchedulerFailed: the scheduler did not load, nothing ran (a
	// SchedEvent of kind load_failed has the details).
	StatusSchedulerFailed JobStatus = "scheduler_failed"
)

// JobResult is the last message about a job.
type JobResult struct {
	JobID  uint32    `msgpack:"job_id" json:"job_id"`
	Status JobStatus `msgpack:"status" json:"status"`
	// Error explains a status other than StatusOK.
	Error   string  `msgpack:"error,omitempty" json:"error,omitempty"`
	Timings Timings `msgpack:"timings" json:"timings"`
	// Payloads are the scenario's payload commands, in scenario order.
	Payloads []PayloadResult `msgpack:"payloads,omitempty" json:"payloads,omitempty"`
	// SchedStateStart is /sys/kernel/sched_ext/state once the job's
	// scheduler is in place, before any worker starts.
	SchedStateStart string `msgpack:"sched_state_start,omitempty" json:"sched_state_start,omitempty"`
	// SchedStateEnd is /sys/kernel/sched_ext/state at the end of the run;
	// EnableSeqStart and EnableSeqEnd bracket the run (they differ when the
	// scheduler was ejected and reloaded).
	SchedStateEnd  string `msgpack:"sched_state_end,omitempty" json:"sched_state_end,omitempty"`
	EnableSeqStart uint64 `msgpack:"enable_seq_start,omitempty" json:"enable_seq_start,omitempty"`
	EnableSeqEnd   uint64 `msgpack:"enable_seq_end,omitempty" json:"enable_seq_end,omitempty"`
	// TelemetryStart and TelemetryEnd read every sched_ext sysfs and
	// debugfs file once the job's scheduler is in place and at the end
	// of the run (before a restart unloads it); nil when the kernel has
	// no sched_ext.
	TelemetryStart *spec.SchedTelemetry `msgpack:"telemetry_start,omitempty" json:"telemetry_start,omitempty"`
	TelemetryEnd   *spec.SchedTelemetry `msgpack:"telemetry_end,omitempty" json:"telemetry_end,omitempty"`
	// Collected says how each directory of Job.Collect was sent, in
	// Job.Collect order.
	Collected []CollectResult `msgpack:"collected,omitempty" json:"collected,omitempty"`
}

// CollectResult is how one collected guest directory was sent.
type CollectResult struct {
	// Dir is the guest directory, as in Job.Collect.
	Dir string `msgpack:"dir" json:"dir"`
	// Files and Bytes count the regular files sent and their bytes;
	// Skipped counts entries that are neither regular files nor
	// directories (symbolic links, devices), which are not sent.
	Files   int   `msgpack:"files,omitempty" json:"files,omitempty"`
	Bytes   int64 `msgpack:"bytes,omitempty" json:"bytes,omitempty"`
	Skipped int   `msgpack:"skipped,omitempty" json:"skipped,omitempty"`
	// Error says why the directory, or part of it, was not sent.
	Error string `msgpack:"error,omitempty" json:"error,omitempty"`
}

// Output streams are the payload's standard output and standard error.
const (
	StreamStdout = 1
	StreamStderr = 2
)

// MaxOutputChunk bounds the Data of one Output or FileData message.
const MaxOutputChunk = 32 << 10

// Output is a chunk of a payload's output, sent as the payload writes it
// (the agent blocks the payload's pipe while a chunk is on its way, so
// neither side holds more than a chunk per stream). A job's Output
// messages come before its JobResult, in the order the payload wrote them
// per stream.
type Output struct {
	JobID uint32 `msgpack:"job_id" json:"job_id"`
	// Payload indexes the scenario's Payloads.
	Payload int `msgpack:"payload" json:"payload"`
	// Stream is StreamStdout or StreamStderr. The agent sends a
	// payload's standard output and error through one pipe, in the order
	// it wrote them, as StreamStdout.
	Stream int    `msgpack:"stream" json:"stream"`
	Data   []byte `msgpack:"data" json:"data"`
}

// FileData is a chunk of a file (or a directory entry) of a directory
// the host asked for in Job.Collect.
type FileData struct {
	JobID uint32 `msgpack:"job_id" json:"job_id"`
	// Dir indexes Job.Collect.
	Dir int `msgpack:"dir" json:"dir"`
	// Path is the entry's slash-separated path below the directory; the
	// host must refuse one that is absolute or leaves the directory.
	Path string `msgpack:"path" json:"path"`
	// Mode is the entry's permission bits; IsDir marks a directory
	// (no data).
	Mode  uint32 `msgpack:"mode" json:"mode"`
	IsDir bool   `msgpack:"is_dir,omitempty" json:"is_dir,omitempty"`
	// Offset is where Data goes in the file; a file's chunks come in
	// order, the first at offset zero (an empty file has one empty chunk).
	Offset int64  `msgpack:"offset,omitempty" json:"offset,omitempty"`
	Data   []byte `msgpack:"data,omitempty" json:"data,omitempty"`
}

// Timings splits a job's wall time.
type Timings struct {
	// Setup covers scheduler start, cgroups and spawning; Run is Start to
	// stop; Collect gathers reports; Total is arrival to JobResult.
	Setup   time.Duration `msgpack:"setup" json:"setup"`
	Run     time.Duration `msgpack:"run" json:"run"`
	Collect time.Duration `msgpack:"collect" json:"collect"`
	Total   time.Duration `msgpack:"total" json:"total"`
}

// PayloadResult is how one payload command ended.
type PayloadResult struct {
	Name string `msgpack:"name" json:"name"`
	// ExitCode is the status of a command that exited, nil for one that
	// never started, was killed by a signal (Signal) or was not reaped.
	// TimedOut means the agent killed it at the end of the scenario or
	// the job timeout.
	ExitCode *int `msgpack:"exit_code,omitempty" json:"exit_code,omitempty"`
	Signal   int  `msgpack:"signal,omitempty" json:"signal,omitempty"`
	TimedOut bool `msgpack:"timed_out,omitempty" json:"timed_out,omitempty"`
	// Error says why the command could not be started (ExitCode is then
	// nil and Duration zero), or that it was not reaped after SIGKILL.
	Error string `msgpack:"error,omitempty" json:"error,omitempty"`
	// OutputTail is the end of its combined stdout and stderr.
	OutputTail string        `msgpack:"output_tail,omitempty" json:"output_tail,omitempty"`
	Duration   time.Duration `msgpack:"duration" json:"duration"`
	// OutputBytes counts every byte of output the payload wrote (all of
	// it was sent in Output messages), so that the host can tell
	// whether it received all of it.
	OutputBytes int64 `msgpack:"output_bytes,omitempty" json:"output_bytes,omitempty"`
}

// Error reports a failure outside any job's normal flow (a malformed Job,
// a panic in the agent, a handshake failure). Either side may send it.
type Error struct {
	// Op is what was being done ("handshake", "decode job", "agent").
	Op      string `msgpack:"op" json:"op"`
	Message string `msgpack:"message" json:"message"`
	// JobID is the job concerned, or zero.
	JobID uint32 `msgpack:"job_id,omitempty" json:"job_id,omitempty"`
	// Fatal means the sender is about to close the conversation.
	Fatal bool `msgpack:"fatal,omitempty" json:"fatal,omitempty"`
}

// Bye ends the conversation on purpose. The host sends it when there are
// no more jobs, the agent in answer just before it powers off.
type Bye struct {
	Reason string `msgpack:"reason,omitempty" json:"reason,omitempty"`
}
