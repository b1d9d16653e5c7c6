package check

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// RateSample is one progress sample's rates: At is the time since the
// workers started, Rates the iterations per second of each cgroup's
// workers since the previous sample.
type RateSample struct {
	At    time.Duration      `json:"at_ns"`
	Rates map[string]float64 `json:"rates"`
}

// rateDips finds, per cgroup, the longest run of consecutive samples whose
// rate stays below pct percent of the cgroup's median rate, and fails
// when it lasts longer than limit. A run lasts from the sample before its
// first low sample (where the low interval began) to its last low sample.
func rateDips(samples []RateSample, pct float64, limit time.Duration) []Failure {
	series := map[string][]int{} // cgroup -> indexes of samples that carry it
	for i, s := range samples {
		for cg := range s.Rates {
			series[cg] = append(series[cg], i)
		}
	}
	names := make([]string, 0, len(series))
	for cg := range series {
		names = append(names, cg)
	}
	sort.Strings(names)
	var out []Failure
	for _, cg := range names {
		idx := series[cg]
		rates := make([]float64, len(idx))
		for j, i := range idx {
			rates[j] = samples[i].Rates[cg]
		}
		med := median(rates)
		if med <= 0 {
			continue // a cgroup that mostly did nothing has no rate to dip from
		}
		floor := med * pct / 100
		var worst, cur time.Duration
		var worstFrom time.Duration
		var worstLow float64
		start := -1
		for j, i := range idx {
			if rates[j] >= floor {
				start = -1
				continue
			}
			if start < 0 {
				start = j
			}
			from := time.Duration(0)
			if j0 := idx[start]; j0 > 0 {
				from = samples[j0-1].At
			}
			cur = samples[i].At - from
			if cur > worst {
				worst, worstFrom = cur, from
				worstLow = slices.Max(rates[start : j+1])
			}
		}
		if worst > limit {
			out = append(out, Failure{
				Check: spec.CheckRateDip, Cgroup: cg, Worker: -1,
				Message: fmt.Sprintf("progress rate at most %.1f/s (below %.0f%% of its median %.1f/s) for %v from %v after start (limit %v)",
					worstLow, pct, med, worst.Round(time.Millisecond), worstFrom.Round(time.Millisecond), limit),
			})
		}
	}
	return out
}

// median is the middle value of v (the mean of the two middle ones for an
// even count); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
