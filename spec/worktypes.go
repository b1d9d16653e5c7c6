package spec

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The work kinds ktstr 0.5.2 added to the reference set. Each names the
// scheduler behaviour it stresses and the knobs (WorkType fields, by their
// scenario-file names) it takes; a zero knob means the default given here.
// Grouped kinds need NumWorkers to be a multiple of their group size
// (WorkType.GroupSize). Every kind runs as process workers and as thread
// workers (CloneThread) unless its comment says otherwise. Kinds that
// need a privilege or a topology the system lacks run in the nearest form
// they can and say what they could not do in WorkerReport.Degraded.
const (
	// SpinWait is the reference harness's later name of CpuSpin; it is
	// accepted wherever a kind is and means CpuSpin.
	SpinWait WorkKind = "SpinWait"

	// IoSyncWrite stresses the block-I/O sleep and wake path: blocks
	// (default 16) 4 KiB writes to a private file opened O_DSYNC, then
	// fdatasync, so each write and the sync wait
	// for the device (D state) and the worker is woken from the I/O
	// completion. The file is in os.TempDir (TMPDIR); on a file system
	// without a device (tmpfs, as the guest's /tmp) there is no wait, so
	// each sync is followed by a 100 us sleep standing in for the device
	// (a resume latency sample), and Degraded says so.
	IoSyncWrite WorkKind = "IoSyncWrite"

	// IoRandRead stresses short, frequent I/O sleeps: one 4 KiB O_DIRECT
	// read at a random aligned offset of a private file of file_bytes
	// (default 4 MiB, written at setup) per iteration, a high rate of
	// short D-state waits. On a memory file system, or where O_DIRECT is
	// refused, the read is buffered and followed by the 100 us stand-in
	// sleep (Degraded says which).
	IoRandRead WorkKind = "IoRandRead"

	// IoConvoy stresses readers queued behind a flush: each iteration
	// does one buffered 4 KiB write at a sequential cursor and one
	// O_DIRECT 4 KiB read at a random offset of a file of file_bytes
	// (default 4 MiB), and every sync_every (default 16) iterations an
	// fdatasync flushes the written batch while reads wait behind it. On
	// a memory file system each sync is followed by the 100 us stand-in
	// sleep (Degraded says so).
	IoConvoy WorkKind = "IoConvoy"

	// AluHot stresses placement and accounting of high-IPC tasks: four
	// independent multiply-add chains, spin_iters (default 1024) steps
	// per iteration, which keep several execution units busy (unlike
	// CpuSpin's single dependent add chain). No system calls.
	AluHot WorkKind = "AluHot"

	// SmtSiblingSpin stresses SMT-aware placement: pairs (group 2) spin
	// with a PAUSE every 64 of spin_iters (default 1024) increments on
	// the two hardware threads of one core. With an inherited affinity
	// each pair pins itself to the siblings of one core of its allowed
	// cpus (pair g on the g-th such core); without SMT siblings the pair
	// spins unpinned, as two CpuSpin workers, and Degraded says so.
	SmtSiblingSpin WorkKind = "SmtSiblingSpin"

	// IpcVariance stresses schedulers that classify tasks by their
	// recent behaviour: each iteration runs hot_iters (default 4096)
	// multiply-add steps at high IPC, then cold_iters (default 256)
	// dependent loads chasing a random cycle through cache_bytes
	// (default 4 MiB), stalling on memory at very low IPC.
	IpcVariance WorkKind = "IpcVariance"

	// IdleChurn stresses the idle and timer wake-up path: spin for burst
	// (default 1 ms), then nanosleep for sleep (default 5 ms) with the
	// timer slack cut to 1 ns, so that the cpu may go idle and the
	// worker is woken by its timer. The sleep's overshoot is the resume
	// latency.
	IdleChurn WorkKind = "IdleChurn"

	// NumaMigrationChurn stresses cross-node task migration: spin
	// spin_iters (default 1024) per iteration and every period (default
	// 20 ms) set the worker's affinity to the allowed cpus of the next
	// NUMA node. With one node among its allowed cpus the worker is
	// re-pinned to that node each period and Degraded says so.
	NumaMigrationChurn WorkKind = "NumaMigrationChurn"

	// CgroupChurn stresses cgroup migration (sched_move_task, a
	// sched_ext scheduler's cgroup_move): spin spin_iters (default 1024)
	// per iteration and every period (default 20 ms) move the worker to
	// the next of its own cgroup and groups (default 2) sibling cgroups,
	// by writing to their cgroup.procs. The guest agent creates the
	// siblings (named after the scenario cgroup, "~churnN" appended,
	// with its cpuset at start); workload.Spawn needs them through
	// workload.ChurnCgroups. Process workers only: a thread cannot move
	// between domain cgroups alone.
	CgroupChurn WorkKind = "CgroupChurn"

	// AsymmetricWaker stresses wake-up placement across scheduling
	// classes: pairs (group 2) hand a futex word back and forth like
	// FutexPingPong, but the waker runs waker_class (default fifo) and
	// spins burst_iters (default 20000, long enough for the wakee to
	// fall asleep) before each hand-off while the wakee runs wakee_class
	// (default normal) and only wakes and hands back. rt_priority (default 1) applies to a fifo or rr role. Both
	// record their wake-up latency. Without the privilege for a
	// real-time class the role runs normal and Degraded says so.
	AsymmetricWaker WorkKind = "AsymmetricWaker"

	// WakeChain stresses wake-up chains and sync wake-ups: rings of depth
	// (default 4) workers pass one token around; each stage waits for
	// it, spins work_iters (default 1024) and wakes the next. wake "pipe"
	// (default) writes a byte into the next stage's pipe (a WF_SYNC
	// wake-up, a hint to keep the wakee near the waker); "futex" hands a
	// futex word over and wakes exactly the next stage (no sync hint).
	// Group size depth; each woken stage records its latency.
	WakeChain WorkKind = "WakeChain"

	// EpollStorm stresses exclusive wake-ups through epoll: per group,
	// producers (default 1) write events_per_burst (default 8) events to
	// a shared eventfd back to back, then sleep (default 1 ms);
	// consumers (default 2) each wait in epoll_wait on their own epoll
	// instance (EPOLLEXCLUSIVE: one consumer woken per event), take one
	// event and spin spin_iters (default 1024). Group size producers +
	// consumers; a consumer that slept records the latency from the
	// first event written after the queue ran empty.
	EpollStorm WorkKind = "EpollStorm"

	// ThunderingHerd stresses broadcast wake-ups: per group one waker
	// waits until its waiters (default 4) are parked on one futex word,
	// sleeps (default 1 ms), then wakes them all at once; each waiter
	// spins spin_iters (default 1024) and parks again. The herd competes
	// for the cpus at once; each waiter records its latency from the
	// broadcast. Group size waiters + 1; the waker reports as messenger.
	ThunderingHerd WorkKind = "ThunderingHerd"

	// NumaWorkingSetSweep stresses memory placement against task
	// placement: each worker keeps writing every cache line of its
	// region_bytes (default 4 MiB), 256 KiB per iteration, and every
	// period (default 100 ms)
	// binds the region to the next node of nodes (default every online
	// node) with mbind(MPOL_MF_MOVE), migrating its pages. With one node
	// the region stays put and Degraded says so.
	NumaWorkingSetSweep WorkKind = "NumaWorkingSetSweep"

	// PriorityInversion stresses lock hand-off between priorities: per
	// group high (default 1) workers and low (default 1) workers take
	// one lock, spin work_iters (default 10000) between attempts and
	// hold it for hold_iters (default 100000), while medium (default 1)
	// workers spin work_iters without it. With an inherited affinity
	// the group shares one cpu (group g on the g-th allowed cpu), so
	// medium competes with the lock holder. Tiers are nice -10, 0 and 10
	// (0, 10 and 19 without the privilege for negative nice; Degraded
	// says so), or with rt_priority > 0 SCHED_FIFO rt_priority+2,
	// rt_priority+1 and rt_priority (rt_priority up to 97). pi selects a
	// priority-inheriting futex (FUTEX_LOCK_PI). A waiter records its
	// latency from the unlock that woke it. Group size high + medium +
	// low.
	PriorityInversion WorkKind = "PriorityInversion"

	// ProducerConsumerImbalance stresses sustained backpressure: per
	// group producers (default 2) each push rate (default 5000) stamped
	// items per second into a shared queue of queue_depth (default 64)
	// slots, blocking while it is full; consumers (default 1) pop items,
	// blocking while it is empty, and spin work_iters (default 400000)
	// per item, so the consumers fall behind and the queue stays full.
	// A consumer that slept records the latency from the push that woke
	// it; producers record their pacing sleeps' overshoot. Group size
	// producers + consumers.
	ProducerConsumerImbalance WorkKind = "ProducerConsumerImbalance"

	// SignalStorm stresses signal delivery wake-ups: pairs (group 2)
	// spin work_iters (default 1024), send signals (default 4) queued
	// real-time signals to the partner thread (tgkill), then wait for
	// the partner's (sigtimedwait) and drain the rest. A worker that
	// slept records the latency from the partner's first signal.
	SignalStorm WorkKind = "SignalStorm"

	// PreemptStorm stresses preemption by real-time wake-ups: per group
	// one SCHED_FIFO worker (rt_priority, default 1) spins burst_iters
	// (default 1024) and sleeps (default 1 ms), waking and preempting the
	// cfs_workers (default 2) normal workers that spin all the time. The
	// real-time worker records its sleep's overshoot. Group size
	// cfs_workers + 1. Without the real-time privilege it runs normal at
	// nice -20 (or 0) and Degraded says so.
	PreemptStorm WorkKind = "PreemptStorm"

	// RtStarvation stresses the scheduler's share of cpus that
	// real-time tasks leave: per group rt_workers (default 1) SCHED_FIFO
	// workers (rt_priority, default 1) and cfs_workers (default 2) normal
	// workers all spin burst_iters (default 1024) per iteration without
	// blocking; the normal workers live off the cpus the real-time ones
	// do not hold (and the kernel's real-time throttling). Group size
	// rt_workers + cfs_workers. Without the real-time privilege the
	// real-time workers run normal at nice -20 (or 0), Degraded says so.
	RtStarvation WorkKind = "RtStarvation"
)

