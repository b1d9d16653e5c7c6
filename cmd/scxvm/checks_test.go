package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/scenariofile"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// --check and --checks build one layer in command-line order, the later
// setting winning; a bad one is a usage error naming the flag and the
// field.
func TestCheckFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "checks.yaml")
	if err := os.WriteFile(file, []byte("skip: [fairness]\nmax_gap: 3s\nmax_throughput_cv: 0.8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("max_gap: 3s\nmax_troughput_cv: 0.8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want spec.Checks
		err  string // the start of the error; "" for none
	}{
		{"none", nil, spec.Checks{}, ""},
		{"thresholds and a skip",
			[]string{"--check", "p99_wake_latency=20ms", "--check", "throughput_cv=0.5", "--check", "rate_dip=off"},
			spec.Checks{MaxP99WakeLatency: 20 * time.Millisecond, MaxThroughputCV: 0.5, Skip: []string{spec.CheckRateDip}}, ""},
		{"the later wins", []string{"--check", "max_gap=5s", "--check", "max_gap=4s"}, spec.Checks{MaxGap: 4 * time.Second}, ""},
		{"file, then a flag over it",
			[]string{"--checks", file, "--check", "throughput_cv=0.5"},
			spec.Checks{Skip: []string{spec.CheckFairness}, MaxGap: 3 * time.Second, MaxThroughputCV: 0.5}, ""},
		{"a flag, then the file over it",
			[]string{"--check", "throughput_cv=0.5", "--check", "min_iteration_rate=10", "--checks", file},
			spec.Checks{Skip: []string{spec.CheckFairness}, MaxGap: 3 * time.Second, MaxThroughputCV: 0.8, MinIterationRate: 10}, ""},
		{"misspelt", []string{"--check", "throughput_vc=0.5"}, spec.Checks{}, `--check throughput_vc=0.5: unknown check or threshold "throughput_vc"`},
		{"no unit", []string{"--check", "max_runnable_wait=3"}, spec.Checks{}, `--check max_runnable_wait=3: max_runnable_wait: duration 3 needs a unit`},
		{"out of range", []string{"--check", "throughput_cv=5000"}, spec.Checks{}, `--check throughput_cv=5000: max_throughput_cv: 5000 is outside 0-1000`},
		{"bad file", []string{"--checks", bad}, spec.Checks{}, bad + `:2: unknown field "max_troughput_cv" in checks`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var c checkFlags
			c.register(fs, "of the test")
			if err := parseFlags(fs, tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := c.resolve()
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) || exitCode(err) != exitUsage {
					t.Fatalf("error %v (exit %d), want %q (exit %d)", err, exitCode(err), tc.err, exitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("layer %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Every command that takes the flags refuses a bad one before anything
// boots, with the usage exit code and the "did you mean"; scenarios and
// matrix show and apply a good one.
func TestCheckFlagCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"run", "--check", "p99_wake_latncy=20ms", "steady"}, exitUsage, []string{`--check p99_wake_latncy=20ms: unknown check or threshold "p99_wake_latncy"`, `did you mean "p99_wake_latency"?`}},
		{[]string{"run", "--check", "fairness=101"}, exitUsage, []string{"--check fairness=101: fairness_spread_pct: 101 is outside 0-100"}},
		{[]string{"exec", "--check", "max_runnable_wait=1", "--", "true"}, exitUsage, []string{"--check max_runnable_wait=1: max_runnable_wait: duration 1 needs a unit"}},
		{[]string{"matrix", "--list", "--check", "rate_dip=2"}, exitUsage, []string{"--check rate_dip=2: rate_dip: the check has 2 thresholds"}},
		{[]string{"scenarios", "--check", "kernel_clean=on"}, exitUsage, []string{"--check kernel_clean=on: kernel_clean: the check has no threshold; kernel_clean=off turns it off"}},
		{[]string{"scenarios", "--check", "p99_wake_latency=20ms", "--check", "rate_dip=off", "--check", "kernel_clean=off"}, exitPass, []string{
			"CHECK KEY DEFAULT EFFECTIVE FAILS WHEN ABOVE/BELOW",
			"p99_wake_latency max_p99_wake_latency 1.5s 20ms a waking",
			"rate_dip rate_dip_pct, rate_dip_for 10, 1s skipped no cgroup's",
			"EFFECTIVE: under fifo with the --check flags",
			"EFFECTIVE also skips: kernel_clean",
		}},
		{[]string{"scenarios", "pingpong", "--scheduler", "starve", "--check", "max_gap=3s"}, exitPass, []string{
			"# Thresholds of pingpong under starve with the --check flags",
			"# max_gap max_gap 3s", "# fairness fairness_spread_pct skipped", "# rate_dip rate_dip_pct, rate_dip_for skipped",
		}},
		{[]string{"scenarios", "steady", "--check", "no_worker_crash=off"}, exitPass, []string{"# also skipped: no_worker_crash"}},
		{[]string{"run", "--compare", "none", "--compare-check", "fairnes=50"}, exitUsage, []string{`--compare-check fairnes=50: unknown check or threshold "fairnes"`}},
		{[]string{"run", "--compare-check", "fairness=50", "steady"}, exitUsage, []string{"compare checks given without a scheduler to compare with"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, &out, &out)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d (%v), want %d; output:\n%s", got, err, tc.code, out.String())
			}
			all := out.String()
			if err != nil {
				all += err.Error()
			}
			all = strings.Join(strings.Fields(all), " ")
			for _, w := range tc.out {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// With the flags, `scxvm scenarios NAME` stays a valid scenario file (the
// thresholds are comments) and the scenario is unchanged.
func TestScenarioTemplateWithChecks(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"scenarios", "pingpong", "--check", "throughput_cv=0.5"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	ss, err := scenariofile.Parse("pingpong.yaml", out.Bytes())
	if err != nil {
		t.Fatalf("output does not load back: %v\n%s", err, out.String())
	}
	want, _ := vmtest.LookupScenario("pingpong")
	if len(ss) != 1 || !reflect.DeepEqual(ss[0].Checks, want.Checks) {
		t.Errorf("loaded %+v, want the scenario's own checks %+v", ss, want.Checks)
	}
}

// scxvm matrix's flags are every scheduler's layer, over a file entry's
// own checks; without schedulers they are fifo's.
func TestMatrixCheckFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(file, []byte("schedulers:\n  - fifo\n  - name: scx_simple\n    checks: {max_gap: 5s, max_throughput_cv: 0.9, skip: [fairness]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _, err := parseMatrix([]string{"--check", "throughput_cv=0.5", "--check", "rate_dip=off", file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.spec(m.file)
	if err != nil {
		t.Fatal(err)
	}
	want := []spec.Checks{
		{Skip: []string{spec.CheckRateDip}, MaxThroughputCV: 0.5},
		{Skip: []string{spec.CheckFairness, spec.CheckRateDip}, MaxGap: 5 * time.Second, MaxThroughputCV: 0.5},
	}
	if len(s.Schedulers) != len(want) {
		t.Fatalf("schedulers %+v", s.Schedulers)
	}
	for i, w := range want {
		if !reflect.DeepEqual(s.Schedulers[i].Checks, w) {
			t.Errorf("schedulers[%d].checks = %+v, want %+v", i, s.Schedulers[i].Checks, w)
		}
	}
	m, _, err = parseMatrix([]string{"--check", "max_gap=3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = m.spec(""); err != nil || len(s.Schedulers) != 1 || s.Schedulers[0].Name != spec.SchedulerFIFO || s.Schedulers[0].Checks.MaxGap != 3*time.Second {
		t.Errorf("without schedulers: %+v, %v", s, err)
	}
}
