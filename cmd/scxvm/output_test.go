package main

import (
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/stressng"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

func TestSummaryPayloads(t *testing.T) {
	stress := func(opsReal float64) []vmtest.PayloadResult {
		return []vmtest.PayloadResult{{Name: "stress-ng", ExitCode: new(0), Duration: 2 * time.Second, StressNG: []stressng.Metric{
			{Stressor: "cpu", BogoOps: uint64(2 * opsReal), OpsPerSecReal: opsReal, OpsPerSecCPU: opsReal / 2},
		}}}
	}
	res := &vmtest.Result{Scheduler: "scx_simple", Scenarios: []vmtest.ScenarioResult{
		{Name: "steady", Scheduler: "scx_simple", Passed: true, Payloads: append(stress(1500),
			vmtest.PayloadResult{Name: "perf", TimedOut: true, Duration: 1500 * time.Millisecond},
			vmtest.PayloadResult{Name: "crash", Signal: 11},
			vmtest.PayloadResult{Name: "missing", Error: "start stress-ng: fork/exec /usr/bin/stress-ng: no such file or directory"})},
		{Name: "steady", Scheduler: "none", Baseline: true, Passed: true, Payloads: stress(1000)},
	}}
	var b strings.Builder
	printSummary(&b, res)
	out := b.String()
	for _, want := range []string{
		"payloads:",
		"steady/scx_simple  stress-ng  exit 0 after 2.0s",
		"cpu: 3000 bogo ops, 1.5k ops/s real, 750 ops/s cpu",
		"steady/scx_simple  perf  stopped at the end of the scenario after 1.5s",
		"steady/scx_simple  crash  killed by signal 11",
		"steady/scx_simple  missing  error: start stress-ng: fork/exec /usr/bin/stress-ng: no such file or directory\n",
		"steady/none  stress-ng  exit 0 after 2.0s",
		"stress-ng bogo ops/s, scx_simple / none: steady stress-ng/cpu 1.50x",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	if strings.Contains(out, "missing  exit") {
		t.Errorf("a payload that did not start shows an exit status:\n%s", out)
	}

	b.Reset()
	printSummary(&b, &vmtest.Result{Scenarios: []vmtest.ScenarioResult{{Name: "steady", Passed: true}}})
	if strings.Contains(b.String(), "payloads:") {
		t.Errorf("payloads section without payloads:\n%s", b.String())
	}
}

// With --compare and --repeat, the summary shows each cgroup's median
// throughput and wake-up latencies beside the other scheduler's.
func TestSummaryCompareTable(t *testing.T) {
	run := func(sched string, baseline bool, rep int, units uint64, lat uint64) vmtest.ScenarioResult {
		return vmtest.ScenarioResult{Name: "mixed", Scheduler: sched, Baseline: baseline, Repeat: rep, Passed: true, Duration: time.Second,
			Workers: []check.Worker{
				{Cgroup: "batch", Report: spec.WorkerReport{WorkUnits: units, Iterations: units / 1000}},
				{Cgroup: "interactive", Report: spec.WorkerReport{WorkUnits: units / 100, Iterations: lat / 1000, ResumeLatenciesNs: spec.Samples{lat, lat, 2 * lat}}},
			}}
	}
	res := &vmtest.Result{Scheduler: "scx_simple", Compare: "fifo", Repeat: 2, Scenarios: []vmtest.ScenarioResult{
		run("scx_simple", false, 0, 1_000_000, 100_000), run("fifo", true, 0, 2_000_000, 10_000),
		run("scx_simple", false, 1, 1_200_000, 300_000), run("fifo", true, 1, 2_000_000, 10_000),
	}}
	res.Summary = vmtest.Summarize(res)
	var b strings.Builder
	printSummary(&b, res)
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"mixed scx_simple run 2 pass", "mixed fifo (comparison) run 2 pass",
		"scx_simple against fifo per cgroup",
		"medians of 2 runs [min..max]",
		"THROUGHPUT scx_simple fifo RATIO IT/S RATIO WAKE P50 scx_simple fifo WAKE P99 scx_simple fifo",
		"mixed batch 1.10M [1.00M..1.20M] 2.00M 0.55x 0.55x - - - -",
		"mixed interactive 11.0k [10.0k..12.0k] 20.0k 0.55x 20.00x 200us [100us..300us] 10us 400us [200us..600us] 20us",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Neither --compare nor --repeat: no such table.
	b.Reset()
	printSummary(&b, &vmtest.Result{Scheduler: "fifo", Scenarios: []vmtest.ScenarioResult{run("fifo", false, 0, 1000, 1000)}})
	if strings.Contains(b.String(), "per cgroup") {
		t.Errorf("a single run prints the comparison table:\n%s", b.String())
	}
}