// WakeMechanism is how a WakeChain stage wakes the next.
type WakeMechanism string

// Wake mechanisms. The empty mechanism is WakePipe.
const (
	WakePipe  WakeMechanism = "pipe"  // a byte into the next stage's pipe (WF_SYNC wake-up)
	WakeFutex WakeMechanism = "futex" // a futex word handed over, FUTEX_WAKE_BITSET of the next stage
)

// Defaults of the added kinds' knobs.
const (
	DefaultBlocks          = 16                     // IoSyncWrite writes per iteration
	DefaultFileBytes       = 4 << 20                // IoRandRead, IoConvoy file size
	DefaultSyncEvery       = 16                     // IoConvoy iterations per fdatasync
	DefaultHotIters        = 4096                   // IpcVariance multiply steps
	DefaultColdIters       = 256                    // IpcVariance dependent loads
	DefaultIpcCacheBytes   = 4 << 20                // IpcVariance cold working set
	DefaultIdleBurst       = time.Millisecond       // IdleChurn spin
	DefaultIdleSleep       = 5 * time.Millisecond   // IdleChurn sleep
	DefaultChurnPeriod     = 20 * time.Millisecond  // NumaMigrationChurn, CgroupChurn
	DefaultGroups          = 2                      // CgroupChurn sibling cgroups
	DefaultRTPriority      = 1                      // real-time roles
	DefaultAsymBurst       = 20_000                 // AsymmetricWaker waker's spin per hand-off
	DefaultDepth           = 4                      // WakeChain stages
	DefaultEpollProducers  = 1                      // EpollStorm
	DefaultEpollConsumers  = 2                      // EpollStorm
	DefaultEventsPerBurst  = 8                      // EpollStorm
	DefaultStormSleep      = time.Millisecond       // EpollStorm, ThunderingHerd, PreemptStorm pauses
	DefaultWaiters         = 4                      // ThunderingHerd
	DefaultSweepPeriod     = 100 * time.Millisecond // NumaWorkingSetSweep
	DefaultInversionHold   = 100_000                // PriorityInversion hold_iters
	DefaultInversionWork   = 10_000                 // PriorityInversion work_iters
	DefaultPCProducers     = 2                      // ProducerConsumerImbalance
	DefaultPCConsumers     = 1                      // ProducerConsumerImbalance
	DefaultRate            = 5000                   // ProducerConsumerImbalance items/s per producer
	DefaultConsumeIters    = 400_000                // ProducerConsumerImbalance work per item
	DefaultQueueDepth      = 64                     // ProducerConsumerImbalance
	DefaultSignals         = 4                      // SignalStorm
	DefaultCFSWorkers      = 2                      // PreemptStorm, RtStarvation
	DefaultRTWorkers       = 1                      // RtStarvation
	maxGroup               = 1024                   // largest group of any kind
	maxIters               = 1 << 30                // largest spin knob
	maxBytes               = 1 << 30                // largest memory knob
	maxPeriod              = time.Hour              // largest duration knob
	ioBlockBytes           = 4 << 10                // the I/O kinds' block
	maxInversionRTPriority = 97                     // PriorityInversion's low tier; +2 must stay <= 99
)

