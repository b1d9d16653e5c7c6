package compare

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/scxvm/scxvm/vmtest"
)

// MaxRel bounds a relative threshold (1000%).
const MaxRel = 10

func (t Threshold) validate() error {
	switch {
	case math.IsNaN(t.Rel) || t.Rel < 0 || t.Rel > MaxRel:
		return fmt.Errorf("relative threshold %g is out of range (0 to %g, i.e. 0%% to %g%%)", t.Rel, float64(MaxRel), float64(MaxRel*100))
	case math.IsNaN(t.Abs) || math.IsInf(t.Abs, 0) || t.Abs < 0:
		return fmt.Errorf("absolute threshold %g is out of range (0 or more)", t.Abs)
	}
	return nil
}

// ParseThreshold reads a threshold override as the command line gives
// it, METRIC=REL[,ABS]: REL a percentage ("5%") or a fraction ("0.05"),
// ABS a number in the metric's unit or, for a latency, a duration
// ("50us"). An empty part keeps the metric's default ("wake_p99=,100us").
func ParseThreshold(s string) (string, Threshold, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", Threshold{}, fmt.Errorf("threshold %q: want METRIC=REL[,ABS], e.g. throughput=5%% or wake_p99=20%%,50us", s)
	}
	m, ok := vmtest.LookupMetric(name)
	if !ok {
		return "", Threshold{}, fmt.Errorf("threshold %q: unknown metric %q (metrics: %s)", s, name, strings.Join(MetricNames(), ", "))
	}
	t := DefaultThreshold(m)
	relText, absText, _ := strings.Cut(val, ",")
	if relText = strings.TrimSpace(relText); relText != "" {
		pct := strings.HasSuffix(relText, "%")
		v, err := strconv.ParseFloat(strings.TrimSuffix(relText, "%"), 64)
		if err != nil {
			return "", Threshold{}, fmt.Errorf("threshold %q: relative part %q is no number (want e.g. 5%% or 0.05)", s, relText)
		}
		if pct {
			v /= 100
		} else if v > 1 {
			return "", Threshold{}, fmt.Errorf("threshold %q: relative part %s is a fraction of the old value (%g%%); write %s%% for %s percent, or %g", s, relText, v*100, relText, relText, v/100)
		}
		t.Rel = v
	}
	if absText = strings.TrimSpace(absText); absText != "" {
		v, err := parseAbs(absText, m.Unit)
		if err != nil {
			return "", Threshold{}, fmt.Errorf("threshold %q: absolute part: %w", s, err)
		}
		t.Abs = v
	}
	if err := t.validate(); err != nil {
		return "", Threshold{}, fmt.Errorf("threshold %q: %w", s, err)
	}
	return name, t, nil
}

// parseAbs reads an absolute threshold in unit.
func parseAbs(s, unit string) (float64, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, nil
	}
	if unit == "ns" || unit == "ms" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is neither a number of %s nor a duration (e.g. 50us)", s, unit)
		}
		if unit == "ms" {
			return float64(d) / float64(time.Millisecond), nil
		}
		return float64(d), nil
	}
	return 0, fmt.Errorf("%q is no number of %s", s, unit)
}
