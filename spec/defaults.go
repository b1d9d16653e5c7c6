package spec

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/internal/suggest"
)

// Defaults of the work-type parameters (a zero WorkType field means these).
const (
	DefaultSpinIters        = 1024                   // FutexPingPong, FutexFanOut, AffinityChurn, PolicyChurn
	DefaultPageFaultSpin    = 64                     // PageFaultChurn spin between touches
	DefaultBurstIters       = 1024                   // PipeIo, CachePipe
	DefaultBurst            = 50 * time.Millisecond  // Bursty on time
	DefaultSleep            = 100 * time.Millisecond // Bursty off time
	DefaultFanOutSleep      = 100 * time.Microsecond // FanOutCompute messenger pause
	DefaultCacheBytes       = 32 << 10               // CachePressure, CacheYield, CachePipe
	DefaultStride           = 64                     // cache walk stride
	DefaultFanOutCacheBytes = 256 << 10              // FanOutCompute matrix size
	DefaultFanOut           = 4                      // FutexFanOut, FanOutCompute receivers
	DefaultOps              = 5                      // FanOutCompute matrix ops per wake
	DefaultRegionBytes      = 4 << 20                // PageFaultChurn region
	DefaultTouches          = 256                    // PageFaultChurn touches per iteration
	DefaultContenders       = 4                      // MutexContention group size
	DefaultHoldIters        = 256                    // MutexContention critical section
	DefaultWorkIters        = 1024                   // MutexContention work outside the lock
)

// DefaultPhases are the Sequence phases used when WorkType.Phases is empty.
func DefaultPhases() []Phase {
	return []Phase{
		{Kind: PhaseSpin, Duration: 20 * time.Millisecond},
		{Kind: PhaseSleep, Duration: 10 * time.Millisecond},
		{Kind: PhaseYield, Duration: 5 * time.Millisecond},
		{Kind: PhaseIo, Duration: 5 * time.Millisecond},
	}
}

// allKinds lists every work kind, in the order of REFERENCE.md.
var allKinds = []WorkKind{
	CpuSpin, YieldHeavy, Mixed, IoSync, Bursty, PipeIo, FutexPingPong,
	CachePressure, CacheYield, CachePipe, FutexFanOut, Sequence, ForkExit,
	NiceSweep, AffinityChurn, PolicyChurn, FanOutCompute, PageFaultChurn,
	MutexContention,
	// ktstr 0.5.2's additions (worktypes.go).
	IoSyncWrite, IoRandRead, IoConvoy, AluHot, SmtSiblingSpin, IpcVariance,
	IdleChurn, NumaMigrationChurn, CgroupChurn, AsymmetricWaker, WakeChain,
	EpollStorm, ThunderingHerd, NumaWorkingSetSweep, PriorityInversion,
	ProducerConsumerImbalance, SignalStorm, PreemptStorm, RtStarvation,
	Custom,
}

// WorkKinds returns every work kind.
func WorkKinds() []WorkKind { return slices.Clone(allKinds) }

// Valid reports whether k is a known work kind (the empty kind means CpuSpin
// and is valid).
func (k WorkKind) Valid() bool { return k == "" || k == SpinWait || slices.Contains(allKinds, k) }

// ParseWorkKind returns the work kind called name. Matching ignores case,
// '_' and '-' ("cpu_spin" is CpuSpin). An unknown name gets an error listing
// the allowed names and, when one is close, a "did you mean" suggestion.
func ParseWorkKind(name string) (WorkKind, error) {
	norm := normalizeKind(name)
	if norm == normalizeKind(string(SpinWait)) {
		return CpuSpin, nil
	}
	best, bestDist := WorkKind(""), 1<<30
	for _, k := range allKinds {
		n := normalizeKind(string(k))
		if n == norm {
			return k, nil
		}
		if d := suggest.Distance(norm, n); d < bestDist {
			best, bestDist = k, d
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "unknown kind %q", name)
	if norm != "" && bestDist <= max(2, len(norm)/3) {
		fmt.Fprintf(&b, " (did you mean %s?)", best)
	}
	b.WriteString("; allowed: ")
	for i, k := range allKinds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return "", &ValidationError{Path: "work_type.kind", Msg: b.String()}
}

func normalizeKind(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("_", "", "-", "", " ", "").Replace(s)
}

// WithDefaults returns t with every zero parameter that applies to its kind
// replaced by the kind's default.
func (t WorkType) WithDefaults() WorkType {
	if t.Kind == "" || t.Kind == SpinWait {
		t.Kind = CpuSpin
	}
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
	case Bursty:
		defDur(&t.Burst, DefaultBurst)
		defDur(&t.Sleep, DefaultSleep)
	case PipeIo:
		def(&t.BurstIters, DefaultBurstIters)
	case FutexPingPong, AffinityChurn, PolicyChurn:
		def(&t.SpinIters, DefaultSpinIters)
	case CachePressure, CacheYield:
		def(&t.CacheBytes, DefaultCacheBytes)
		def(&t.Stride, DefaultStride)
	case CachePipe:
		def(&t.CacheBytes, DefaultCacheBytes)
		def(&t.Stride, DefaultStride)
		def(&t.BurstIters, DefaultBurstIters)
	case FutexFanOut:
		def(&t.FanOut, DefaultFanOut)
		def(&t.SpinIters, DefaultSpinIters)
	case FanOutCompute:
		def(&t.FanOut, DefaultFanOut)
		def(&t.CacheBytes, DefaultFanOutCacheBytes)
		def(&t.Ops, DefaultOps)
		defDur(&t.Sleep, DefaultFanOutSleep)
	case PageFaultChurn:
		def(&t.RegionBytes, DefaultRegionBytes)
		def(&t.Touches, DefaultTouches)
		def(&t.SpinIters, DefaultPageFaultSpin)
	case MutexContention:
		def(&t.Contenders, DefaultContenders)
		def(&t.HoldIters, DefaultHoldIters)
		def(&t.WorkIters, DefaultWorkIters)
	case Sequence:
		if len(t.Phases) == 0 {
			t.Phases = DefaultPhases()
		}
	default:
		t = t.addedKindDefaults()
	}
	return t
}

