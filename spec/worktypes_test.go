package spec

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// addedKinds are the kinds of ktstr 0.5.2's set.
var addedKinds = []WorkKind{
	IoSyncWrite, IoRandRead, IoConvoy, AluHot, SmtSiblingSpin, IpcVariance,
	IdleChurn, NumaMigrationChurn, CgroupChurn, AsymmetricWaker, WakeChain,
	EpollStorm, ThunderingHerd, NumaWorkingSetSweep, PriorityInversion,
	ProducerConsumerImbalance, SignalStorm, PreemptStorm, RtStarvation,
}

func TestAddedKindsDefaultsValid(t *testing.T) {
	for _, k := range addedKinds {
		if !slices.Contains(WorkKinds(), k) {
			t.Errorf("%s missing from WorkKinds", k)
		}
		wt := WorkType{Kind: k}
		g := wt.GroupSize()
		if g < 1 {
			t.Errorf("%s: group size %d", k, g)
			continue
		}
		for _, mode := range []CloneMode{CloneProcess, CloneThread} {
			err := WorkloadConfig{NumWorkers: 2 * g, WorkType: wt, CloneMode: mode}.Validate()
			if want := mode == CloneProcess || k.ThreadCapable(); (err == nil) != want {
				t.Errorf("%s/%q: Validate = %v, want valid %v", k, mode, err, want)
			}
		}
		// Every knob a kind takes has a default or accepts zero, and
		// the defaults stay when WithDefaults runs twice.
		d := wt.WithDefaults()
		if !reflect.DeepEqual(d, d.WithDefaults()) {
			t.Errorf("%s: WithDefaults is not idempotent", k)
		}
		for _, knob := range d.setKnobs() {
			if !slices.Contains(k.Knobs(), knob) {
				t.Errorf("%s: default sets %s, which it does not take", k, knob)
			}
		}
	}
}

// Every knob named in kindKnobs is a WorkType field, and every WorkType
// field but kind is some kind's knob: a field added without saying which
// kind takes it fails here.
func TestKnobTable(t *testing.T) {
	taken := map[string]bool{}
	for k, knobs := range kindKnobs {
		for _, n := range knobs {
			if _, ok := knobField(n); !ok {
				t.Errorf("%s takes %q, which is no WorkType field", k, n)
			}
			taken[n] = true
		}
	}
	ty := reflect.TypeFor[WorkType]()
	for i := range ty.NumField() {
		if n := tagName(ty.Field(i)); n != "kind" && !taken[n] {
			t.Errorf("WorkType field %s (%s) is taken by no kind", ty.Field(i).Name, n)
		}
	}
}

func TestAddedKindsValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  WorkloadConfig
		want string // substring of the error; "" means valid
	}{
		{"knob not taken", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: CpuSpin, Waiters: 3}}, "work_type.waiters: CpuSpin does not take waiters (its knobs: none)"},
		{"knob of another kind", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: WakeChain, Depth: 2, FanOut: 3}}, "work_type.fan_out: WakeChain does not take fan_out (its knobs: depth, wake, work_iters)"},
		{"custom takes all", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: Custom, CustomName: "x", Waiters: 3}}, ""},
		{"blocks range", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: IoSyncWrite, Blocks: 5000}}, "work_type.blocks: 5000: allowed 1..1024 (0 means the default, 16)"},
		{"blocks negative", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: IoSyncWrite, Blocks: -1}}, "work_type.blocks: -1: allowed 1..1024"},
		{"file bytes align", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: IoRandRead, FileBytes: 10000}}, "work_type.file_bytes: 10000: must be a multiple of 4096"},
		{"file bytes small", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: IoConvoy, FileBytes: 4096}}, "work_type.file_bytes: 4096: allowed 8192.."},
		{"sync every", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: IoConvoy, SyncEvery: -3}}, "work_type.sync_every: -3"},
		{"period short", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: CgroupChurn, Period: time.Microsecond}}, "work_type.period: 1µs: allowed 1ms"},
		{"period long", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: NumaMigrationChurn, Period: 2 * time.Hour}}, "work_type.period: 2h0m0s: allowed 0 (the default) to 1h0m0s"},
		{"groups", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: CgroupChurn, Groups: 17}}, "work_type.groups: 17: allowed 1..16"},
		{"cgroup churn thread", WorkloadConfig{NumWorkers: 1, CloneMode: CloneThread, WorkType: WorkType{Kind: CgroupChurn}}, `clone_mode: "thread": CgroupChurn runs as process workers only`},
		{"waker class", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: AsymmetricWaker, WakerClass: "deadline"}}, `work_type.waker_class: "deadline": allowed`},
		{"same classes", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: AsymmetricWaker, WakerClass: PolicyBatch, WakeeClass: PolicyBatch}}, "work_type.wakee_class"},
		{"asym priority without rt", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: AsymmetricWaker, WakerClass: PolicyBatch, RTPriority: 5}}, "work_type.rt_priority: 5: only a fifo or rr"},
		{"asym normal/idle", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: AsymmetricWaker, WakeeClass: PolicyIdle}}, ""},
		{"asym sched policy", WorkloadConfig{NumWorkers: 2, SchedPolicy: SchedPolicy{Class: PolicyBatch}, WorkType: WorkType{Kind: AsymmetricWaker}}, `sched_policy.class: "batch": AsymmetricWaker sets its roles' scheduling policies itself`},
		{"rt priority", WorkloadConfig{NumWorkers: 3, WorkType: WorkType{Kind: RtStarvation, RTPriority: 100}}, "work_type.rt_priority: 100: allowed 1..99"},
		{"depth", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: WakeChain, Depth: 1}}, "work_type.depth: 1: allowed 2..64"},
		{"depth group", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: WakeChain, Depth: 3}}, "num_workers: 4: WakeChain needs a multiple of its group size 3 (e.g. 6)"},
		{"wake", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: WakeChain, Wake: "signal"}}, `work_type.wake: "signal": allowed: pipe, futex`},
		{"wake futex", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: WakeChain, Wake: WakeFutex}}, ""},
		{"epoll group", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: EpollStorm, Producers: 2, Consumers: 2}}, ""},
		{"epoll consumers", WorkloadConfig{NumWorkers: 3, WorkType: WorkType{Kind: EpollStorm, Consumers: 65}}, "work_type.consumers: 65: allowed 1..64"},
		{"herd", WorkloadConfig{NumWorkers: 5, WorkType: WorkType{Kind: ThunderingHerd, Waiters: 3}}, "num_workers: 5: ThunderingHerd needs a multiple of its group size 4"},
		{"nodes", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: NumaWorkingSetSweep, Nodes: []int{0, 2000}}}, "work_type.nodes[1]: node 2000: allowed 0..1023"},
		{"inversion prio", WorkloadConfig{NumWorkers: 3, WorkType: WorkType{Kind: PriorityInversion, RTPriority: 98}}, "work_type.rt_priority: 98: allowed 1..97"},
		{"inversion nice", WorkloadConfig{NumWorkers: 3, Nice: 5, WorkType: WorkType{Kind: PriorityInversion}}, "nice: 5: PriorityInversion sets each tier's nice value itself"},
		{"inversion pi", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: PriorityInversion, High: 2, PI: true}}, ""},
		{"pi elsewhere", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: CpuSpin, PI: true}}, "work_type.pi: CpuSpin does not take pi"},
		{"rate", WorkloadConfig{NumWorkers: 3, WorkType: WorkType{Kind: ProducerConsumerImbalance, Rate: 2_000_000}}, "work_type.rate: 2000000: allowed 1..1000000"},
		{"queue depth", WorkloadConfig{NumWorkers: 3, WorkType: WorkType{Kind: ProducerConsumerImbalance, QueueDepth: -1}}, "work_type.queue_depth: -1"},
		{"signals", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: SignalStorm, Signals: 1 << 20}}, "work_type.signals: 1048576: allowed 1..65536"},
		{"preempt group", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: PreemptStorm, CFSWorkers: 3}}, ""},
		{"preempt sleep", WorkloadConfig{NumWorkers: 3, WorkType: WorkType{Kind: PreemptStorm, Sleep: -time.Second}}, "work_type.sleep: -1s"},
		{"rt group too big", WorkloadConfig{NumWorkers: 2048, WorkType: WorkType{Kind: RtStarvation, RTWorkers: 1024, CFSWorkers: 1024}}, "RtStarvation group of 2048 workers: at most 1024"},
		{"idle churn", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: IdleChurn, Sleep: time.Millisecond}}, ""},
		{"alias", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: SpinWait}}, ""},
		{"alu hot iters", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: AluHot, SpinIters: maxIters + 1}}, "work_type.spin_iters: 1073741825: allowed 1..1073741824"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tt.want)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("error %T is not a *ValidationError", err)
			}
		})
	}
}

