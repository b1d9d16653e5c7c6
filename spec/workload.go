package spec

import (
	"time"
)

// WorkKind names what one outer iteration of a worker does. The names match
// the reference harness so that scenario files read the same.
type WorkKind string

// The work kinds. Grouped kinds need NumWorkers to be a multiple of their
// group size (see WorkType.GroupSize).
const (
	CpuSpin         WorkKind = "CpuSpin"         // 1024 opaque increments
	YieldHeavy      WorkKind = "YieldHeavy"      // one unit, then sched_yield
	Mixed           WorkKind = "Mixed"           // 1024-increment burst, then yield
	IoSync          WorkKind = "IoSync"          // 16 x 4 KiB writes + fsync to a private file, then sleep 100 us
	Bursty          WorkKind = "Bursty"          // spin for Burst, sleep for Sleep
	PipeIo          WorkKind = "PipeIo"          // spin BurstIters, 1-byte ping-pong over pipes (group 2)
	FutexPingPong   WorkKind = "FutexPingPong"   // spin SpinIters, hand a futex word to the partner (group 2)
	CachePressure   WorkKind = "CachePressure"   // 1024 strided read-modify-writes over a private buffer
	CacheYield      WorkKind = "CacheYield"      // CachePressure, then yield
	CachePipe       WorkKind = "CachePipe"       // cache walk, then pipe ping-pong (group 2)
	FutexFanOut     WorkKind = "FutexFanOut"     // messenger wakes FanOut receivers (group FanOut+1)
	Sequence        WorkKind = "Sequence"        // ordered phases, repeated
	ForkExit        WorkKind = "ForkExit"        // fork a child that exits at once, wait for it
	NiceSweep       WorkKind = "NiceSweep"       // spin 512, cycle nice -20..19, yield
	AffinityChurn   WorkKind = "AffinityChurn"   // spin, move to a random cpu of the start mask, yield
	PolicyChurn     WorkKind = "PolicyChurn"     // spin, cycle scheduling policies, yield
	FanOutCompute   WorkKind = "FanOutCompute"   // messenger stamps a wake time, receivers measure latency and compute (group FanOut+1)
	PageFaultChurn  WorkKind = "PageFaultChurn"  // random page writes over a region, then MADV_DONTNEED
	MutexContention WorkKind = "MutexContention" // futex mutex among Contenders workers (group Contenders)
	Custom          WorkKind = "Custom"          // a registered user function; framework telemetry bypassed
)

// IgnoreStopFixture names a Custom work function built into every guest
// agent: a fault fixture that makes progress and never honours the stop
// request, so that the worker runtime has to SIGKILL it at the stop
// deadline and report it as timed out. Use it as
//
//	WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: Custom, CustomName: IgnoreStopFixture}}
const IgnoreStopFixture = "scxvm-ignore-stop"

// PhaseKind is the kind of one Sequence phase.
type PhaseKind string

// Sequence phase kinds.
const (
	PhaseSpin  PhaseKind = "spin"
	PhaseSleep PhaseKind = "sleep"
	PhaseYield PhaseKind = "yield"
	PhaseIo    PhaseKind = "io"
)

// Phase is one step of a Sequence work type.
type Phase struct {
	Kind     PhaseKind     `msgpack:"kind" json:"kind" yaml:"kind"`
	Duration time.Duration `msgpack:"duration,omitempty" json:"duration,omitempty" yaml:"duration,omitempty"`
}

