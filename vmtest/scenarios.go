package vmtest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/workload"
)

// DefaultScenario is the scenario Run uses when Config.Scenarios is empty.
const DefaultScenario = "steady"

func wl(n int, kind workload.WorkKind) workload.WorkloadConfig {
	return workload.WorkloadConfig{NumWorkers: n, WorkType: workload.WorkType{Kind: kind}}
}

// catalogue returns the built-in scenarios, sized for a 2-cpu TCG guest
// (the default topology); they adapt to more cpus only through the
// cpusets they name, so they stay valid on larger guests.
func catalogue() []Scenario {
	return []Scenario{
		{
			Scenario: protocol.Scenario{
				Name:     "steady",
				Duration: 2 * time.Second,
				Cgroups: []protocol.Cgroup{{
					Name:      "steady",
					Workloads: []workload.WorkloadConfig{wl(4, workload.CpuSpin)},
				}},
			},
			Description: "4 cpu-bound workers in one cgroup, 2 per cpu: progress, no stall, fair cpu time",
			// TCG vcpus are host threads that a loaded host runs unevenly:
			// 50 % still catches a worker left behind (100 %).
			Checks: Checks{FairnessSpreadPct: 50},
		},
		{
			Scenario: protocol.Scenario{
				Name:     "oversubscribed",
				Duration: 2 * time.Second,
				Cgroups: []protocol.Cgroup{{
					Name:      "over",
					Workloads: []workload.WorkloadConfig{wl(8, workload.CpuSpin), wl(2, workload.YieldHeavy)},
				}},
			},
			Description: "10 workers (8 spinning, 2 yielding) on 2 cpus: nobody starves or stalls",
			Checks:      Checks{FairnessSpreadPct: 60},
		},
		{
			Scenario: protocol.Scenario{
				Name:     "cpuset-disjoint",
				Duration: 2 * time.Second,
				Cgroups: []protocol.Cgroup{
					{Name: "left", CPUs: "0", Workloads: []workload.WorkloadConfig{wl(2, workload.CpuSpin)}},
					{Name: "right", CPUs: "1", Workloads: []workload.WorkloadConfig{wl(2, workload.CpuSpin)}},
				},
			},
			Description: "two cgroups pinned to disjoint cpusets (cpu 0, cpu 1): isolation and fairness inside each",
			Checks:      Checks{FairnessSpreadPct: 50},
		},
		{
			Scenario: protocol.Scenario{
				Name:     "cpuset-resize",
				Duration: 3 * time.Second,
				Cgroups: []protocol.Cgroup{
					{Name: "grow", CPUs: "0", Workloads: []workload.WorkloadConfig{wl(2, workload.CpuSpin)}},
					{Name: "shrink", CPUs: "0-1", Workloads: []workload.WorkloadConfig{wl(2, workload.CpuSpin)}},
				},
				Steps: []protocol.Step{
					{At: time.Second, Action: protocol.StepSetCpuset, Cgroup: "shrink", CPUs: "1"},
					{At: 2 * time.Second, Action: protocol.StepSetCpuset, Cgroup: "grow", CPUs: "0-1"},
				},
			},
			Description: "cpusets change mid-run (shrink to cpu 1 at 1 s, grow to 0-1 at 2 s): tasks follow, nobody stalls",
			Checks:      Checks{Skip: []string{CheckFairness}},
		},
		{
			Scenario: protocol.Scenario{
				Name:     "pingpong",
				Duration: 2 * time.Second,
				Cgroups: []protocol.Cgroup{{
					Name:      "pingpong",
					Workloads: []workload.WorkloadConfig{wl(2, workload.PipeIo), wl(2, workload.FutexPingPong)},
				}},
			},
			Description: "wake-up heavy pairs: a pipe ping-pong pair and a futex ping-pong pair",
			Checks:      Checks{Skip: []string{CheckFairness}},
		},
		{
			Scenario: protocol.Scenario{
				Name:     "fanout",
				Duration: 2 * time.Second,
				Cgroups: []protocol.Cgroup{{
					Name: "fanout",
					Workloads: []workload.WorkloadConfig{{
						NumWorkers: 4,
						WorkType:   workload.WorkType{Kind: workload.FutexFanOut, FanOut: 3},
					}},
				}},
			},
			Description: "one messenger wakes 3 receivers over a futex, again and again",
			Checks:      Checks{Skip: []string{CheckFairness}},
		},
		{
			Scenario: protocol.Scenario{
				Name:     "churn",
				Duration: 2 * time.Second,
				Cgroups: []protocol.Cgroup{{
					Name: "churn",
					Workloads: []workload.WorkloadConfig{
						wl(2, workload.AffinityChurn),
						wl(1, workload.PolicyChurn),
						wl(1, workload.NiceSweep),
						wl(1, workload.ForkExit),
					},
				}},
			},
			Description: "tasks that keep changing: affinity, policy, nice, and fork/exit",
			Checks:      Checks{Skip: []string{CheckFairness}},
		},
		{
			Scenario: protocol.Scenario{
				Name:     "mixed",
				Duration: 2 * time.Second,
				Cgroups: []protocol.Cgroup{
					{Name: "batch", Workloads: []workload.WorkloadConfig{wl(2, workload.CpuSpin)}},
					{Name: "interactive", Workloads: []workload.WorkloadConfig{
						{NumWorkers: 1, WorkType: workload.WorkType{Kind: workload.Bursty, Burst: 10 * time.Millisecond, Sleep: 20 * time.Millisecond}},
						wl(1, workload.IoSync),
						wl(2, workload.YieldHeavy),
					}},
				},
			},
			Description: "cpu hogs in one cgroup beside bursty, io and yielding tasks in another",
			Checks:      Checks{FairnessSpreadPct: 60},
		},
	}
}

// Scenarios returns the built-in scenario catalogue.
func Scenarios() []Scenario { return catalogue() }

// ScenarioNames returns the names of the built-in scenarios.
func ScenarioNames() []string {
	var names []string
	for _, s := range catalogue() {
		names = append(names, s.Name)
	}
	return names
}

// LookupScenario returns the built-in scenario called name.
func LookupScenario(name string) (Scenario, error) {
	cat := catalogue()
	i := slices.IndexFunc(cat, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		names := ScenarioNames()
		msg := fmt.Sprintf("unknown scenario %q (built-in: %s; or give a .yaml/.json file)", name, strings.Join(names, ", "))
		if s := suggest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return Scenario{}, &ConfigError{Field: "scenario", Msg: msg}
	}
	return cat[i], nil
}

// ResolveScenarios turns each argument into scenarios: a built-in name, or
// a YAML/JSON file (a path that exists, or that ends in .yaml, .yml or
// .json).
func ResolveScenarios(args []string) ([]Scenario, error) {
	var out []Scenario
	for _, a := range args {
		if isScenarioFile(a) {
			ss, err := LoadScenarioFile(a)
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