// kindKnobs lists the knobs (scenario-file names) each kind takes. A kind
// that is not listed takes none; Custom takes every knob.
var kindKnobs = map[WorkKind][]string{
	Bursty:          {"burst", "sleep"},
	PipeIo:          {"burst_iters"},
	FutexPingPong:   {"spin_iters"},
	CachePressure:   {"cache_bytes", "stride"},
	CacheYield:      {"cache_bytes", "stride"},
	CachePipe:       {"cache_bytes", "stride", "burst_iters"},
	FutexFanOut:     {"fan_out", "spin_iters"},
	Sequence:        {"phases"},
	AffinityChurn:   {"spin_iters"},
	PolicyChurn:     {"spin_iters"},
	FanOutCompute:   {"fan_out", "cache_bytes", "ops", "sleep"},
	PageFaultChurn:  {"region_bytes", "touches", "spin_iters"},
	MutexContention: {"contenders", "hold_iters", "work_iters"},
	Custom:          {"custom_name"},

	IoSyncWrite:               {"blocks"},
	IoRandRead:                {"file_bytes"},
	IoConvoy:                  {"file_bytes", "sync_every"},
	AluHot:                    {"spin_iters"},
	SmtSiblingSpin:            {"spin_iters"},
	IpcVariance:               {"hot_iters", "cold_iters", "cache_bytes"},
	IdleChurn:                 {"burst", "sleep"},
	NumaMigrationChurn:        {"spin_iters", "period"},
	CgroupChurn:               {"spin_iters", "period", "groups"},
	AsymmetricWaker:           {"waker_class", "wakee_class", "rt_priority", "burst_iters"},
	WakeChain:                 {"depth", "wake", "work_iters"},
	EpollStorm:                {"producers", "consumers", "events_per_burst", "sleep", "spin_iters"},
	ThunderingHerd:            {"waiters", "sleep", "spin_iters"},
	NumaWorkingSetSweep:       {"region_bytes", "period", "nodes"},
	PriorityInversion:         {"high", "medium", "low", "hold_iters", "work_iters", "rt_priority", "pi"},
	ProducerConsumerImbalance: {"producers", "consumers", "rate", "work_iters", "queue_depth"},
	SignalStorm:               {"signals", "work_iters"},
	PreemptStorm:              {"cfs_workers", "burst_iters", "sleep", "rt_priority"},
	RtStarvation:              {"rt_workers", "cfs_workers", "burst_iters", "rt_priority"},
}