// WorkType selects the work kind and its parameters (its knobs). A zero
// knob means the kind's default (see the constants in defaults.go and
// worktypes.go); a knob the kind does not take is an error (Validate),
// except for Custom, whose function may read any. The zero WorkType is
// CpuSpin.
type WorkType struct {
	Kind WorkKind `msgpack:"kind,omitempty" json:"kind,omitempty" yaml:"kind,omitempty"`

	// SpinIters is the spin length in opaque increments (FutexPingPong,
	// FutexFanOut, AffinityChurn, PolicyChurn, PageFaultChurn).
	SpinIters int `msgpack:"spin_iters,omitempty" json:"spin_iters,omitempty" yaml:"spin_iters,omitempty"`
	// BurstIters is the spin length before a pipe exchange (PipeIo, CachePipe).
	BurstIters int `msgpack:"burst_iters,omitempty" json:"burst_iters,omitempty" yaml:"burst_iters,omitempty"`
	// Burst and Sleep are the on and off times of Bursty; Sleep is also the
	// receivers' pause of FanOutCompute.
	Burst time.Duration `msgpack:"burst,omitempty" json:"burst,omitempty" yaml:"burst,omitempty"`
	Sleep time.Duration `msgpack:"sleep,omitempty" json:"sleep,omitempty" yaml:"sleep,omitempty"`
	// CacheBytes and Stride shape the cache walk (CachePressure, CacheYield,
	// CachePipe) and the matrix size of FanOutCompute.
	CacheBytes int `msgpack:"cache_bytes,omitempty" json:"cache_bytes,omitempty" yaml:"cache_bytes,omitempty"`
	Stride     int `msgpack:"stride,omitempty" json:"stride,omitempty" yaml:"stride,omitempty"`
	// FanOut is the receivers per messenger (FutexFanOut, FanOutCompute).
	FanOut int `msgpack:"fan_out,omitempty" json:"fan_out,omitempty" yaml:"fan_out,omitempty"`
	// Ops is the matrix operations per wake of FanOutCompute.
	Ops int `msgpack:"ops,omitempty" json:"ops,omitempty" yaml:"ops,omitempty"`
	// RegionBytes and Touches shape PageFaultChurn.
	RegionBytes int `msgpack:"region_bytes,omitempty" json:"region_bytes,omitempty" yaml:"region_bytes,omitempty"`
	Touches     int `msgpack:"touches,omitempty" json:"touches,omitempty" yaml:"touches,omitempty"`
	// Contenders, HoldIters and WorkIters shape MutexContention.
	Contenders int `msgpack:"contenders,omitempty" json:"contenders,omitempty" yaml:"contenders,omitempty"`
	HoldIters  int `msgpack:"hold_iters,omitempty" json:"hold_iters,omitempty" yaml:"hold_iters,omitempty"`
	WorkIters  int `msgpack:"work_iters,omitempty" json:"work_iters,omitempty" yaml:"work_iters,omitempty"`
	// Phases are the steps of Sequence, run in order and repeated.
	Phases []Phase `msgpack:"phases,omitempty" json:"phases,omitempty" yaml:"phases,omitempty"`
	// CustomName names a function registered with RegisterCustom (Custom).
	CustomName string `msgpack:"custom_name,omitempty" json:"custom_name,omitempty" yaml:"custom_name,omitempty"`

	// The knobs below belong to the kinds added with ktstr 0.5.2's set
	// (worktypes.go documents which kind takes which).

	// Blocks is the 4 KiB synchronous writes per iteration (IoSyncWrite).
	Blocks int `msgpack:"blocks,omitempty" json:"blocks,omitempty" yaml:"blocks,omitempty"`
	// FileBytes is the size of the private file read and written at
	// random 4 KiB offsets (IoRandRead, IoConvoy).
	FileBytes int `msgpack:"file_bytes,omitempty" json:"file_bytes,omitempty" yaml:"file_bytes,omitempty"`
	// SyncEvery is the iterations between fdatasyncs (IoConvoy).
	SyncEvery int `msgpack:"sync_every,omitempty" json:"sync_every,omitempty" yaml:"sync_every,omitempty"`
	// HotIters and ColdIters are the multiply steps and the dependent
	// cache-line loads of one IpcVariance iteration.
	HotIters  int `msgpack:"hot_iters,omitempty" json:"hot_iters,omitempty" yaml:"hot_iters,omitempty"`
	ColdIters int `msgpack:"cold_iters,omitempty" json:"cold_iters,omitempty" yaml:"cold_iters,omitempty"`
	// Period is the time between moves (NumaMigrationChurn, CgroupChurn,
	// NumaWorkingSetSweep).
	Period time.Duration `msgpack:"period,omitempty" json:"period,omitempty" yaml:"period,omitempty"`
	// Groups is the sibling cgroups a CgroupChurn worker moves through
	// besides its own.
	Groups int `msgpack:"groups,omitempty" json:"groups,omitempty" yaml:"groups,omitempty"`
	// WakerClass and WakeeClass are the scheduling policies of the two
	// roles of AsymmetricWaker.
	WakerClass PolicyClass `msgpack:"waker_class,omitempty" json:"waker_class,omitempty" yaml:"waker_class,omitempty"`
	WakeeClass PolicyClass `msgpack:"wakee_class,omitempty" json:"wakee_class,omitempty" yaml:"wakee_class,omitempty"`
	// RTPriority is the SCHED_FIFO/RR priority of the real-time roles
	// (AsymmetricWaker, PreemptStorm, RtStarvation, PriorityInversion).
	RTPriority int `msgpack:"rt_priority,omitempty" json:"rt_priority,omitempty" yaml:"rt_priority,omitempty"`
	// Depth is the stages of one WakeChain ring; Wake how a stage wakes
	// the next.
	Depth int           `msgpack:"depth,omitempty" json:"depth,omitempty" yaml:"depth,omitempty"`
	Wake  WakeMechanism `msgpack:"wake,omitempty" json:"wake,omitempty" yaml:"wake,omitempty"`
	// Producers and Consumers are the roles of one group (EpollStorm,
	// ProducerConsumerImbalance).
	Producers int `msgpack:"producers,omitempty" json:"producers,omitempty" yaml:"producers,omitempty"`
	Consumers int `msgpack:"consumers,omitempty" json:"consumers,omitempty" yaml:"consumers,omitempty"`
	// EventsPerBurst is the eventfd writes of one producer burst
	// (EpollStorm).
	EventsPerBurst int `msgpack:"events_per_burst,omitempty" json:"events_per_burst,omitempty" yaml:"events_per_burst,omitempty"`
	// Waiters is the herd woken at once (ThunderingHerd).
	Waiters int `msgpack:"waiters,omitempty" json:"waiters,omitempty" yaml:"waiters,omitempty"`
	// Nodes are the NUMA nodes a working set moves through
	// (NumaWorkingSetSweep); empty means every online node.
	Nodes []int `msgpack:"nodes,omitempty" json:"nodes,omitempty" yaml:"nodes,omitempty"`
	// High, Medium and Low are the workers of each priority tier; PI
	// selects a priority-inheriting lock (PriorityInversion).
	High   int  `msgpack:"high,omitempty" json:"high,omitempty" yaml:"high,omitempty"`
	Medium int  `msgpack:"medium,omitempty" json:"medium,omitempty" yaml:"medium,omitempty"`
	Low    int  `msgpack:"low,omitempty" json:"low,omitempty" yaml:"low,omitempty"`
	PI     bool `msgpack:"pi,omitempty" json:"pi,omitempty" yaml:"pi,omitempty"`
	// Rate is the items per second each producer offers; QueueDepth the
	// shared queue's capacity (ProducerConsumerImbalance).
	Rate       int `msgpack:"rate,omitempty" json:"rate,omitempty" yaml:"rate,omitempty"`
	QueueDepth int `msgpack:"queue_depth,omitempty" json:"queue_depth,omitempty" yaml:"queue_depth,omitempty"`
	// Signals is the signals sent to the partner per iteration
	// (SignalStorm).
	Signals int `msgpack:"signals,omitempty" json:"signals,omitempty" yaml:"signals,omitempty"`
	// RTWorkers and CFSWorkers are the real-time and normal workers of one
	// group (RtStarvation; PreemptStorm has one real-time worker).
	RTWorkers  int `msgpack:"rt_workers,omitempty" json:"rt_workers,omitempty" yaml:"rt_workers,omitempty"`
	CFSWorkers int `msgpack:"cfs_workers,omitempty" json:"cfs_workers,omitempty" yaml:"cfs_workers,omitempty"`
}

