package spec

import (
	"math"
	"slices"
)

// LatencySummary summarises a latency sample.
type LatencySummary struct {
	Count uint64 `msgpack:"count" json:"count"`
	P50   uint64 `msgpack:"p50" json:"p50"`
	P90   uint64 `msgpack:"p90" json:"p90"`
	P99   uint64 `msgpack:"p99" json:"p99"`
	P999  uint64 `msgpack:"p999" json:"p999"`
	Max   uint64 `msgpack:"max" json:"max"`
}

// Percentiles returns the p50/p90/p99/p99.9/max of samples (nearest
// rank). samples is not modified. An empty sample gives the zero value.
func Percentiles(samples []uint64) LatencySummary {
	if len(samples) == 0 {
		return LatencySummary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return LatencySummary{
		Count: uint64(len(s)),
		P50:   rank(s, 0.50),
		P90:   rank(s, 0.90),
		P99:   rank(s, 0.99),
		P999:  rank(s, 0.999),
		Max:   s[len(s)-1],
	}
}

// Percentile returns the q-quantile (0 <= q <= 1, nearest rank) of samples,
// or 0 for an empty sample.
func Percentile(samples []uint64, q float64) uint64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return rank(s, q)
}

// rank is the nearest-rank q-quantile of sorted s.
func rank(s []uint64, q float64) uint64 {
	q = min(max(q, 0), 1)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// CV returns the coefficient of variation (population standard deviation
// over mean) of values, or 0 when there are fewer than two values or the
// mean is 0.
func CV(values []float64) float64 {
	if len(values) < 2 {
		return 0
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	mean := sum / float64(len(values))
	if mean == 0 {
		return 0
	}
	var ss float64
	for _, v := range values {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss/float64(len(values))) / math.Abs(mean)
}

// CVUint64 is CV over integer values.
func CVUint64(values []uint64) float64 {
	f := make([]float64, len(values))
	for i, v := range values {
		f[i] = float64(v)
	}
	return CV(f)
}

// LatencyPercentiles summarises r.ResumeLatenciesNs; Count is the total
// number of samples taken (ResumeLatencyCount), not the reservoir size.
func (r *WorkerReport) LatencyPercentiles() LatencySummary {
	p := Percentiles(r.ResumeLatenciesNs)
	p.Count = r.ResumeLatencyCount
	return p
}

// P99 is the 99th percentile resume latency in ns (0 without samples).
func (r *WorkerReport) P99() uint64 { return Percentile(r.ResumeLatenciesNs, 0.99) }

// LatencyCV is the coefficient of variation of the resume latencies.
func (r *WorkerReport) LatencyCV() float64 { return CVUint64(r.ResumeLatenciesNs) }

// IterationRate is iterations per second of wall time (0 without wall time).
func (r *WorkerReport) IterationRate() float64 {
	if r.WallTimeNs == 0 {
		return 0
	}
	return float64(r.Iterations) / (float64(r.WallTimeNs) / 1e9)
}
