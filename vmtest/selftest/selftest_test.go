package selftest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/leakcheck"
	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/kselftest"
	"github.com/scxvm/scxvm/vmtest"
)

// TestMain fails the run when the tests leave processes, file
// descriptors, cgroups or temporary files behind.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }

func ptr[T any](v T) *T { return &v }

const passOut = "===== START =====\nTEST: a\nDESCRIPTION: the a test\nOUTPUT:\nok 1 a # \n=====  END  =====\n" +
	"===== START =====\nTEST: ab\nDESCRIPTION: the ab test\nOUTPUT:\nERR: ab.c:9\nwrong count\nnot ok 2 ab # \n=====  END  =====\n" +
	"\n\n=============================\n\nRESULTS:\n\nPASSED:  1\nSKIPPED: 0\nFAILED:  1\n"

// judge decides each test's status from the runner's output and from how
// its execution ended.
func TestJudge(t *testing.T) {
	run := kselftest.Run{Filter: "a", Tests: []string{"a", "ab"}}
	both := []string{"a", "ab"}
	type want struct {
		status kselftest.Status
		reason string // a part of the reason
	}
	for _, tc := range []struct {
		name     string
		sr       *vmtest.ScenarioResult
		selected []string
		want     map[string]want
	}{
		{"runner's verdicts", &vmtest.ScenarioResult{Passed: true, Payloads: []vmtest.PayloadResult{{ExitCode: ptr(1), Output: passOut}}}, both,
			map[string]want{"a": {kselftest.Pass, ""}, "ab": {kselftest.Fail, "wrong count (ab.c:9)"}}},
		{"an unselected test that ran along is not reported", &vmtest.ScenarioResult{Passed: true, Payloads: []vmtest.PayloadResult{{ExitCode: ptr(1), Output: passOut}}}, []string{"a"},
			map[string]want{"a": {kselftest.Pass, ""}}},
		{"killed at the timeout in the first test",
			&vmtest.ScenarioResult{Passed: true, Payloads: []vmtest.PayloadResult{{TimedOut: true, Signal: 9, Duration: 5 * time.Second,
				Output: "===== START =====\nTEST: a\nDESCRIPTION: the a test\nOUTPUT:\n"}}}, both,
			map[string]want{"a": {kselftest.Fail, "started but printed no result: killed after 5s"}, "ab": {kselftest.Fail, "printed no result for it: killed after 5s"}}},
		{"a kernel panic fails a test that passed",
			&vmtest.ScenarioResult{Failure: &vmtest.Failure{Kind: vmtest.FailPanic, Message: "kernel BUG: x"}, Payloads: []vmtest.PayloadResult{{ExitCode: ptr(1), Output: passOut}}}, both,
			map[string]want{"a": {kselftest.Fail, "kernel BUG: x"}, "ab": {kselftest.Fail, "wrong count"}}},
		{"the runner did not start", &vmtest.ScenarioResult{Passed: true, Payloads: []vmtest.PayloadResult{{Error: "start runner: exec format error"}}}, both,
			map[string]want{"a": {kselftest.Fail, "exec format error"}, "ab": {kselftest.Fail, "exec format error"}}},
		{"not run: the guest was lost before", nil, both,
			map[string]want{"a": {kselftest.Fail, "not run"}, "ab": {kselftest.Fail, "not run"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judge(run, tc.sr, tc.selected)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d results %+v, want %d", len(got), got, len(tc.want))
			}
			for _, r := range got {
				w, ok := tc.want[r.Name]
				if !ok {
					t.Errorf("unexpected result for %s", r.Name)
					continue
				}
				if r.Status != w.status || !strings.Contains(r.Reason, w.reason) {
					t.Errorf("%s: got %s %q, want %s with %q", r.Name, r.Status, r.Reason, w.status, w.reason)
				}
				if r.Filter != "a" {
					t.Errorf("%s: filter %q, want \"a\"", r.Name, r.Filter)
				}
			}
		})
	}
}

func TestSelectTests(t *testing.T) {
	all := []string{"exit", "minimal", "select_cpu_dfl"}
	if got, err := selectTests(all, Config{Tests: []string{"select_cpu_dfl", "exit"}}); err != nil || strings.Join(got, " ") != "exit select_cpu_dfl" {
		t.Errorf("Tests: got %q, %v; want the runner's order", got, err)
	}
	var ce *vmtest.ConfigError
	if _, err := selectTests(all, Config{Tests: []string{"exits"}}); !errors.As(err, &ce) || !strings.Contains(err.Error(), `"exits"`) {
		t.Errorf("unknown test: got %v, want a ConfigError naming it", err)
	}
	if _, err := selectTests(all, Config{Filter: "zzz"}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "minimal") {
		t.Errorf("filter matching nothing: got %v, want a ConfigError listing the tests", err)
	}
}

