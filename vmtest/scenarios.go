package vmtest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/internal/suggest"
	"github.com/scxvm/scxvm/scenariofile"
	"github.com/scxvm/scxvm/spec"
)

// DefaultScenario is the scenario Run uses when Config.Scenarios is empty.
const DefaultScenario = "steady"

func wl(n int, kind spec.WorkKind) spec.WorkloadConfig {
	return spec.WorkloadConfig{NumWorkers: n, WorkType: spec.WorkType{Kind: kind}}
}

// catalogue returns the built-in scenarios, sized for a 2-cpu TCG guest
// (the default topology); they adapt to more cpus only through the
// cpusets they name, so they stay valid on larger guests.
func catalogue() []spec.Scenario {
	return append([]spec.Scenario{
		{
			Name:     "steady",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{
				Name:      "steady",
				Workloads: []spec.WorkloadConfig{wl(4, spec.CpuSpin)},
			}},
			Description: "4 cpu-bound workers in one cgroup, 2 per cpu: progress, no stall, fair cpu time",
			// TCG vcpus are host threads that a loaded host runs unevenly:
			// 50 % still catches a worker left behind (100 %).
			Checks: spec.Checks{FairnessSpreadPct: 50},
		},
		{
			Name:     "oversubscribed",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{
				Name:      "over",
				Workloads: []spec.WorkloadConfig{wl(8, spec.CpuSpin), wl(2, spec.YieldHeavy)},
			}},
			Description: "10 workers (8 spinning, 2 yielding) on 2 cpus: nobody starves or stalls",
			Checks:      spec.Checks{FairnessSpreadPct: 60},
		},
		{
			Name:     "cpuset-disjoint",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{
				{Name: "left", CPUs: "0", Workloads: []spec.WorkloadConfig{wl(2, spec.CpuSpin)}},
				{Name: "right", CPUs: "1", Workloads: []spec.WorkloadConfig{wl(2, spec.CpuSpin)}},
			},
			Description: "two cgroups pinned to disjoint cpusets (cpu 0, cpu 1): isolation and fairness inside each",
			Checks:      spec.Checks{FairnessSpreadPct: 50},
		},
		{
			Name:     "cpuset-resize",
			Duration: 3 * time.Second,
			Cgroups: []spec.Cgroup{
				{Name: "grow", CPUs: "0", Workloads: []spec.WorkloadConfig{wl(2, spec.CpuSpin)}},
				{Name: "shrink", CPUs: "0-1", Workloads: []spec.WorkloadConfig{wl(2, spec.CpuSpin)}},
			},
			Steps: []spec.Step{
				{At: time.Second, Action: spec.StepSetCpuset, Cgroup: "shrink", CPUs: "1"},
				{At: 2 * time.Second, Action: spec.StepSetCpuset, Cgroup: "grow", CPUs: "0-1"},
			},
			Description: "cpusets change mid-run (shrink to cpu 1 at 1 s, grow to 0-1 at 2 s): tasks follow, nobody stalls",
			Checks:      spec.Checks{Skip: []string{spec.CheckFairness, spec.CheckThroughputCV}},
		},
		{
			Name:     "pingpong",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{
				Name:      "pingpong",
				Workloads: []spec.WorkloadConfig{wl(2, spec.PipeIo), wl(2, spec.FutexPingPong)},
			}},
			Description: "wake-up heavy pairs: a pipe ping-pong pair and a futex ping-pong pair",
			Checks:      spec.Checks{Skip: []string{spec.CheckFairness, spec.CheckThroughputCV}},
		},
		{
			Name:     "fanout",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{
				Name: "fanout",
				Workloads: []spec.WorkloadConfig{{
					NumWorkers: 4,
					WorkType:   spec.WorkType{Kind: spec.FutexFanOut, FanOut: 3},
				}},
			}},
			Description: "one messenger wakes 3 receivers over a futex, again and again",
			Checks:      spec.Checks{Skip: []string{spec.CheckFairness, spec.CheckThroughputCV}},
		},
		{
			Name:     "churn",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{
				Name: "churn",
				Workloads: []spec.WorkloadConfig{
					wl(2, spec.AffinityChurn),
					wl(1, spec.PolicyChurn),
					wl(1, spec.NiceSweep),
					wl(1, spec.ForkExit),
				},
			}},
			Description: "tasks that keep changing: affinity, policy, nice, and fork/exit",
			Checks:      spec.Checks{Skip: []string{spec.CheckFairness, spec.CheckThroughputCV}},
		},
		{
			Name:     "mixed",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{
				{Name: "batch", Workloads: []spec.WorkloadConfig{wl(2, spec.CpuSpin)}},
				{Name: "interactive", Workloads: []spec.WorkloadConfig{
					{NumWorkers: 1, WorkType: spec.WorkType{Kind: spec.Bursty, Burst: 10 * time.Millisecond, Sleep: 20 * time.Millisecond}},
					wl(1, spec.IoSync),
					wl(2, spec.YieldHeavy),
				}},
			},
			Description: "cpu hogs in one cgroup beside bursty, io and yielding tasks in another",
			Checks:      spec.Checks{FairnessSpreadPct: 60},
		},
	}, workTypeScenarios()...)
}

// Scenarios returns the built-in scenario catalogue.
func Scenarios() []spec.Scenario { return catalogue() }

// ScenarioNames returns the names of the built-in scenarios.
func ScenarioNames() []string {
	var names []string
	for _, s := range catalogue() {
		names = append(names, s.Name)
	}
	return names
}

// LookupScenario returns the built-in scenario called name.
func LookupScenario(name string) (spec.Scenario, error) {
	cat := catalogue()
	i := slices.IndexFunc(cat, func(s spec.Scenario) bool { return s.Name == name })
	if i < 0 {
		names := ScenarioNames()
		msg := fmt.Sprintf("unknown scenario %q (built-in: %s; or give a .yaml/.json file)", name, strings.Join(names, ", "))
		if s := suggest.Closest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return spec.Scenario{}, &ConfigError{Field: "scenario", Msg: msg}
	}
	return cat[i], nil
}

// ResolveScenarios turns each argument into scenarios: a built-in name, or
// a YAML/JSON file (a path that exists, or that ends in .yaml, .yml or
// .json).
func ResolveScenarios(args []string) ([]spec.Scenario, error) {
	var out []spec.Scenario
	for _, a := range args {
		if isScenarioFile(a) {
			ss, err := scenariofile.Load(a)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
			continue
		}
		s, err := LookupScenario(a)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func isScenarioFile(a string) bool {
	if strings.HasSuffix(a, ".yaml") || strings.HasSuffix(a, ".yml") || strings.HasSuffix(a, ".json") || strings.ContainsRune(a, os.PathSeparator) {
		return true
	}
	_, err := os.Stat(a)
	return err == nil && !slices.Contains(ScenarioNames(), a)
}