// AffinityKind says how a worker's cpu mask is chosen.
type AffinityKind string

// Affinity kinds. The empty kind inherits the spawner's mask.
const (
	AffinityInherit AffinityKind = ""
	AffinityFixed   AffinityKind = "fixed"  // every worker gets CPUs
	AffinityRandom  AffinityKind = "random" // each worker gets Count random cpus of From
	AffinitySingle  AffinityKind = "single" // every worker gets the single cpu CPU
)

// Affinity is a worker cpu-mask request, applied with sched_setaffinity
// after spawn and before start.
type Affinity struct {
	Kind  AffinityKind `msgpack:"kind,omitempty" json:"kind,omitempty" yaml:"kind,omitempty"`
	CPUs  []int        `msgpack:"cpus,omitempty" json:"cpus,omitempty" yaml:"cpus,omitempty"`
	From  []int        `msgpack:"from,omitempty" json:"from,omitempty" yaml:"from,omitempty"`
	Count int          `msgpack:"count,omitempty" json:"count,omitempty" yaml:"count,omitempty"`
	CPU   int          `msgpack:"cpu,omitempty" json:"cpu,omitempty" yaml:"cpu,omitempty"`
}

// PolicyClass is a Linux scheduling policy.
type PolicyClass string

// Scheduling policies. The empty class is SCHED_OTHER (normal).
const (
	PolicyNormal     PolicyClass = ""
	PolicyBatch      PolicyClass = "batch"
	PolicyIdle       PolicyClass = "idle"
	PolicyFIFO       PolicyClass = "fifo"
	PolicyRoundRobin PolicyClass = "rr"
)