// Knobs returns the knobs (scenario-file names of WorkType fields) that
// kind k takes; Custom's function may read every knob, but only
// custom_name is its own.
func (k WorkKind) Knobs() []string {
	if k == "" || k == SpinWait {
		k = CpuSpin
	}
	return slices.Clone(kindKnobs[k])
}

// ThreadCapable reports whether kind k can run as thread workers
// (CloneThread).
func (k WorkKind) ThreadCapable() bool { return k != CgroupChurn }

// ownPolicy lists the kinds that set their roles' scheduling policies
// themselves, so that WorkloadConfig.SchedPolicy would contradict them.
var ownPolicy = []WorkKind{AsymmetricWaker, PriorityInversion, PreemptStorm, RtStarvation}

// addedKindDefaults fills the defaults of the added kinds (WithDefaults).
func (t WorkType) addedKindDefaults() WorkType {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	switch t.Kind {
	case IoSyncWrite:
		def(&t.Blocks, DefaultBlocks)
	case IoRandRead:
		def(&t.FileBytes, DefaultFileBytes)
	case IoConvoy:
		def(&t.FileBytes, DefaultFileBytes)
		def(&t.SyncEvery, DefaultSyncEvery)
	case AluHot, SmtSiblingSpin:
		def(&t.SpinIters, DefaultSpinIters)
	case IpcVariance:
		def(&t.HotIters, DefaultHotIters)
		def(&t.ColdIters, DefaultColdIters)
		def(&t.CacheBytes, DefaultIpcCacheBytes)
	case IdleChurn:
		defDur(&t.Burst, DefaultIdleBurst)
		defDur(&t.Sleep, DefaultIdleSleep)
	case NumaMigrationChurn:
		def(&t.SpinIters, DefaultSpinIters)
		defDur(&t.Period, DefaultChurnPeriod)
	case CgroupChurn:
		def(&t.SpinIters, DefaultSpinIters)
		defDur(&t.Period, DefaultChurnPeriod)
		def(&t.Groups, DefaultGroups)
	case AsymmetricWaker:
		if t.WakerClass == "" && t.WakeeClass == "" {
			t.WakerClass = PolicyFIFO
		}
		if t.WakerClass.realTime() || t.WakeeClass.realTime() {
			def(&t.RTPriority, DefaultRTPriority)
		}
		def(&t.BurstIters, DefaultAsymBurst)
	case WakeChain:
		def(&t.Depth, DefaultDepth)
		if t.Wake == "" {
			t.Wake = WakePipe
		}
		def(&t.WorkIters, DefaultWorkIters)
	case EpollStorm:
		def(&t.Producers, DefaultEpollProducers)
		def(&t.Consumers, DefaultEpollConsumers)
		def(&t.EventsPerBurst, DefaultEventsPerBurst)
		defDur(&t.Sleep, DefaultStormSleep)
		def(&t.SpinIters, DefaultSpinIters)
	case ThunderingHerd:
		def(&t.Waiters, DefaultWaiters)
		defDur(&t.Sleep, DefaultStormSleep)
		def(&t.SpinIters, DefaultSpinIters)
	case NumaWorkingSetSweep:
		def(&t.RegionBytes, DefaultRegionBytes)
		defDur(&t.Period, DefaultSweepPeriod)
	case PriorityInversion:
		def(&t.High, 1)
		def(&t.Medium, 1)
		def(&t.Low, 1)
		def(&t.HoldIters, DefaultInversionHold)
		def(&t.WorkIters, DefaultInversionWork)
	case ProducerConsumerImbalance:
		def(&t.Producers, DefaultPCProducers)
		def(&t.Consumers, DefaultPCConsumers)
		def(&t.Rate, DefaultRate)
		def(&t.WorkIters, DefaultConsumeIters)
		def(&t.QueueDepth, DefaultQueueDepth)
	case SignalStorm:
		def(&t.Signals, DefaultSignals)
		def(&t.WorkIters, DefaultWorkIters)
	case PreemptStorm:
		def(&t.CFSWorkers, DefaultCFSWorkers)
		def(&t.BurstIters, DefaultBurstIters)
		defDur(&t.Sleep, DefaultStormSleep)
		def(&t.RTPriority, DefaultRTPriority)
	case RtStarvation:
		def(&t.RTWorkers, DefaultRTWorkers)
		def(&t.CFSWorkers, DefaultCFSWorkers)
		def(&t.BurstIters, DefaultBurstIters)
		def(&t.RTPriority, DefaultRTPriority)
	}
	return t
}

