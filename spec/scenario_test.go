package spec

import (
	"strings"
	"testing"
	"time"
)

func TestScenarioValidate(t *testing.T) {
	base := func() Scenario {
		return Scenario{Name: "x", Cgroups: []Cgroup{{Name: "a", Workloads: []WorkloadConfig{{NumWorkers: 1}}}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Scenario)
		want   string
	}{
		{"ok", func(*Scenario) {}, ""},
		{"no name", func(s *Scenario) { s.Name = "" }, "missing scenario name"},
		{"zero workers", func(s *Scenario) { s.Cgroups[0].Workloads[0].NumWorkers = 0 }, "num_workers: 0: must be >= 1"},
		{"slash", func(s *Scenario) { s.Cgroups[0].Name = "a/b" }, "single path element"},
		{"dup", func(s *Scenario) { s.Cgroups = append(s.Cgroups, s.Cgroups[0]) }, "duplicate cgroup"},
		{"bad cpus", func(s *Scenario) { s.Cgroups[0].CPUs = "1-0" }, "runs backwards"},
		{"rt prio", func(s *Scenario) { s.Cgroups[0].Workloads[0].SchedPolicy.Class = PolicyFIFO }, "sched_policy.priority: 0: fifo needs 1-99"},
		{"policy", func(s *Scenario) { s.Cgroups[0].Workloads[0].SchedPolicy.Class = "deadline" }, `sched_policy.class: "deadline": allowed`},
		{"nice", func(s *Scenario) { s.Cgroups[0].Workloads[0].Nice = 20 }, "nice: 20: allowed -20..19"},
		{"step late", func(s *Scenario) {
			s.Steps = []Step{{At: 5 * time.Second, Action: StepSysRq, Key: "s"}}
		}, "outside the run"},
		{"sysrq key", func(s *Scenario) { s.Steps = []Step{{Action: StepSysRq}} }, "one-character key"},
		{"add then use", func(s *Scenario) {
			s.Steps = []Step{{Action: StepAddCgroup, Cgroup: "new", CPUs: "0"}, {At: time.Second, Action: StepMoveTasks, Cgroup: "a", Target: "new"}}
		}, ""},
		{"payload", func(s *Scenario) { s.Payloads = []Payload{{Name: "p"}} }, "missing payload path"},
		{"payload names", func(s *Scenario) {
			s.Payloads = []Payload{{Path: "/usr/bin/runner"}, {Name: "runner", Path: "/runner"}}
		}, `payloads[1].name: duplicate payload name "runner"`},
		{"payload name slash", func(s *Scenario) { s.Payloads = []Payload{{Name: "a/b", Path: "/x"}} }, "single path element"},
		{"payloads only", func(s *Scenario) {
			s.Cgroups = nil
			s.Payloads = []Payload{{Path: "/runner", ExpectExit: new(0)}, {Path: "/other"}}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.mutate(&s)
			err := s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestScenarioValidateReferences(t *testing.T) {
	ok := []Cgroup{{Name: "a", Workloads: []WorkloadConfig{{NumWorkers: 1}}}}
	tests := []struct {
		sc   Scenario
		want string
	}{
		{Scenario{Name: "x", Cgroups: []Cgroup{{Name: "a/b"}}}, "cgroups[0].name"},
		{Scenario{Name: "x", Cgroups: []Cgroup{{Name: "a"}, {Name: "a"}}}, "duplicate"},
		{Scenario{Name: "x", Cgroups: []Cgroup{{Name: "a", CPUs: "x"}}}, "cgroups[0].cpus"},
		{Scenario{Name: "x", Cgroups: []Cgroup{{Name: "a", Workloads: []WorkloadConfig{{NumWorkers: 0}}}}}, "workloads[0]"},
		{Scenario{Name: "x", Cgroups: ok, Steps: []Step{{Action: "explode"}}}, `unknown step action "explode"`},
		{Scenario{Name: "x", Cgroups: ok, Steps: []Step{{Action: StepSetCpuset, Cgroup: "z"}}}, `unknown cgroup "z"`},
		{Scenario{Name: "x", Cgroups: ok, Steps: []Step{
			{At: 1, Action: StepRemoveCgroup, Cgroup: "a"},
			{At: 2, Action: StepSpawn, Cgroup: "a"}}}, "steps[1]"},
		{Scenario{Name: "x", Cgroups: ok, Steps: []Step{{Action: StepSysRq, Key: "sc"}}}, "key"},
		{Scenario{Name: "x", Cgroups: ok, Payloads: []Payload{{Name: "x"}}}, "payloads[0].path"},
	}
	for _, tt := range tests {
		err := tt.sc.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tt.sc, err, tt.want)
		}
	}
	if err := (Scenario{Name: "x", Cgroups: ok, Steps: []Step{
		{Action: StepAddCgroup, Cgroup: "n"}, {At: 1, Action: StepMoveTasks, Cgroup: "a", Target: "n"}}}).Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

func TestPayloadWaitedAndEnd(t *testing.T) {
	worker := []Cgroup{{Name: "a", Workloads: []WorkloadConfig{{NumWorkers: 1}}}}
	for _, tc := range []struct {
		name   string
		sc     Scenario
		waited []bool
		ends   bool
	}{
		{"expect_exit implies wait", Scenario{Payloads: []Payload{{Path: "/a", ExpectExit: new(1)}}}, []bool{true}, true},
		{"not waited", Scenario{Payloads: []Payload{{Path: "/a"}}}, []bool{false}, false},
		{"waited beside workers", Scenario{Cgroups: worker, Payloads: []Payload{{Path: "/a", Wait: true}}}, []bool{true}, false},
		{"waited beside steps", Scenario{Steps: []Step{{Action: StepSysRq, Key: "s"}}, Payloads: []Payload{{Path: "/a", Wait: true}}}, []bool{true}, false},
		{"empty", Scenario{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, p := range tc.sc.Payloads {
				if p.Waited() != tc.waited[i] {
					t.Errorf("payloads[%d].Waited() = %v", i, p.Waited())
				}
			}
			if got := tc.sc.EndsWithPayloads(); got != tc.ends {
				t.Errorf("EndsWithPayloads() = %v, want %v", got, tc.ends)
			}
		})
	}
	if l := (Payload{Path: "/usr/bin/stress-ng"}).Label(); l != "stress-ng" {
		t.Errorf("Label() = %q, want the base name of the path", l)
	}
}
