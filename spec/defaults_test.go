package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  WorkloadConfig
		want string // substring of the error; "" means valid
	}{
		{"zero-value+1", WorkloadConfig{NumWorkers: 1}, ""},
		{"zero workers", WorkloadConfig{}, "num_workers: 0: must be >= 1"},
		{"negative workers", WorkloadConfig{NumWorkers: -2}, "num_workers: -2"},
		{"pipe odd", WorkloadConfig{NumWorkers: 3, WorkType: WorkType{Kind: PipeIo}}, "num_workers: 3: PipeIo needs a multiple of its group size 2 (e.g. 4)"},
		{"pipe even", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: PipeIo}}, ""},
		{"futex pair", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: FutexPingPong}}, ""},
		{"cachepipe odd", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: CachePipe}}, "group size 2"},
		{"fanout default", WorkloadConfig{NumWorkers: 5, WorkType: WorkType{Kind: FutexFanOut}}, ""},
		{"fanout bad", WorkloadConfig{NumWorkers: 4, WorkType: WorkType{Kind: FutexFanOut}}, "group size 5"},
		{"fanout 2", WorkloadConfig{NumWorkers: 6, WorkType: WorkType{Kind: FanOutCompute, FanOut: 2}}, ""},
		{"mutex", WorkloadConfig{NumWorkers: 8, WorkType: WorkType{Kind: MutexContention}}, ""},
		{"mutex bad", WorkloadConfig{NumWorkers: 6, WorkType: WorkType{Kind: MutexContention}}, "group size 4"},
		{"mutex one", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: MutexContention, Contenders: 1}}, "work_type.contenders: 1: allowed 2..1024"},
		{"unknown kind", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: "CpuSpn"}}, "did you mean CpuSpin?"},
		{"negative param", WorkloadConfig{NumWorkers: 2, WorkType: WorkType{Kind: FutexPingPong, SpinIters: -1}}, "work_type.spin_iters: -1"},
		{"fixed empty", WorkloadConfig{NumWorkers: 1, Affinity: Affinity{Kind: AffinityFixed}}, "affinity.cpus: empty cpu set"},
		{"fixed ok", WorkloadConfig{NumWorkers: 1, Affinity: Affinity{Kind: AffinityFixed, CPUs: []int{0, 1}}}, ""},
		{"random empty", WorkloadConfig{NumWorkers: 1, Affinity: Affinity{Kind: AffinityRandom, Count: 1}}, "affinity.from: empty cpu set"},
		{"random zero", WorkloadConfig{NumWorkers: 1, Affinity: Affinity{Kind: AffinityRandom, From: []int{0, 1}}}, "affinity.count: 0: allowed 1..2"},
		{"random big", WorkloadConfig{NumWorkers: 1, Affinity: Affinity{Kind: AffinityRandom, From: []int{0, 1}, Count: 3}}, "affinity.count: 3: allowed 1..2"},
		{"single negative", WorkloadConfig{NumWorkers: 1, Affinity: Affinity{Kind: AffinitySingle, CPU: -1}}, "affinity.cpu: -1"},
		{"affinity kind", WorkloadConfig{NumWorkers: 1, Affinity: Affinity{Kind: "all"}}, `affinity.kind: "all": allowed`},
		{"fifo 0", WorkloadConfig{NumWorkers: 1, SchedPolicy: SchedPolicy{Class: PolicyFIFO}}, "sched_policy.priority: 0: fifo needs 1-99"},
		{"rr 100", WorkloadConfig{NumWorkers: 1, SchedPolicy: SchedPolicy{Class: PolicyRoundRobin, Priority: 100}}, "sched_policy.priority: 100: rr needs 1-99"},
		{"fifo 99", WorkloadConfig{NumWorkers: 1, SchedPolicy: SchedPolicy{Class: PolicyFIFO, Priority: 99}}, ""},
		{"batch prio", WorkloadConfig{NumWorkers: 1, SchedPolicy: SchedPolicy{Class: PolicyBatch, Priority: 3}}, "only fifo and rr take a priority"},
		{"policy unknown", WorkloadConfig{NumWorkers: 1, SchedPolicy: SchedPolicy{Class: "deadline"}}, `sched_policy.class: "deadline": allowed`},
		{"nice low", WorkloadConfig{NumWorkers: 1, Nice: -21}, "nice: -21: allowed -20..19"},
		{"nice high", WorkloadConfig{NumWorkers: 1, Nice: 20}, "nice: 20"},
		{"nice ok", WorkloadConfig{NumWorkers: 1, Nice: 19}, ""},
		{"clone", WorkloadConfig{NumWorkers: 1, CloneMode: "vfork"}, `clone_mode: "vfork": allowed`},
		{"mem bind empty", WorkloadConfig{NumWorkers: 1, MemPolicy: MemPolicy{Mode: MemBind}}, "mem_policy.nodes: empty"},
		{"mem preferred 2", WorkloadConfig{NumWorkers: 1, MemPolicy: MemPolicy{Mode: MemPreferred, Nodes: []int{0, 1}}}, "exactly one node"},
		{"mem local nodes", WorkloadConfig{NumWorkers: 1, MemPolicy: MemPolicy{Mode: MemLocal, Nodes: []int{0}}}, "takes no nodes"},
		{"mem flags", WorkloadConfig{NumWorkers: 1, MemPolicy: MemPolicy{Mode: MemBind, Nodes: []int{0}, Flags: []MemPolicyFlag{MemFlagStaticNodes, MemFlagRelativeNodes}}}, "exclude each other"},
		{"mem mode", WorkloadConfig{NumWorkers: 1, MemPolicy: MemPolicy{Mode: "spread"}}, `mem_policy.mode: "spread": allowed`},
		{"sequence bad phase", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: Sequence, Phases: []Phase{{Kind: "nap", Duration: time.Millisecond}}}}, "work_type.phases[0].kind"},
		{"sequence zero", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: Sequence, Phases: []Phase{{Kind: PhaseSpin}}}}, "work_type.phases[0].duration"},
		{"custom unnamed", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: Custom}}, "work_type.custom_name: empty"},
		{"custom ok", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: Custom, CustomName: "validate-test"}}, ""},
		{"stride", WorkloadConfig{NumWorkers: 1, WorkType: WorkType{Kind: CachePressure, CacheBytes: 64, Stride: 128}}, "work_type.stride: 128"},
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

