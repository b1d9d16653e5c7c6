package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

func TestPerfResult(t *testing.T) {
	out := "# Running 'sched/pipe' benchmark:\n# Executed 2000 pipe operations between two processes\n\n     Total time: 0.086 [sec]\n\n      43.010000 usecs/op\n          23250 ops/sec\n"
	for _, tc := range []struct {
		name    string
		perf    string
		payload []vmtest.PayloadResult
		want    float64
		err     string
	}{
		{"ok", "/usr/bin/perf", []vmtest.PayloadResult{{Name: "perf", Output: out}}, 23250, ""},
		{"no perf", "", nil, 0, "install linux-perf"},
		{"not run", "/usr/bin/perf", nil, 0, "did not run"},
		{"garbage", "/usr/bin/perf", []vmtest.PayloadResult{{Name: "perf", ExitCode: new(127), Output: "exec: no such file\n"}}, 0, "exit 127, no ops/sec in output: exec: no such file"},
		{"did not start", "/usr/bin/perf", []vmtest.PayloadResult{{Name: "perf", Error: "start perf: fork/exec /usr/bin/perf: no such file or directory"}}, 0, "start perf: fork/exec /usr/bin/perf: no such file or directory, no ops/sec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &vmtest.Result{Scenarios: []vmtest.ScenarioResult{{Name: "perf-0", Payloads: tc.payload}}}
			got, err := perfResult(res, tc.perf, "perf-0")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestReportOutput(t *testing.T) {
	rep := &Report{Started: time.Now(), Wall: time.Minute, Kernel: "debian", Accel: "tcg", Transport: "virtio-serial", Rows: []Row{
		{Name: "boot to Hello", Value: 900, Unit: "ms", Display: "900 ms", Baseline: "minimal init 1000 ms (0.90x)", Target: "<= 1.15x minimal init", Met: met(true)},
		{Name: "overhead", Display: "200 ms", Target: "< 150 ms", Met: met(false)},
		{Name: "throughput", Display: "30 MB/s"},
		failed("spawn", "< 500 ms", errors.New("0/256 reports")),
	}}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2+len(rep.Rows) {
		t.Fatalf("%d lines, want header, column titles and %d rows:\n%s", len(lines), len(rep.Rows), b.String())
	}
	for i, want := range []string{"yes", "NO", "(report only)", "not measured: 0/256 reports"} {
		if !strings.Contains(lines[2+i], want) {
			t.Errorf("row %d %q lacks %q", i, lines[2+i], want)
		}
	}
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(rep.Rows) || back.Rows[0].Met == nil || !*back.Rows[0].Met || back.Rows[2].Met != nil || back.Rows[3].Error != "0/256 reports" {
		t.Errorf("JSON round trip lost data: %+v", back.Rows)
	}
	if !bytes.Contains(data, []byte(`"<= 1.15x minimal init"`)) {
		t.Errorf("targets are escaped in the JSON:\n%s", data)
	}
}

func TestErrorLine(t *testing.T) {
	got := errorLine("progress\nscxvm: checks_failed in scenario \"steady\": 1 check(s) failed\nscxvm: exit 1: FAIL\n")
	if want := `scxvm: checks_failed in scenario "steady": 1 check(s) failed`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{400, 100, 120, 130}, 130}, // the upper of the middle two
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := median([]time.Duration{3, 9, 1}); got != 3 {
		t.Errorf("median of durations = %v, want 3", got)
	}
}

func TestRSSRow(t *testing.T) {
	ran := &vmtest.Result{BootToHello: 3 * time.Second, Scenarios: []vmtest.ScenarioResult{{Name: "steady", Timings: &vmtest.JobTimings{Run: 2 * time.Second}}}}
	checksFailed := errors.New("exit status 1")
	for _, tc := range []struct {
		name    string
		hwm     int
		res     *vmtest.Result
		runErr  error
		stderr  string
		met     *bool
		wantErr string
	}{
		{"passed", 40 << 10, ran, nil, "", met(true), ""},
		{"over target", 70 << 10, ran, nil, "", met(false), ""},
		// A failed check is still a whole run of the driver.
		{"checks failed", 40 << 10, ran, checksFailed, "scxvm: checks_failed\n", met(true), ""},
		// The run died before booting: its peak says nothing.
		{"no boot", 20 << 10, nil, errors.New("exit status 128"), "scxvm: start qemu: no such file\nscxvm: exit 128\n", nil, "the run did not get the scenario's result (exit status 128: scxvm: start qemu: no such file)"},
		{"booted, no result", 30 << 10, &vmtest.Result{BootToHello: time.Second}, errors.New("exit status 129"), "scxvm: guest lost\n", nil, "the run did not get the scenario's result"},
		{"no VmHWM", 0, ran, nil, "", nil, "no VmHWM read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := rssRow(tc.hwm, tc.res, tc.runErr, tc.stderr)
			if (row.Met == nil) != (tc.met == nil) || row.Met != nil && *row.Met != *tc.met {
				t.Errorf("Met = %v, want %v", row.Met, tc.met)
			}
			if !strings.Contains(row.Error, tc.wantErr) || (tc.wantErr == "") != (row.Error == "") {
				t.Errorf("Error = %q, want %q", row.Error, tc.wantErr)
			}
			if tc.wantErr != "" && !strings.HasPrefix(row.status(), "not measured: ") {
				t.Errorf("status %q of an unmeasured row", row.status())
			}
		})
	}
}

func TestPairRowSamples(t *testing.T) {
	pairOK := func(name string) vmtest.ScenarioResult {
		return vmtest.ScenarioResult{Name: name, Workers: []check.Worker{{Report: spec.WorkerReport{Completed: true, Iterations: 1000, WallTimeNs: 1e9}}}}
	}
	perfOK := func(name string, ops string) vmtest.ScenarioResult {
		return vmtest.ScenarioResult{Name: name, Payloads: []vmtest.PayloadResult{{Name: "perf", ExitCode: new(0), Output: ops + " ops/sec\n"}}}
	}
	perfFailed := func(name string) vmtest.ScenarioResult {
		return vmtest.ScenarioResult{Name: name, Payloads: []vmtest.PayloadResult{{Name: "perf", Error: "start perf: no such file"}}}
	}
	b := &bencher{cfg: Config{Perf: "/usr/bin/perf"}}
	for _, tc := range []struct {
		name      string
		scenarios []vmtest.ScenarioResult
		ok        int
		met       *bool
		status    string
	}{
		{"all rounds", []vmtest.ScenarioResult{pairOK("p-0"), perfOK("perf-0", "1000"), pairOK("p-1"), perfOK("perf-1", "1000"), pairOK("p-2"), perfOK("perf-2", "1000")}, 3, met(true), "yes"},
		{"one perf failed", []vmtest.ScenarioResult{pairOK("p-0"), perfOK("perf-0", "1000"), pairOK("p-1"), perfFailed("perf-1"), pairOK("p-2"), perfOK("perf-2", "1000")}, 2, met(true), "yes (2/3 samples)"},
		{"one pair failed", []vmtest.ScenarioResult{pairOK("p-0"), perfOK("perf-0", "4000"), perfOK("perf-1", "1000"), pairOK("p-2"), perfOK("perf-2", "4000")}, 2, met(false), "NO (2/3 samples)"},
		{"no perf", []vmtest.ScenarioResult{pairOK("p-0"), perfFailed("perf-0"), pairOK("p-1"), perfFailed("perf-1"), pairOK("p-2"), perfFailed("perf-2")}, 3, nil, "not measured: no perf baseline"},
		{"no pair", []vmtest.ScenarioResult{perfOK("perf-0", "1000")}, 0, nil, "not measured: round 2: scenario did not run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := b.pairRow(&vmtest.Result{Scenarios: tc.scenarios}, "pairs", "p", ">= 0.9x perf")
			if (row.Met == nil) != (tc.met == nil) || row.Met != nil && *row.Met != *tc.met {
				t.Errorf("Met = %v, want %v (%+v)", row.Met, tc.met, row)
			}
			if row.Error == "" && row.SamplesOK != tc.ok {
				t.Errorf("SamplesOK = %d, want %d", row.SamplesOK, tc.ok)
			}
			if got := row.status(); !strings.HasPrefix(got, tc.status) {
				t.Errorf("status %q, want %q", got, tc.status)
			}
		})
	}
}
