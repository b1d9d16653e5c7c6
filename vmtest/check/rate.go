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
// rate stays below pct percent of the cgroup's median rate while another
// cgroup progresses at or above pct percent of its own median, and fails
// when it lasts longer than limit. A run lasts from the sample before its
// first low sample (where the low interval began) to its last low sample.
// Every cgroup slowing at once is a pause of the whole guest (under TCG,
// often the host's doing), which max_gap and no_stalled_task judge; a
// scenario of a single cgroup therefore never fails this check.
func rateDips(samples []RateSample, pct float64, limit time.Duration) []Failure {
	meds := map[string]float64{}
	series := map[string][]float64{}
	for _, s := range samples {
		for cg, r := range s.Rates {
			series[cg] = append(series[cg], r)
		}
	}
	names := make([]string, 0, len(series))
	for cg, rs := range series {
		names = append(names, cg)
		meds[cg] = median(rs)
	}
	sort.Strings(names)
	progressing := func(s RateSample, cg string) bool {
		r, ok := s.Rates[cg]
		return ok && meds[cg] > 0 && r >= meds[cg]*pct/100
	}
	var out []Failure
	for _, cg := range names {
		med := meds[cg]
		if med <= 0 {
			continue // a cgroup that mostly did nothing has no rate to dip from
		}
		var worst, worstFrom time.Duration
		var worstLow float64
		start, low := -1, 0.0
		for i, s := range samples {
			r, ok := s.Rates[cg]
			others := slices.ContainsFunc(names, func(o string) bool { return o != cg && progressing(s, o) })
			if !ok || r >= med*pct/100 || !others {
				start = -1
				continue
			}
			if start < 0 {
				start, low = i, r
			}
			low = max(low, r)
			from := time.Duration(0)
			if start > 0 {
				from = samples[start-1].At
			}
			if d := s.At - from; d > worst {
				worst, worstFrom, worstLow = d, from, low
			}
		}
		if worst > limit {
			out = append(out, Failure{
				Check: spec.CheckRateDip, Cgroup: cg, Worker: -1,
				Message: fmt.Sprintf("progress rate at most %.1f/s (below %.0f%% of its median %.1f/s) for %v from %v after start while other cgroups progressed (limit %v)",
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
