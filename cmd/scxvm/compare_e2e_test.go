package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/report"
)

// TestE2ECompareRepeat boots one guest that runs pingpong (1 s) twice
// under EEVDF and twice under the built-in fifo, alternating: the summary
// shows both schedulers' throughput and wake-up latencies per cgroup, the
// JSON result holds the four runs and their medians, and `scxvm compare`
// of the result with itself finds nothing.
func TestE2ECompareRepeat(t *testing.T) {
	guestTest(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	// A --compare scheduler the kernel does not have is named as such.
	var buf bytes.Buffer
	err := run(ctx, []string{"run", "--accel", "tcg", "--kernel", kernel.Debian, "--compare", "scx_nope"}, &buf, &buf)
	if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), `compare: unknown scheduler "scx_nope"`) {
		t.Errorf("--compare scx_nope: exit %d, %v; want %d and the compare field named", code, err, exitUsage)
	}

	sc, err := vmtest.LookupScenario("pingpong")
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = time.Second
	data, err := yaml.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file, out := filepath.Join(dir, "pingpong.yaml"), filepath.Join(dir, "result.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	err = run(ctx, []string{"run", "--accel", "tcg", "--kernel", kernel.Debian, "--scheduler", "none", "--compare", "fifo", "--repeat", "2",
		"--console", filepath.Join(dir, "console.log"), "--json", out, file}, &buf, &buf)
	t.Logf("scxvm run:\n%s", buf.String())
	if code := exitCode(err); code != exitPass && code != exitFail {
		t.Fatalf("scxvm run: exit %d (%v), want a verdict", code, err)
	}
	text := strings.Join(strings.Fields(buf.String()), " ")
	for _, want := range []string{
		"pingpong none run 2", "pingpong fifo (comparison) run 2",
		"none against fifo per cgroup", "medians of 2 runs",
		"THROUGHPUT none fifo RATIO IT/S RATIO WAKE P50 none fifo WAKE P99 none fifo",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	res, err := report.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != 4 || res.Compare != "fifo" || res.Repeat != 2 {
		t.Fatalf("result: %d runs, compare %q, repeat %d; want 4, fifo, 2", len(res.Scenarios), res.Compare, res.Repeat)
	}
	for i, sr := range res.Scenarios {
		wantSched, wantBase := "none", i%2 == 1
		if wantBase {
			wantSched = "fifo"
		}
		if sr.Scheduler != wantSched || sr.Baseline != wantBase || sr.Repeat != i/2 || len(sr.Workers) == 0 {
			t.Errorf("run %d: %s baseline=%v repeat=%d, %d workers; want %s %v %d", i, sr.Scheduler, sr.Baseline, sr.Repeat, len(sr.Workers), wantSched, wantBase, i/2)
		}
	}
	if len(res.Summary) != 2 {
		t.Fatalf("summary has %d groups, want 2: %+v", len(res.Summary), res.Summary)
	}
	for _, s := range res.Summary {
		if s.Runs != 2 {
			t.Errorf("%s/%s: %d runs, want 2", s.Name, s.Scheduler, s.Runs)
		}
		for _, m := range []string{"throughput", "wake_p50", "wake_p99"} {
			if ms := s.Metric(m, "pingpong"); ms == nil || len(ms.Values) != 2 || ms.Median <= 0 || ms.Min > ms.Median || ms.Median > ms.Max {
				t.Errorf("%s/%s %s: %+v", s.Name, s.Scheduler, m, ms)
			}
		}
	}

	buf.Reset()
	if err := run(ctx, []string{"compare", out, out}, &buf, &buf); err != nil {
		t.Errorf("scxvm compare of a result with itself: %v\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "0 regressions") {
		t.Errorf("scxvm compare output:\n%s", buf.String())
	}
}
