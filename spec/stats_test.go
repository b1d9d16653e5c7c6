package spec

import (
	"math"
	"testing"
)

func TestPercentiles(t *testing.T) {
	var s []uint64
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		s = append(s, uint64(i))
	}
	p := Percentiles(s)
	want := LatencySummary{Count: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if p != want {
		t.Errorf("Percentiles = %+v, want %+v", p, want)
	}
	if s[0] != 1000 {
		t.Error("Percentiles sorted its input")
	}
	if (Percentiles(nil) != LatencySummary{}) {
		t.Error("empty sample: non-zero summary")
	}
	if got := Percentiles([]uint64{7}); got.P50 != 7 || got.P999 != 7 || got.Max != 7 {
		t.Errorf("one sample: %+v", got)
	}
	r := WorkerReport{ResumeLatenciesNs: Samples{5, 1, 3}, ResumeLatencyCount: 30}
	if got := r.LatencyPercentiles(); got.Count != 30 || got.P50 != 3 || got.Max != 5 {
		t.Errorf("LatencyPercentiles = %+v", got)
	}
	if r.P99() != 5 {
		t.Errorf("P99 = %d", r.P99())
	}
}

func TestCV(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 0},
		{[]float64{2, 2, 2}, 0},
		{[]float64{1, 3}, 0.5},
		{[]float64{0, 0}, 0},
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 0.4},
	}
	for _, tt := range tests {
		if got := CV(tt.in); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("CV(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := CVUint64([]uint64{1, 3}); got != 0.5 {
		t.Errorf("CVUint64 = %v", got)
	}
	r := WorkerReport{Iterations: 500, WallTimeNs: 2e9}
	if r.IterationRate() != 250 {
		t.Errorf("IterationRate = %v", r.IterationRate())
	}
}