// GroupSize is the number of workers that cooperate in one group: 2 for
// PipeIo, CachePipe and FutexPingPong, FanOut+1 for FutexFanOut and
// FanOutCompute, Contenders for MutexContention, 1 otherwise. NumWorkers
// must be a multiple of it.
func (t WorkType) GroupSize() int {
	t = t.WithDefaults()
	switch t.Kind {
	case PipeIo, CachePipe, FutexPingPong:
		return 2
	case FutexFanOut, FanOutCompute:
		return t.FanOut + 1
	case MutexContention:
		return t.Contenders
	}
	return t.addedKindGroupSize()
}

// WithDefaults returns c with its WorkType defaults filled in. NumWorkers
// is left alone: zero is an error, not a default.
func (c WorkloadConfig) WithDefaults() WorkloadConfig {
	c.WorkType = c.WorkType.WithDefaults()
	return c
}

// Validate checks c (after defaults) and returns a *ValidationError naming
// the first bad field (relative to the workload), its value and the allowed
// values. Whether a Custom work type's name is registered is for the
// worker runtime to say (workload.Spawn), not for the definition.
func (c WorkloadConfig) Validate() error {
	c = c.WithDefaults()
	t := c.WorkType
	if c.NumWorkers < 1 {
		return invalid("num_workers", "%d: must be >= 1", c.NumWorkers)
	}
	if !t.Kind.Valid() {
		_, err := ParseWorkKind(string(t.Kind))
		return err
	}
	if err := c.validateKnobs(); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		v    int
	}{
		{"spin_iters", t.SpinIters}, {"burst_iters", t.BurstIters},
		{"cache_bytes", t.CacheBytes}, {"stride", t.Stride}, {"fan_out", t.FanOut},
		{"ops", t.Ops}, {"region_bytes", t.RegionBytes}, {"touches", t.Touches},
		{"contenders", t.Contenders}, {"hold_iters", t.HoldIters}, {"work_iters", t.WorkIters},
	} {
		if p.v < 0 {
			return invalid(fmt.Sprintf("work_type.%s", p.name), "%d: must be >= 0 (0 means the default)", p.v)
		}
	}
	if t.Burst < 0 || t.Sleep < 0 {
		return invalid("work_type.burst/sleep", "%v/%v: must be >= 0", t.Burst, t.Sleep)
	}
	if t.Kind == MutexContention && t.Contenders < 2 {
		return invalid("work_type.contenders", "%d: must be >= 2", t.Contenders)
	}
	if (t.Kind == CachePressure || t.Kind == CacheYield || t.Kind == CachePipe) && t.Stride > t.CacheBytes {
		return invalid("work_type.stride", "%d: must be <= cache_bytes (%d)", t.Stride, t.CacheBytes)
	}
	if g := t.GroupSize(); c.NumWorkers%g != 0 {
		return invalid("num_workers", "%d: %s needs a multiple of its group size %d (e.g. %d)",
			c.NumWorkers, t.Kind, g, (c.NumWorkers/g+1)*g)
	}
	if t.Kind == Sequence {
		for i, p := range t.Phases {
			switch p.Kind {
			case PhaseSpin, PhaseSleep, PhaseYield, PhaseIo:
			default:
				return invalid(fmt.Sprintf("work_type.phases[%d].kind", i), "%q: allowed: spin, sleep, yield, io", p.Kind)
			}
			if p.Duration <= 0 {
				return invalid(fmt.Sprintf("work_type.phases[%d].duration", i), "%v: must be > 0", p.Duration)
			}
		}
	}
	if t.Kind == Custom {
		if t.CustomName == "" {
			return invalid("work_type.custom_name", "empty: Custom needs a name registered with RegisterCustom")
		}
	}
	if err := c.Affinity.validate(); err != nil {
		return err
	}
	switch c.SchedPolicy.Class {
	case PolicyNormal, PolicyBatch, PolicyIdle:
		if c.SchedPolicy.Priority != 0 {
			return invalid("sched_policy.priority", "%d: only fifo and rr take a priority (use 0)", c.SchedPolicy.Priority)
		}
	case PolicyFIFO, PolicyRoundRobin:
		if p := c.SchedPolicy.Priority; p < 1 || p > 99 {
			return invalid("sched_policy.priority", "%d: %s needs 1-99", p, c.SchedPolicy.Class)
		}
	default:
		return invalid("sched_policy.class", "%q: allowed: \"\" (normal), batch, idle, fifo, rr", c.SchedPolicy.Class)
	}
	if c.Nice < -20 || c.Nice > 19 {
		return invalid("nice", "%d: allowed -20..19", c.Nice)
	}
	switch c.CloneMode {
	case CloneProcess, CloneThread:
	default:
		return invalid("clone_mode", "%q: allowed: \"\" (process), thread", c.CloneMode)
	}
	return c.MemPolicy.validate()
}