// A bad knob deep in a scenario is reported with the workload's full path.
func TestAddedKindPathInScenario(t *testing.T) {
	s := Scenario{Name: "x", Cgroups: []Cgroup{{Name: "a", Workloads: []WorkloadConfig{
		{NumWorkers: 1},
		{NumWorkers: 5, WorkType: WorkType{Kind: ThunderingHerd, Waiters: 4, Depth: 2}},
	}}}}
	err := s.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Path != "cgroups[0].workloads[1].work_type.depth" {
		t.Fatalf("Validate: %v, want a *ValidationError at cgroups[0].workloads[1].work_type.depth", err)
	}
}

func TestSpinWaitAlias(t *testing.T) {
	k, err := ParseWorkKind("spin_wait")
	if err != nil || k != CpuSpin {
		t.Errorf("ParseWorkKind(spin_wait) = %q, %v; want CpuSpin", k, err)
	}
	if got := (WorkType{Kind: SpinWait}).WithDefaults().Kind; got != CpuSpin {
		t.Errorf("WithDefaults of SpinWait: kind %q, want CpuSpin", got)
	}
	if slices.Contains(WorkKinds(), SpinWait) {
		t.Error("WorkKinds lists the alias SpinWait")
	}
}

func TestAddedGroupSizes(t *testing.T) {
	for _, tt := range []struct {
		wt   WorkType
		want int
	}{
		{WorkType{Kind: SmtSiblingSpin}, 2},
		{WorkType{Kind: AsymmetricWaker}, 2},
		{WorkType{Kind: SignalStorm}, 2},
		{WorkType{Kind: WakeChain}, DefaultDepth},
		{WorkType{Kind: WakeChain, Depth: 7}, 7},
		{WorkType{Kind: EpollStorm}, DefaultEpollProducers + DefaultEpollConsumers},
		{WorkType{Kind: ThunderingHerd, Waiters: 9}, 10},
		{WorkType{Kind: PriorityInversion, High: 2, Medium: 3, Low: 4}, 9},
		{WorkType{Kind: ProducerConsumerImbalance}, DefaultPCProducers + DefaultPCConsumers},
		{WorkType{Kind: PreemptStorm}, DefaultCFSWorkers + 1},
		{WorkType{Kind: RtStarvation, RTWorkers: 2, CFSWorkers: 1}, 3},
		{WorkType{Kind: IoConvoy}, 1},
		{WorkType{Kind: CgroupChurn}, 1},
	} {
		if got := tt.wt.GroupSize(); got != tt.want {
			t.Errorf("%+v: GroupSize %d, want %d", tt.wt, got, tt.want)
		}
	}
}
