package spec

// ExitKind classifies how a worker ended.
type ExitKind string

// Exit kinds.
const (
	ExitNone       ExitKind = ""            // the worker reported normally
	ExitExited     ExitKind = "exited"      // exited with Code before reporting
	ExitSignaled   ExitKind = "signaled"    // killed by Signal before reporting
	ExitTimedOut   ExitKind = "timed_out"   // missed the collection deadline and was SIGKILLed
	ExitWaitFailed ExitKind = "wait_failed" // wait4 failed; Message says why
)

// ExitInfo says how a worker that did not complete its report ended.
type ExitInfo struct {
	Kind    ExitKind `msgpack:"kind,omitempty" json:"kind,omitempty"`
	Code    int      `msgpack:"code,omitempty" json:"code,omitempty"`
	Signal  int      `msgpack:"signal,omitempty" json:"signal,omitempty"`
	Message string   `msgpack:"message,omitempty" json:"message,omitempty"`
}

// Migration is one observed cpu change of a worker.
type Migration struct {
	AtNs    uint64 `msgpack:"at_ns" json:"at_ns"`
	FromCPU int    `msgpack:"from" json:"from_cpu"`
	ToCPU   int    `msgpack:"to" json:"to_cpu"`
}

// WorkerReport is what one worker measured. Times are nanoseconds unless
// the name says otherwise.
type WorkerReport struct {
	// Index is the worker's position in its handle; TID its thread (and for
	// process workers, process) id.
	Index int `msgpack:"index" json:"index"`
	TID   int `msgpack:"tid" json:"tid"`
	// IsMessenger marks the messenger of a fan-out group.
	IsMessenger bool `msgpack:"is_messenger,omitempty" json:"is_messenger,omitempty"`

	// WorkUnits counts inner work units; Iterations counts outer loops.
	WorkUnits  uint64 `msgpack:"work_units" json:"work_units"`
	Iterations uint64 `msgpack:"iterations" json:"iterations"`

	CPUTimeNs  uint64 `msgpack:"cpu_time_ns" json:"cpu_time_ns"` // thread cpu clock
	WallTimeNs uint64 `msgpack:"wall_time_ns" json:"wall_time_ns"`
	OffCPUNs   uint64 `msgpack:"off_cpu_ns" json:"off_cpu_ns"`

	MigrationCount uint64      `msgpack:"migration_count" json:"migration_count"`
	CPUsUsed       []int       `msgpack:"cpus_used,omitempty" json:"cpus_used,omitempty"`
	Migrations     []Migration `msgpack:"migrations,omitempty" json:"migrations,omitempty"`

	// MaxGapMs is the longest gap between progress checkpoints, on which cpu
	// and when (ms after start) it ended.
	MaxGapMs   uint64 `msgpack:"max_gap_ms" json:"max_gap_ms"`
	MaxGapCPU  int    `msgpack:"max_gap_cpu" json:"max_gap_cpu"`
	MaxGapAtMs uint64 `msgpack:"max_gap_at_ms" json:"max_gap_at_ms"`

	// ResumeLatenciesNs is a reservoir sample (cap MaxLatencySamples) of
	// wake-to-run latencies; ResumeLatencyCount counts every sample taken.
	ResumeLatenciesNs  Samples `msgpack:"resume_latencies_ns,omitempty" json:"resume_latencies_ns,omitempty"`
	ResumeLatencyCount uint64  `msgpack:"resume_latency_count,omitempty" json:"resume_latency_count,omitempty"`

	// Deltas of /proc/self/task/TID/schedstat over the run.
	SchedstatRunDelayNs uint64 `msgpack:"schedstat_run_delay_ns" json:"schedstat_run_delay_ns"`
	SchedstatRunCount   uint64 `msgpack:"schedstat_run_count" json:"schedstat_run_count"`
	SchedstatCPUTimeNs  uint64 `msgpack:"schedstat_cpu_time_ns" json:"schedstat_cpu_time_ns"`

	// Context switches over the run (getrusage RUSAGE_THREAD).
	VoluntaryCtxSwitches   uint64 `msgpack:"voluntary_ctxt_switches" json:"voluntary_ctxt_switches"`
	InvoluntaryCtxSwitches uint64 `msgpack:"involuntary_ctxt_switches" json:"involuntary_ctxt_switches"`

	// NumaPages counts the worker's resident pages per NUMA node (index =
	// node); NumaPagesMigrated is the vmstat numa_pages_migrated delta.
	NumaPages         []uint64 `msgpack:"numa_pages,omitempty" json:"numa_pages,omitempty"`
	NumaPagesMigrated uint64   `msgpack:"numa_pages_migrated,omitempty" json:"numa_pages_migrated,omitempty"`

	// Degraded says what the worker could not do as its work kind asks
	// (a privilege, a NUMA node, SMT siblings, a block device it lacked)
	// and what it did instead; empty when it ran as configured.
	Degraded string `msgpack:"degraded,omitempty" json:"degraded,omitempty"`

	// Completed is true when the worker delivered its report; otherwise
	// Exit says how it ended.
	Completed bool     `msgpack:"completed" json:"completed"`
	Exit      ExitInfo `msgpack:"exit,omitempty" json:"exit,omitempty"`
}

// MaxLatencySamples caps WorkerReport.ResumeLatenciesNs.
const MaxLatencySamples = 100_000

// Samples is a list of latency samples in nanoseconds. It marshals to a
// compact binary form (see MarshalBinary) so that large reports encode fast.
type Samples []uint64
