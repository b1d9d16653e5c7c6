package scenariofile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
)

func TestParseCheck(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    spec.Checks
		err     string // the error message's start; "" for none
	}{
		{"max_p99_wake_latency=20ms", spec.Checks{MaxP99WakeLatency: 20 * time.Millisecond}, ""},
		{"p99_wake_latency=20ms", spec.Checks{MaxP99WakeLatency: 20 * time.Millisecond}, ""},
		{"throughput_cv=0.5", spec.Checks{MaxThroughputCV: 0.5}, ""},
		{" max_throughput_cv = 0.5 ", spec.Checks{MaxThroughputCV: 0.5}, ""},
		{"min_iteration_rate=1e9", spec.Checks{MinIterationRate: 1e9}, ""},
		{"rate_dip_for=1.5s", spec.Checks{RateDipFor: 1500 * time.Millisecond}, ""},
		{"fairness=40", spec.Checks{FairnessSpreadPct: 40}, ""},
		{"no_stalled_task=5s", spec.Checks{MaxRunnableWait: 5 * time.Second}, ""},
		{"rate_dip=off", spec.Checks{Skip: []string{spec.CheckRateDip}}, ""},
		{"kernel_clean=off", spec.Checks{Skip: []string{spec.CheckKernelClean}}, ""},
		{"max_throughput_cv=off", spec.Checks{Skip: []string{spec.CheckThroughputCV}}, ""},

		{"max_p99_wake_latency=20", spec.Checks{}, `--check: max_p99_wake_latency: duration 20 needs a unit (such as "20ms" or "20s")`},
		{"max_gap=soon", spec.Checks{}, `--check: max_gap: "soon" is not a duration (such as "20ms" or "1.5s")`},
		{"throughput_cv=20ms", spec.Checks{}, `--check: max_throughput_cv: "20ms" is not a number`},
		{"throughput_cv=[1, 2]", spec.Checks{}, `--check: max_throughput_cv: "[1, 2]" is not a number`},
		{"fairness_spread_pct=150", spec.Checks{}, `--check: fairness_spread_pct: 150 is outside 0-100`},
		{"max_gap=-1s", spec.Checks{}, `--check: max_gap: -1s is negative (allowed: 0 for the inherited value, or a positive duration)`},
		{"rate_dip_for=100ms", spec.Checks{}, `--check: rate_dip_for: 100ms is below 200ms (progress is sampled at most every 100 ms)`},
		{"fairness=0", spec.Checks{}, `--check: fairness_spread_pct: 0 inherits the layer below; give a positive value, or fairness=off to skip the check`},
		{"rate_dip=5", spec.Checks{}, `--check: rate_dip: the check has 2 thresholds: set rate_dip_pct=..., rate_dip_for=...`},
		{"kernel_clean=1", spec.Checks{}, `--check: kernel_clean: the check has no threshold; kernel_clean=off turns it off`},
		{"max_gap", spec.Checks{}, `--check: want KEY=VALUE (a threshold, as in a scenario's checks) or CHECK=off`},
		{"max_gap=", spec.Checks{}, `--check: want KEY=VALUE (a threshold, as in a scenario's checks) or CHECK=off`},
		{"=1s", spec.Checks{}, `--check: want KEY=VALUE (a threshold, as in a scenario's checks) or CHECK=off`},
		{"p99_wake_latncy=1ms", spec.Checks{}, `--check: unknown check or threshold "p99_wake_latncy" (thresholds: max_gap, fairness_spread_pct, max_p99_wake_latency, max_wake_latency_cv, min_iteration_rate, max_migration_ratio, max_throughput_cv, min_numa_locality_pct, rate_dip_pct, rate_dip_for, max_runnable_wait; checks: job_completed, scheduler_attached, no_worker_crash, not_starved, isolation, max_gap, fairness, p99_wake_latency, wake_latency_cv, min_iteration_rate, max_migration_ratio, throughput_cv, numa_locality, rate_dip, no_stalled_task, kernel_clean, payload_exit); did you mean "p99_wake_latency"?`},
		{"skip=rate_dip", spec.Checks{}, `--check: unknown check or threshold "skip" (thresholds: `},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			got, err := ParseCheck("--check", tc.setting)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			var ve *spec.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T), want a *spec.ValidationError", err, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tc.err) {
				t.Errorf("error\n%s\nwant\n%s", msg, tc.err)
			}
		})
	}
}

func TestLoadChecks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "skip: [rate_dip]\nmax_p99_wake_latency: 20ms\nmax_throughput_cv: 0.5\n")
	c, err := LoadChecks(good)
	if err != nil {
		t.Fatal(err)
	}
	if want := (spec.Checks{Skip: []string{spec.CheckRateDip}, MaxP99WakeLatency: 20 * time.Millisecond, MaxThroughputCV: 0.5}); !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if c, err := LoadChecks(write("good.json", `{"max_gap": "3s"}`)); err != nil || c.MaxGap != 3*time.Second {
		t.Errorf("json: %+v, %v", c, err)
	}
	for _, tc := range []struct{ name, data, want string }{
		{"typo.yaml", "max_gap: 3s\nmax_p99_latency: 1ms\n", `typo.yaml:2: unknown field "max_p99_latency" in checks (allowed: skip, max_gap, `},
		{"range.yaml", "max_gap: 3s\nrate_dip_pct: 150\n", `range.yaml:2: rate_dip_pct: 150 is outside 0-100`},
		{"skip.yaml", "skip:\n  - rate_dip\n  - kernel_clen\n", `skip.yaml:3: skip[1]: unknown check "kernel_clen"`},
		{"unit.yaml", "max_gap: 3\n", `unit.yaml:1: max_gap: duration 3 needs a unit`},
		{"list.yaml", "- max_gap: 3s\n", `list.yaml:1: want a mapping of checks`},
	} {
		_, err := LoadChecks(write(tc.name, tc.data))
		var ve *spec.ValidationError
		if !errors.As(err, &ve) || !strings.HasPrefix(err.Error(), filepath.Join(dir, tc.want)) {
			t.Errorf("%s: error %v, want it to start with %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadChecks(filepath.Join(dir, "none.yaml")); err == nil {
		t.Error("a missing file was read")
	}
}
