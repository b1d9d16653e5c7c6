package vmtest

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/workload"
)

func TestLoadScenarioFileGood(t *testing.T) {
	ss, err := LoadScenarioFile("testdata/scenarios/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("got %d scenarios, want 1", len(ss))
	}
	s := ss[0]
	if s.Name != "swap" || s.Duration != 2*time.Second || len(s.Cgroups) != 2 || s.Cgroups[0].CPUs != "0" {
		t.Errorf("unexpected scenario: %+v", s)
	}
	if got := s.Cgroups[1].Workloads[0].WorkType.Kind; got != workload.PipeIo {
		t.Errorf("kind %q not normalised to PipeIo", got)
	}
	if s.Steps[0].Action != protocol.StepSwapCpusets || s.Steps[0].At != time.Second {
		t.Errorf("step: %+v", s.Steps[0])
	}
	if s.Checks.FairnessSpreadPct != 30 || s.Checks.MaxGap != 1500*time.Millisecond || s.Checks.Skip[0] != CheckKernelClean {
		t.Errorf("checks: %+v", s.Checks)
	}

	ss, err = LoadScenarioFile("testdata/scenarios/good.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Name != "json-one" || ss[1].Cgroups[0].Workloads[0].WorkType.Burst != 5*time.Millisecond {
		t.Errorf("unexpected json scenarios: %+v", ss)
	}
}

func TestLoadScenarioFileBad(t *testing.T) {
	for _, tc := range []struct {
		file string
		line int
		want []string
	}{
		{"bad-kind.yaml", 7, []string{"work_type.kind", `unknown kind "CpuSpn"`, "FutexPingPong", "did you mean CpuSpin"}},
		{"bad-field.yaml", 4, []string{`unknown field "cpu" in cgroup`, "allowed: name, cpus, mems, workloads", `did you mean "cpus"`}},
		{"bad-action.yaml", 7, []string{"steps[0].action", `unknown step action "resize"`, `"set_cpuset"`, `"sysrq"`}},
		{"bad-duration.yaml", 2, []string{"duration 2 needs a unit"}},
		{"bad-syntax.yaml", 0, []string{"bad-syntax.yaml"}},
		{"bad-cgroup-ref.yaml", 8, []string{"steps[0].cgroup", `unknown cgroup "nope" (known: a)`}},
		{"bad-skip.json", 2, []string{`unknown check "fairnes"`, "fairness"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata/scenarios", tc.file)
			_, err := LoadScenarioFile(path)
			if err == nil {
				t.Fatal("no error")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T (%v) is not a *ValidationError", err, err)
			}
			if ve.File != path {
				t.Errorf("file %q, want %q", ve.File, path)
			}
			if tc.line > 0 && ve.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", ve.Line, tc.line, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCatalogueValid(t *testing.T) {
	names := map[string]bool{}
	for _, s := range Scenarios() {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		if s.Description == "" {
			t.Errorf("%s: no description", s.Name)
		}
		if maxCPU(s) > 1 {
			t.Errorf("%s: needs more than 2 cpus", s.Name)
		}
		names[s.Name] = true
	}
	for _, want := range []string{"steady", "oversubscribed", "cpuset-disjoint", "cpuset-resize", "pingpong", "fanout", "churn", "mixed"} {
		if !names[want] {
			t.Errorf("catalogue lacks %q", want)
		}
	}
}

func TestLookupScenario(t *testing.T) {
	if _, err := LookupScenario("steady"); err != nil {
		t.Fatal(err)
	}
	_, err := LookupScenario("stedy")
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `did you mean "steady"`) {
		t.Errorf("got %v, want a ConfigError suggesting steady", err)
	}
	ss, err := ResolveScenarios([]string{"pingpong", "testdata/scenarios/good.json"})
	if err != nil || len(ss) != 3 {
		t.Errorf("ResolveScenarios: %d scenarios, %v", len(ss), err)
	}
}

func TestScenarioValidate(t *testing.T) {
	base := func() Scenario {
		return Scenario{Scenario: protocol.Scenario{Name: "x", Cgroups: []protocol.Cgroup{{Name: "a", Workloads: []workload.WorkloadConfig{{NumWorkers: 1}}}}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Scenario)
		want   string
	}{
		{"ok", func(*Scenario) {}, ""},
		{"no name", func(s *Scenario) { s.Name = "" }, "missing scenario name"},
		{"zero workers", func(s *Scenario) { s.Cgroups[0].Workloads[0].NumWorkers = 0 }, "num_workers must be at least 1"},
		{"slash", func(s *Scenario) { s.Cgroups[0].Name = "a/b" }, "single path element"},
		{"dup", func(s *Scenario) { s.Cgroups = append(s.Cgroups, s.Cgroups[0]) }, "duplicate cgroup"},
		{"bad cpus", func(s *Scenario) { s.Cgroups[0].CPUs = "1-0" }, "bad range"},
		{"rt prio", func(s *Scenario) { s.Cgroups[0].Workloads[0].SchedPolicy.Class = workload.PolicyFIFO }, "priority 0 is outside 1-99"},
		{"policy", func(s *Scenario) { s.Cgroups[0].Workloads[0].SchedPolicy.Class = "deadline" }, `unknown policy "deadline"`},
		{"nice", func(s *Scenario) { s.Cgroups[0].Workloads[0].Nice = 20 }, "nice 20"},
		{"step late", func(s *Scenario) {
			s.Steps = []protocol.Step{{At: 5 * time.Second, Action: protocol.StepSysRq, Key: "s"}}
		}, "outside the run"},
		{"sysrq key", func(s *Scenario) { s.Steps = []protocol.Step{{Action: protocol.StepSysRq}} }, "one-character key"},
		{"add then use", func(s *Scenario) {
			s.Steps = []protocol.Step{{Action: protocol.StepAddCgroup, Cgroup: "new", CPUs: "0"}, {At: time.Second, Action: protocol.StepMoveTasks, Cgroup: "a", Target: "new"}}
		}, ""},
		{"payload", func(s *Scenario) { s.Payloads = []protocol.Payload{{Name: "p"}} }, "missing payload path"},
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
