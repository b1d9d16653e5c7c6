package spec

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestChecksMaxRunnableWait(t *testing.T) {
	if got := (Checks{}).MaxRunnableWaitOrDefault(); got != DefaultMaxRunnableWait {
		t.Errorf("default %v, want %v", got, DefaultMaxRunnableWait)
	}
	if got := (Checks{MaxRunnableWait: 3 * time.Second}).MaxRunnableWaitOrDefault(); got != 3*time.Second {
		t.Errorf("set 3s, got %v", got)
	}
	for _, tc := range []struct {
		wait time.Duration
		ok   bool
	}{
		{0, true},
		{MinMaxRunnableWait, true},
		{10 * time.Second, true},
		{-time.Second, false},
		{MinMaxRunnableWait - 1, false},
	} {
		err := Checks{MaxRunnableWait: tc.wait}.Validate()
		var ve *ValidationError
		switch {
		case tc.ok && err != nil:
			t.Errorf("MaxRunnableWait %v: %v", tc.wait, err)
		case !tc.ok && (!errors.As(err, &ve) || ve.Path != "max_runnable_wait"):
			t.Errorf("MaxRunnableWait %v: error %v, want one naming max_runnable_wait", tc.wait, err)
		}
	}
	if err := (Checks{Skip: []string{CheckNoStalledTask}}).Validate(); err != nil {
		t.Errorf("skipping %s: %v", CheckNoStalledTask, err)
	}
}

func TestChecksResolveLayers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sched    Scheduler
		scenario Checks
		check    func(Checks) string // "" when as expected
	}{
		{"defaults", Scheduler{}, Checks{}, func(c Checks) string {
			if c.MaxP99WakeLatency != DefaultMaxP99WakeLatency || c.RateDipFor != DefaultRateDipFor || c.MaxGap != DefaultMaxGap {
				return "defaults not applied"
			}
			return ""
		}},
		{"scheduler table", Scheduler{Name: SchedulerStarve}, Checks{}, func(c Checks) string {
			if !c.Skips(CheckRateDip) {
				return "starve's layer does not skip rate_dip"
			}
			return ""
		}},
		{"scheduler field over table", Scheduler{Path: "/x/" + SchedulerStarve, Checks: Checks{MaxP99WakeLatency: time.Second}}, Checks{}, func(c Checks) string {
			if c.MaxP99WakeLatency != time.Second || !c.Skips(CheckRateDip) {
				return "scheduler layer lost"
			}
			return ""
		}},
		{"scenario over scheduler", Scheduler{Checks: Checks{MaxP99WakeLatency: time.Second, MaxThroughputCV: 3}}, Checks{MaxP99WakeLatency: 2 * time.Second, Skip: []string{CheckFairness}}, func(c Checks) string {
			switch {
			case c.MaxP99WakeLatency != 2*time.Second:
				return "scenario did not win"
			case c.MaxThroughputCV != 3:
				return "scheduler value not inherited"
			case c.MaxMigrationRatio != DefaultMaxMigrationRatio:
				return "default not inherited"
			case !c.Skips(CheckFairness):
				return "scenario skip lost"
			}
			return ""
		}},
	} {
		got := tc.scenario.Resolve(tc.sched)
		if msg := tc.check(got); msg != "" {
			t.Errorf("%s: %s: %+v", tc.name, msg, got)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: resolved checks invalid: %v", tc.name, err)
		}
	}
	// Layering does not alias the base's skip list.
	base := Checks{Skip: []string{CheckFairness}}
	_ = Checks{Skip: []string{CheckMaxGap}}.Layer(base)
	if len(base.Skip) != 1 {
		t.Errorf("Layer changed its base: %v", base.Skip)
	}
}

func TestChecksValidateRanges(t *testing.T) {
	for _, tc := range []struct {
		c    Checks
		path string // "" when valid
	}{
		{DefaultChecks(), ""},
		{Checks{MaxThroughputCV: -1}, "max_throughput_cv"},
		{Checks{MinNUMALocalityPct: 101}, "min_numa_locality_pct"},
		{Checks{MinNUMALocalityPct: 50}, ""},
		{Checks{RateDipPct: -5}, "rate_dip_pct"},
		{Checks{RateDipPct: 150}, "rate_dip_pct"},
		{Checks{RateDipFor: 50 * time.Millisecond}, "rate_dip_for"},
		{Checks{RateDipFor: -time.Second}, "rate_dip_for"},
		{Checks{MaxP99WakeLatency: -1}, "max_p99_wake_latency"},
		{Checks{MaxWakeLatencyCV: math.NaN()}, "max_wake_latency_cv"},
		{Checks{FairnessSpreadPct: 120}, "fairness_spread_pct"},
		{Checks{Skip: []string{CheckFairness, "latency"}}, "skip[1]"},
	} {
		err := tc.c.Validate()
		var ve *ValidationError
		switch {
		case tc.path == "" && err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case tc.path != "" && (!errors.As(err, &ve) || ve.Path != tc.path):
			t.Errorf("%+v: error %v, want one naming %s", tc.c, err, tc.path)
		}
	}
	// Through a scheduler and a scenario, the path names the whole field.
	err := Scheduler{Name: "fifo", Checks: Checks{RateDipPct: 200}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "checks.rate_dip_pct") {
		t.Errorf("scheduler checks: %v, want checks.rate_dip_pct", err)
	}
}

