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

	"github.com/scxvm/scxvm/vmtest"
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
		{"garbage", "/usr/bin/perf", []vmtest.PayloadResult{{Name: "perf", ExitCode: 127, Output: "exec: no such file\n"}}, 0, "exit 127, no ops/sec in output: exec: no such file"},
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