// addedKindGroupSize is GroupSize for the added kinds (1 for the others);
// t has its defaults.
func (t WorkType) addedKindGroupSize() int {
	switch t.Kind {
	case SmtSiblingSpin, AsymmetricWaker, SignalStorm:
		return 2
	case WakeChain:
		return t.Depth
	case EpollStorm, ProducerConsumerImbalance:
		return t.Producers + t.Consumers
	case ThunderingHerd:
		return t.Waiters + 1
	case PriorityInversion:
		return t.High + t.Medium + t.Low
	case PreemptStorm:
		return t.CFSWorkers + 1
	case RtStarvation:
		return t.RTWorkers + t.CFSWorkers
	}
	return 1
}

func (p PolicyClass) realTime() bool { return p == PolicyFIFO || p == PolicyRoundRobin }

// knobRange is the allowed range of an integer knob once defaults are
// applied.
type knobRange struct{ min, max int64 }

var intKnobRanges = map[string]knobRange{
	"spin_iters": {1, maxIters}, "burst_iters": {1, maxIters}, "work_iters": {1, maxIters},
	"hold_iters": {1, maxIters}, "hot_iters": {1, maxIters}, "cold_iters": {1, maxIters},
	"cache_bytes": {64, maxBytes}, "stride": {1, 1 << 20}, "fan_out": {1, maxGroup - 1},
	"ops": {1, 1 << 20}, "region_bytes": {4096, maxBytes}, "touches": {1, 1 << 24},
	"contenders": {2, maxGroup},
	"blocks":     {1, 1024}, "file_bytes": {2 * ioBlockBytes, maxBytes}, "sync_every": {1, 1 << 20},
	"groups": {1, 16}, "rt_priority": {1, 99}, "depth": {2, 64},
	"producers": {1, 64}, "consumers": {1, 64}, "events_per_burst": {1, 1 << 20},
	"waiters": {1, maxGroup - 1}, "high": {1, 64}, "medium": {1, 64}, "low": {1, 64},
	"rate": {1, 1_000_000}, "queue_depth": {1, 1 << 16}, "signals": {1, 1 << 16},
	"rt_workers": {1, maxGroup}, "cfs_workers": {1, maxGroup},
}