func TestParseWorkKind(t *testing.T) {
	for _, k := range WorkKinds() {
		for _, name := range []string{string(k), strings.ToLower(string(k)), strings.ToUpper(string(k))} {
			if got, err := ParseWorkKind(name); err != nil || got != k {
				t.Errorf("ParseWorkKind(%q) = %q, %v", name, got, err)
			}
		}
	}
	if got, err := ParseWorkKind("futex_ping_pong"); err != nil || got != FutexPingPong {
		t.Errorf("snake case: %q, %v", got, err)
	}
	tests := []struct{ in, suggestion string }{
		{"CpuSpn", "did you mean CpuSpin?"},
		{"pipeio2", "did you mean PipeIo?"},
		{"MutexContension", "did you mean MutexContention?"},
		{"yeild_heavy", "did you mean YieldHeavy?"},
		{"zzzzzzzzzzzzzzzzz", ""},
		{"", ""},
	}
	for _, tt := range tests {
		_, err := ParseWorkKind(tt.in)
		if err == nil {
			t.Fatalf("ParseWorkKind(%q): no error", tt.in)
		}
		msg := err.Error()
		if !strings.Contains(msg, "allowed: CpuSpin, YieldHeavy") || !strings.Contains(msg, "Custom") {
			t.Errorf("ParseWorkKind(%q): %q does not list the allowed names", tt.in, msg)
		}
		if tt.suggestion == "" && strings.Contains(msg, "did you mean") {
			t.Errorf("ParseWorkKind(%q): unexpected suggestion in %q", tt.in, msg)
		}
		if tt.suggestion != "" && !strings.Contains(msg, tt.suggestion) {
			t.Errorf("ParseWorkKind(%q): %q lacks %q", tt.in, msg, tt.suggestion)
		}
	}
}

func TestGroupSizeAndDefaults(t *testing.T) {
	tests := []struct {
		t    WorkType
		want int
	}{
		{WorkType{}, 1},
		{WorkType{Kind: PipeIo}, 2},
		{WorkType{Kind: CachePipe}, 2},
		{WorkType{Kind: FutexPingPong}, 2},
		{WorkType{Kind: FutexFanOut}, 5},
		{WorkType{Kind: FutexFanOut, FanOut: 7}, 8},
		{WorkType{Kind: FanOutCompute}, 5},
		{WorkType{Kind: MutexContention}, 4},
		{WorkType{Kind: MutexContention, Contenders: 3}, 3},
		{WorkType{Kind: ForkExit}, 1},
	}
	for _, tt := range tests {
		if got := tt.t.GroupSize(); got != tt.want {
			t.Errorf("%+v.GroupSize() = %d, want %d", tt.t, got, tt.want)
		}
	}
	d := WorkType{Kind: Bursty}.WithDefaults()
	if d.Burst != 50*time.Millisecond || d.Sleep != 100*time.Millisecond {
		t.Errorf("Bursty defaults: %v/%v", d.Burst, d.Sleep)
	}
	d = WorkType{Kind: FanOutCompute}.WithDefaults()
	if d.FanOut != 4 || d.CacheBytes != 256<<10 || d.Ops != 5 || d.Sleep != 100*time.Microsecond {
		t.Errorf("FanOutCompute defaults: %+v", d)
	}
	d = WorkType{Kind: PageFaultChurn}.WithDefaults()
	if d.RegionBytes != 4<<20 || d.Touches != 256 || d.SpinIters != 64 {
		t.Errorf("PageFaultChurn defaults: %+v", d)
	}
	d = WorkType{Kind: MutexContention, HoldIters: 7}.WithDefaults()
	if d.Contenders != 4 || d.HoldIters != 7 || d.WorkIters != 1024 {
		t.Errorf("MutexContention defaults: %+v", d)
	}
	if (WorkType{}).WithDefaults().Kind != CpuSpin {
		t.Error("zero WorkType is not CpuSpin")
	}
}