func (a Affinity) validate() error {
	checkCPUs := func(field string, cpus []int) error {
		if len(cpus) == 0 {
			return invalid(fmt.Sprintf("affinity.%s", field), "empty cpu set: give at least one cpu")
		}
		for _, c := range cpus {
			if c < 0 || c >= maxCPUs {
				return invalid(fmt.Sprintf("affinity.%s", field), "cpu %d: allowed 0..%d", c, maxCPUs-1)
			}
		}
		return nil
	}
	switch a.Kind {
	case AffinityInherit:
		return nil
	case AffinityFixed:
		return checkCPUs("cpus", a.CPUs)
	case AffinityRandom:
		if err := checkCPUs("from", a.From); err != nil {
			return err
		}
		if a.Count < 1 || a.Count > len(a.From) {
			return invalid("affinity.count", "%d: allowed 1..%d (len(from))", a.Count, len(a.From))
		}
		return nil
	case AffinitySingle:
		if a.CPU < 0 || a.CPU >= maxCPUs {
			return invalid("affinity.cpu", "%d: allowed 0..%d", a.CPU, maxCPUs-1)
		}
		return nil
	}
	return invalid("affinity.kind", "%q: allowed: \"\" (inherit), fixed, random, single", a.Kind)
}

func (m MemPolicy) validate() error {
	for _, f := range m.Flags {
		switch f {
		case MemFlagStaticNodes, MemFlagRelativeNodes, MemFlagNumaBalancing:
		default:
			return invalid("mem_policy.flags", "%q: allowed: static_nodes, relative_nodes, numa_balancing", f)
		}
	}
	if slices.Contains(m.Flags, MemFlagStaticNodes) && slices.Contains(m.Flags, MemFlagRelativeNodes) {
		return invalid("mem_policy.flags", "static_nodes and relative_nodes exclude each other")
	}
	for _, n := range m.Nodes {
		if n < 0 || n >= MaxNodes {
			return invalid("mem_policy.nodes", "node %d: allowed 0..%d", n, MaxNodes-1)
		}
	}
	switch m.Mode {
	case MemDefault, MemLocal:
		if len(m.Nodes) != 0 {
			return invalid("mem_policy.nodes", "%v: mode %q takes no nodes", m.Nodes, m.Mode)
		}
	case MemPreferred:
		if len(m.Nodes) != 1 {
			return invalid("mem_policy.nodes", "%v: preferred takes exactly one node", m.Nodes)
		}
	case MemBind, MemInterleave, MemPreferredMany, MemWeightedInterleave:
		if len(m.Nodes) == 0 {
			return invalid("mem_policy.nodes", "empty: mode %q needs at least one node", m.Mode)
		}
	default:
		return invalid("mem_policy.mode", "%q: allowed: \"\" (default), bind, preferred, interleave, local, preferred_many, weighted_interleave", m.Mode)
	}
	return nil
}

// Limits of cpu and node numbers accepted in a config.
const (
	maxCPUs = 8192
	// MaxNodes bounds NUMA node numbers in configs and reports.
	MaxNodes = 1024
)