// SchedPolicy is the scheduling policy workers run under. Priority (1-99)
// applies to fifo and rr only.
type SchedPolicy struct {
	Class    PolicyClass `msgpack:"class,omitempty" json:"class,omitempty" yaml:"class,omitempty"`
	Priority int         `msgpack:"priority,omitempty" json:"priority,omitempty" yaml:"priority,omitempty"`
}

// MemPolicyMode is a set_mempolicy mode.
type MemPolicyMode string

// Memory policy modes. The empty mode leaves the policy alone (MPOL_DEFAULT).
const (
	MemDefault            MemPolicyMode = ""
	MemBind               MemPolicyMode = "bind"
	MemPreferred          MemPolicyMode = "preferred"
	MemInterleave         MemPolicyMode = "interleave"
	MemLocal              MemPolicyMode = "local"
	MemPreferredMany      MemPolicyMode = "preferred_many"
	MemWeightedInterleave MemPolicyMode = "weighted_interleave"
)

// MemPolicyFlag is a set_mempolicy mode flag.
type MemPolicyFlag string

// Memory policy flags.
const (
	MemFlagStaticNodes   MemPolicyFlag = "static_nodes"
	MemFlagRelativeNodes MemPolicyFlag = "relative_nodes"
	MemFlagNumaBalancing MemPolicyFlag = "numa_balancing"
)

// MemPolicy is the NUMA memory policy workers apply with set_mempolicy after
// spawn.
type MemPolicy struct {
	Mode  MemPolicyMode   `msgpack:"mode,omitempty" json:"mode,omitempty" yaml:"mode,omitempty"`
	Nodes []int           `msgpack:"nodes,omitempty" json:"nodes,omitempty" yaml:"nodes,omitempty"`
	Flags []MemPolicyFlag `msgpack:"flags,omitempty" json:"flags,omitempty" yaml:"flags,omitempty"`
}

// CloneMode says whether workers are processes or threads.
type CloneMode string

// Clone modes. The empty mode is process workers.
const (
	CloneProcess CloneMode = ""
	CloneThread  CloneMode = "thread"
)

// WorkloadConfig describes a set of identical workers. Set only the fields
// that matter; zero values are the defaults, except NumWorkers, which must be
// at least 1.
type WorkloadConfig struct {
	NumWorkers  int         `msgpack:"num_workers,omitempty" json:"num_workers,omitempty" yaml:"num_workers,omitempty"`
	WorkType    WorkType    `msgpack:"work_type,omitempty" json:"work_type,omitempty" yaml:"work_type,omitempty"`
	Affinity    Affinity    `msgpack:"affinity,omitempty" json:"affinity,omitempty" yaml:"affinity,omitempty"`
	SchedPolicy SchedPolicy `msgpack:"sched_policy,omitempty" json:"sched_policy,omitempty" yaml:"sched_policy,omitempty"`
	MemPolicy   MemPolicy   `msgpack:"mem_policy,omitempty" json:"mem_policy,omitempty" yaml:"mem_policy,omitempty"`
	CloneMode   CloneMode   `msgpack:"clone_mode,omitempty" json:"clone_mode,omitempty" yaml:"clone_mode,omitempty"`
	// Nice is the nice value (-20..19) workers set before they start.
	Nice int `msgpack:"nice,omitempty" json:"nice,omitempty" yaml:"nice,omitempty"`
}