// knobField returns the WorkType field whose scenario-file name is name.
func knobField(name string) (reflect.StructField, bool) {
	t := reflect.TypeFor[WorkType]()
	for i := range t.NumField() {
		if f := t.Field(i); tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	return strings.Split(f.Tag.Get("yaml"), ",")[0]
}

// setKnobs returns the names of t's non-zero knobs, in field order.
func (t WorkType) setKnobs() []string {
	v := reflect.ValueOf(t)
	var out []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if name := tagName(f); name != "kind" && !v.Field(i).IsZero() {
			out = append(out, name)
		}
	}
	return out
}

// validateKnobs checks c's work type after defaults: no knob its kind does
// not take, every integer and duration knob in range, enumerations, and
// the combinations the added kinds forbid. Paths are relative to the
// workload.
func (c WorkloadConfig) validateKnobs() error {
	t := c.WorkType // defaults applied by Validate
	raw := t
	takes := kindKnobs[t.Kind]
	if t.Kind != Custom {
		for _, k := range t.setKnobs() {
			if !slices.Contains(takes, k) {
				own := "none"
				if len(takes) > 0 {
					own = strings.Join(takes, ", ")
				}
				return invalid("work_type."+k, "%s does not take %s (its knobs: %s)", t.Kind, k, own)
			}
		}
	}
	for _, k := range takes {
		f, ok := knobField(k)
		if !ok {
			continue
		}
		fv := reflect.ValueOf(raw).FieldByIndex(f.Index)
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			d := time.Duration(fv.Int())
			if d < 0 || d > maxPeriod {
				return invalid("work_type."+k, "%v: allowed 0 (the default) to %v", d, maxPeriod)
			}
		case fv.Kind() == reflect.Int:
			r, ok := intKnobRanges[k]
			if !ok {
				continue
			}
			n := fv.Int()
			if n == 0 && defaultOf(t, k) == "" {
				continue // zero means off for this kind (rt_priority: no real-time role)
			}
			if n < r.min || n > r.max {
				return invalid("work_type."+k, "%d: allowed %d..%d (0 means the default%s)", n, r.min, r.max, defaultOf(t, k))
			}
		}
	}
	switch t.Kind {
	case IoRandRead, IoConvoy:
		if t.FileBytes%ioBlockBytes != 0 {
			return invalid("work_type.file_bytes", "%d: must be a multiple of %d", t.FileBytes, ioBlockBytes)
		}
	case IdleChurn:
		if t.Burst == 0 && t.Sleep == 0 {
			return invalid("work_type.burst/sleep", "both zero")
		}
	case NumaMigrationChurn, CgroupChurn:
		if t.Period < time.Millisecond {
			return invalid("work_type.period", "%v: allowed 1ms to %v", t.Period, maxPeriod)
		}
	case AsymmetricWaker:
		for _, r := range []struct {
			name string
			p    PolicyClass
		}{{"waker_class", t.WakerClass}, {"wakee_class", t.WakeeClass}} {
			switch r.p {
			case PolicyNormal, PolicyBatch, PolicyIdle, PolicyFIFO, PolicyRoundRobin:
			default:
				return invalid("work_type."+r.name, "%q: allowed: \"\" (normal), batch, idle, fifo, rr", r.p)
			}
		}
		if t.RTPriority != 0 && !t.WakerClass.realTime() && !t.WakeeClass.realTime() {
			return invalid("work_type.rt_priority", "%d: only a fifo or rr waker_class/wakee_class takes a priority", t.RTPriority)
		}
		if t.WakerClass == t.WakeeClass {
			return invalid("work_type.wakee_class", "%q: same class as waker_class; AsymmetricWaker needs two classes (use FutexPingPong for one)", t.WakeeClass)
		}
	case WakeChain:
		if t.Wake != WakePipe && t.Wake != WakeFutex {
			return invalid("work_type.wake", "%q: allowed: pipe, futex", t.Wake)
		}
	case NumaWorkingSetSweep:
		if t.Period < time.Millisecond {
			return invalid("work_type.period", "%v: allowed 1ms to %v", t.Period, maxPeriod)
		}
		for i, n := range t.Nodes {
			if n < 0 || n >= MaxNodes {
				return invalid(fmt.Sprintf("work_type.nodes[%d]", i), "node %d: allowed 0..%d", n, MaxNodes-1)
			}
		}
	case PriorityInversion:
		if t.RTPriority > maxInversionRTPriority {
			return invalid("work_type.rt_priority", "%d: allowed 1..%d (the tiers use rt_priority+2; 0 means nice tiers)", t.RTPriority, maxInversionRTPriority)
		}
		if c.Nice != 0 {
			return invalid("nice", "%d: PriorityInversion sets each tier's nice value itself (use 0)", c.Nice)
		}
	}
	if slices.Contains(ownPolicy, t.Kind) && c.SchedPolicy.Class != PolicyNormal {
		return invalid("sched_policy.class", "%q: %s sets its roles' scheduling policies itself (use its knobs, leave sched_policy empty)", c.SchedPolicy.Class, t.Kind)
	}
	if c.CloneMode == CloneThread && !t.Kind.ThreadCapable() {
		return invalid("clone_mode", "%q: %s runs as process workers only (a thread cannot move between domain cgroups alone)", c.CloneMode, t.Kind)
	}
	if g := t.GroupSize(); g > maxGroup {
		return invalid("work_type", "%s group of %d workers: at most %d", t.Kind, g, maxGroup)
	}
	return nil
}

// defaultOf renders ", N" for knob k of t when the knob has a default
// given t's other knobs, for error messages; "" when zero is its default.
func defaultOf(t WorkType, k string) string {
	f, ok := knobField(k)
	if !ok {
		return ""
	}
	d := reflect.ValueOf(&t).Elem()
	d.FieldByIndex(f.Index).SetZero()
	v := reflect.ValueOf(t.WithDefaults()).FieldByIndex(f.Index)
	if v.IsZero() {
		return ""
	}
	return fmt.Sprintf(", %v", v.Interface())
}