// e2eConfig returns the configuration for a selftests run on kernelName
// with the runner `make selftests` built, skipping when a prerequisite
// is missing.
func e2eConfig(t *testing.T, kernelName string) Config {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: end-to-end test boots a VM; drop -short to run it")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testenv.Prereq(t, "qemu-system-x86_64 not in PATH (run `make deps`)")
	}
	cache := kernel.DefaultCacheDir()
	k, err := kernel.Lookup(cache, kernelName)
	if err != nil {
		testenv.Prereq(t, "%v", err)
	}
	if _, err := kernel.CachedSelftests(cache, k); err != nil {
		testenv.Prereq(t, "%v (run `make selftests`)", err)
	}
	agent, err := vmtest.BuildAgent(t.Context(), testenv.CheckoutDir(filepath.Join(cache, "agent")))
	if err != nil {
		t.Fatalf("build agent: %v", err)
	}
	start := time.Now()
	return Config{
		VM: vmtest.Config{
			Kernel: kernelName, Agent: agent, ConsoleLog: filepath.Join(t.TempDir(), "console.log"),
			Logf: func(format string, args ...any) {
				t.Logf("%6.2fs "+format, append([]any{time.Since(start).Seconds()}, args...)...)
			},
		},
		NoBuild: true,
		Progress: func(r TestResult) {
			t.Logf("%6.2fs %s %s (%s) %s", time.Since(start).Seconds(), r.Status, r.Name, r.Duration.Round(time.Millisecond), r.Reason)
		},
	}
}

// A short subset of the selftests on both kernels: the runner built for
// each kernel runs in its guest and each test comes back as its own
// result with its description. minimal loads and unloads a scheduler;
// ddsp_vtimelocal_fail is one the kernel must eject (an error exit the
// test expects), so the harness must not call the ejection a failure.
func TestE2ESelftestsSubset(t *testing.T) {
	for _, kn := range []string{kernel.Debian, kernel.Build612} {
		t.Run(kn, func(t *testing.T) {
			cfg := e2eConfig(t, kn)
			cfg.Tests = []string{"minimal", "ddsp_vtimelocal_fail"}
			res, err := Run(t.Context(), cfg)
			if err != nil {
				if res != nil {
					for _, r := range res.Tests {
						t.Logf("%s %s: %s\n%s", r.Name, r.Status, r.Reason, r.Output)
					}
				}
				t.Fatalf("Run: %v", err)
			}
			if len(res.Tests) != 2 || res.Passed != 2 || res.Failed != 0 {
				t.Fatalf("want 2 tests passed, got %+v", res.Tests)
			}
			for _, r := range res.Tests {
				if r.Description == "" || r.Filter != r.Name || r.Duration <= 0 {
					t.Errorf("%s: want its description, its own run and a duration, got %+v", r.Name, r)
				}
			}
			if res.VM == nil || len(res.VM.Scenarios) != 2 || res.VM.Guest == nil || res.VM.Guest.CPUs != DefaultCPUs {
				t.Errorf("want one scenario per test on %d cpus, got %+v", DefaultCPUs, res.VM)
			}
			for _, r := range res.Runs {
				if r.Truncated {
					t.Errorf("run %s: judged on cut output, want the whole output saved on the host", r.Filter)
				}
			}
			if res.VM != nil {
				for _, sc := range res.VM.Scenarios {
					for _, p := range sc.Payloads {
						if p.OutputBytes == 0 || p.OutputMissing != 0 {
							t.Errorf("%s: payload output not streamed whole: %+v", sc.Name, p)
						}
					}
				}
			}
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			var back Result
			if err := json.Unmarshal(b, &back); err != nil || len(back.Tests) != 2 || back.Tests[0].Status != kselftest.Pass {
				t.Errorf("JSON round trip: %v, %+v", err, back.Tests)
			}
		})
	}
}

func TestRunResult(t *testing.T) {
	run := kselftest.Run{Filter: "a", Tests: []string{"a", "ab"}}
	r := runResult(run, &vmtest.ScenarioResult{Payloads: []vmtest.PayloadResult{{ExitCode: ptr(1), Output: passOut, Duration: time.Second}}})
	if r.Counts == nil || *r.Counts != (kselftest.Counts{Passed: 1, Failed: 1}) || r.ExitCode == nil || *r.ExitCode != 1 || r.Ended != "" || r.Duration != time.Second {
		t.Errorf("finished run: %+v", r)
	}
	r = runResult(run, &vmtest.ScenarioResult{Payloads: []vmtest.PayloadResult{{TimedOut: true, Signal: 9, Duration: 3 * time.Second, Output: "===== START =====\nTEST: a\n"}}})
	if r.Counts != nil || r.ExitCode != nil || !strings.Contains(r.Ended, "killed after 3s") {
		t.Errorf("killed run: %+v", r)
	}
	if r := runResult(run, nil); r.Ended != "not run" {
		t.Errorf("run that did not happen: %+v", r)
	}
}
