package main

import (
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/stressng"
	"github.com/scxvm/scxvm/vmtest"
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
		"stress-ng cpu 1.50x",
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
