package check

import (
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// ms is a duration in ms since the workers started.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// steadyRates is 20 samples, 100 ms apart, of two cgroups at 100/s and
// 50/s.
func steadyRates() []RateSample {
	var out []RateSample
	for i := 1; i <= 20; i++ {
		out = append(out, RateSample{At: ms(100 * i), Rates: map[string]float64{"a": 100, "b": 50}})
	}
	return out
}

func TestEvaluateLatencyPlacementAndRates(t *testing.T) {
	twoNodes := []int{0, 1}
	for _, tc := range []struct {
		name string
		edit func(*Input)
		want []string // "check: substring", in order; nil means pass
	}{
		{"defaults pass healthy evidence", func(*Input) {}, nil},
		{"throughput cv", func(in *Input) {
			in.Workers[1].Report.Iterations = 10 // 5/s beside 500/s
			in.Scenario.Checks.MaxThroughputCV = 0.5
		}, []string{"throughput_cv: iterations/s CV 0.98 above 0.50 in workload set 0: worker 1 did 5.0/s, worker 0 500.0/s"}},
		{"throughput cv within limit", func(in *Input) {
			in.Workers[1].Report.Iterations = 800
			in.Scenario.Checks.MaxThroughputCV = 0.5
		}, nil},
		{"throughput cv skipped", func(in *Input) {
			in.Workers[1].Report.Iterations = 10
			in.Scenario.Checks.MaxThroughputCV = 0.5
			in.Scenario.Checks.Skip = []string{spec.CheckThroughputCV}
		}, nil},
		{"numa locality far from home", func(in *Input) {
			in.CPUNode = twoNodes
			in.Scenario.Checks.MinNUMALocalityPct = 60
			in.Workers[0].Report.NumaPages = []uint64{10, 90} // ran on cpu 0 (node 0)
		}, []string{"numa_locality: 10.0% of its 100 resident pages on its home node 0"}},
		{"numa locality at home", func(in *Input) {
			in.CPUNode = twoNodes
			in.Scenario.Checks.MinNUMALocalityPct = 60
			in.Workers[0].Report.NumaPages = []uint64{90, 10}
		}, nil},
		{"numa home from migrations", func(in *Input) {
			in.CPUNode = twoNodes
			in.Scenario.Checks.MinNUMALocalityPct = 60
			in.Scenario.Cgroups[0].CPUs = ""
			r := &in.Workers[0].Report
			r.CPUsUsed = []int{0, 1}
			// cpu 0 for 0.1 s, then cpu 1 for the remaining 1.9 s: home is node 1.
			r.Migrations = []spec.Migration{{AtNs: uint64(ms(100)), FromCPU: 0, ToCPU: 1}}
			r.NumaPages = []uint64{90, 10}
		}, []string{"numa_locality: 10.0% of its 100 resident pages on its home node 1"}},
		{"numa locality ignored on one node", func(in *Input) {
			in.CPUNode = []int{0, 0}
			in.Scenario.Checks.MinNUMALocalityPct = 60
			in.Workers[0].Report.NumaPages = []uint64{10, 90}
		}, nil},
		{"rate dip", func(in *Input) {
			for i := 5; i < 13; i++ { // b at 0/s from 0.5 s to 1.3 s
				in.Rates[i].Rates["b"] = 0
			}
			in.Scenario.Checks.RateDipPct, in.Scenario.Checks.RateDipFor = 10, 500*time.Millisecond
		}, []string{"rate_dip [b]: progress rate at most 0.0/s (below 10% of its median 50.0/s) for 800ms from 500ms after start while other cgroups progressed (limit 500ms)"}},
		{"rate dip shorter than the limit", func(in *Input) {
			for i := 5; i < 8; i++ {
				in.Rates[i].Rates["b"] = 0
			}
			in.Scenario.Checks.RateDipPct, in.Scenario.Checks.RateDipFor = 10, 500*time.Millisecond
		}, nil},
		{"rate above the floor is no dip", func(in *Input) {
			for i := 5; i < 15; i++ {
				in.Rates[i].Rates["b"] = 6 // 12 % of 50/s
			}
			in.Scenario.Checks.RateDipPct, in.Scenario.Checks.RateDipFor = 10, 500*time.Millisecond
		}, nil},
		{"every cgroup slowing at once is no dip", func(in *Input) {
			for i := 5; i < 13; i++ {
				in.Rates[i].Rates["a"], in.Rates[i].Rates["b"] = 0, 0
			}
			in.Scenario.Checks.RateDipPct, in.Scenario.Checks.RateDipFor = 10, 500*time.Millisecond
		}, nil},
		{"dip from the start", func(in *Input) {
			for i := 0; i < 8; i++ {
				in.Rates[i].Rates["a"] = 1
			}
			in.Scenario.Checks.RateDipPct, in.Scenario.Checks.RateDipFor = 10, 500*time.Millisecond
		}, []string{"rate_dip [a]: for 800ms from 0s after start"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Scenario: twoCgroups(), Workers: healthy(), Sched: true, EnableSeqStart: 1, EnableSeqEnd: 1, Rates: steadyRates()}
			in.Scenario.Checks = spec.DefaultChecks()
			tc.edit(&in)
			got := Evaluate(in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d failures %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				check, sub, _ := strings.Cut(w, ": ")
				if got[i].String() == "" || !strings.HasPrefix(got[i].String(), check) || !strings.Contains(got[i].Message, sub) {
					t.Errorf("failure %d = %s, want %s containing %q", i, got[i], check, sub)
				}
			}
		})
	}
}