func TestCheckDocsCoverDefaults(t *testing.T) {
	docs := CheckDocs()
	for _, d := range docs {
		if !slices.Contains(CheckNames, d.Check) || d.Default == "" || d.Doc == "" {
			t.Errorf("incomplete doc %+v", d)
		}
	}
	// Every check with a threshold is documented.
	for _, name := range []string{CheckMaxGap, CheckFairness, CheckP99WakeLatency, CheckWakeLatencyCV, CheckThroughputCV, CheckMaxMigrationRatio, CheckNUMALocality, CheckRateDip, CheckNoStalledTask, CheckMinIterationRate} {
		if !slices.ContainsFunc(docs, func(d CheckDoc) bool { return d.Check == name }) {
			t.Errorf("check %s has no doc", name)
		}
	}
}

func TestSchedulerJSONOmitsEmptyChecks(t *testing.T) {
	b, err := json.Marshal(Scheduler{Name: "scx_simple"})
	if err != nil || strings.Contains(string(b), "checks") {
		t.Errorf("scheduler without checks marshals to %s (%v)", b, err)
	}
	b, _ = json.Marshal(Scheduler{Name: "scx_simple", Checks: Checks{RateDipPct: 5}})
	if !strings.Contains(string(b), `"checks":{"rate_dip_pct":5}`) {
		t.Errorf("scheduler with checks marshals to %s", b)
	}
}

// Every threshold key of CheckDocs is a yaml key of Checks, every yaml key
// but skip is one threshold's, and CheckKeys and CheckOfKey agree.
func TestCheckKeys(t *testing.T) {
	var tags []string
	ty := reflect.TypeFor[Checks]()
	for i := range ty.NumField() {
		name, _, _ := strings.Cut(ty.Field(i).Tag.Get("yaml"), ",")
		if name != "skip" {
			tags = append(tags, name)
		}
	}
	var keys []string
	for _, d := range CheckDocs() {
		for _, k := range CheckKeys(d.Check) {
			keys = append(keys, k)
			if got := CheckOfKey(k); got != d.Check {
				t.Errorf("CheckOfKey(%q) = %q, want %q", k, got, d.Check)
			}
		}
	}
	slices.Sort(tags)
	slices.Sort(keys)
	if !slices.Equal(tags, keys) {
		t.Errorf("threshold keys %q, Checks' yaml keys %q", keys, tags)
	}
	if CheckKeys(CheckKernelClean) != nil || CheckOfKey("skip") != "" || CheckOfKey(CheckFairness) != "" {
		t.Error("a check without a threshold, or no threshold's key, was given one")
	}
	if got := CheckKeys(CheckRateDip); !slices.Equal(got, []string{"rate_dip_pct", "rate_dip_for"}) {
		t.Errorf("CheckKeys(rate_dip) = %q", got)
	}
}

// Describe shows a layer's values, "off" for a zero threshold and
// "skipped" for a skipped check.
func TestChecksDescribe(t *testing.T) {
	c := Checks{MaxP99WakeLatency: 20 * time.Millisecond, MaxThroughputCV: 0.5, Skip: []string{CheckRateDip}}.Resolve(Scheduler{Name: "scx_mine"})
	got := map[string]string{}
	for _, d := range c.Describe() {
		got[d.Check] = d.Default
	}
	for check, want := range map[string]string{
		CheckP99WakeLatency: "20ms", CheckThroughputCV: "0.5", CheckRateDip: "skipped",
		CheckWakeLatencyCV: "off", CheckMaxGap: "2s", CheckFairness: "15",
	} {
		if got[check] != want {
			t.Errorf("%s: %q, want %q", check, got[check], want)
		}
	}
	if d := CheckDocs(); d[len(d)-2].Default != "10, 1s" {
		t.Errorf("rate_dip default %q", d[len(d)-2].Default)
	}
}

func TestChecksSources(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sched Scheduler
		sc    Checks
		want  map[string]string
	}{
		{"defaults", Scheduler{Name: SchedulerFIFO}, Checks{}, map[string]string{}},
		{"scenario", Scheduler{Name: SchedulerFIFO}, Checks{FairnessSpreadPct: 60, Skip: []string{CheckKernelClean}},
			map[string]string{CheckFairness: "the scenario", CheckKernelClean: "the scenario"}},
		{"the scheduler's checks under the scenario's",
			Scheduler{Name: SchedulerFIFO, Checks: Checks{FairnessSpreadPct: 30, MinIterationRate: 5}},
			Checks{FairnessSpreadPct: 60},
			map[string]string{CheckFairness: "the scenario", CheckMinIterationRate: "--check or Scheduler.Checks"}},
		{"scxvm's layer", Scheduler{Name: SchedulerStarve}, Checks{},
			map[string]string{CheckRateDip: "scxvm for starve"}},
		{"a value equal to the default sets nothing", Scheduler{Name: SchedulerFIFO},
			Checks{MaxGap: DefaultMaxGap}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.sc.Sources(tc.sched)
			if !maps.Equal(got, tc.want) {
				t.Errorf("Sources = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChecksIsZero(t *testing.T) {
	for _, tc := range []struct {
		c    Checks
		want bool
	}{
		{Checks{}, true},
		{Checks{Skip: []string{}}, true},
		{Checks{Skip: []string{CheckFairness}}, false},
		{Checks{MaxGap: time.Second}, false},
		{Checks{RateDipPct: 5}, false},
	} {
		if got := tc.c.IsZero(); got != tc.want {
			t.Errorf("%+v.IsZero() = %v, want %v", tc.c, got, tc.want)
		}
	}
}
