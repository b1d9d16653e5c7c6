// Package stressng runs stress-ng beside a scenario's workers, the way the
// sched_ext community's CI does, and reads its metrics table back.
package stressng

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// Path is where Payload expects stress-ng in the guest.
// Put the host's binary there (its shared libraries come along):
//
//	cfg.ExtraFiles = map[string]string{vmtest.Path: "/usr/bin/stress-ng"}
const Path = "/usr/bin/stress-ng"

// Payload returns a payload that runs stress-ng's cpu stressor
// beside the workers the way the sched_ext community's CI does:
// `stress-ng --cpu N --aggressive -t S --metrics-brief`. The scenario
// waits for it; give the scenario a Duration of at least d. Its metrics
// come back in vmtest.PayloadResult.StressNG.
func Payload(cpus int, d time.Duration) spec.Payload {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	return spec.Payload{
		Name: "stress-ng",
		Path: Path,
		Args: []string{"--cpu", strconv.Itoa(cpus), "--aggressive", "-t", fmt.Sprintf("%ds", secs), "--metrics-brief"},
		Wait: true,
	}
}

// Metric is one stressor's row of stress-ng's metrics table
// (--metrics or --metrics-brief).
type Metric struct {
	Stressor string `json:"stressor"`
	// BogoOps is the stressor's count of operations ("bogo ops").
	BogoOps uint64 `json:"bogo_ops"`
	// RealTime, UsrTime and SysTime are in seconds.
	RealTime float64 `json:"real_time_s"`
	UsrTime  float64 `json:"usr_time_s"`
	SysTime  float64 `json:"sys_time_s"`
	// OpsPerSecReal and OpsPerSecCPU are bogo ops per second of real and
	// of usr+sys time.
	OpsPerSecReal float64 `json:"bogo_ops_per_s_real"`
	OpsPerSecCPU  float64 `json:"bogo_ops_per_s_cpu"`
}

// ParseMetrics extracts the metrics rows from stress-ng's output.
// Rows are the "metrc:" (stress-ng >= 0.15) or "info:" (older) lines
// whose fields after the pid are a stressor name and six numbers; headers
// and other lines are skipped.
func ParseMetrics(output string) []Metric {
	var out []Metric
	for _, line := range strings.Split(output, "\n") {
		_, rest, ok := strings.Cut(line, "stress-ng: ")
		if !ok {
			continue
		}
		tag, rest, ok := strings.Cut(rest, ":")
		if !ok || (strings.TrimSpace(tag) != "metrc" && strings.TrimSpace(tag) != "info") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 0 && strings.HasPrefix(f[0], "[") { // [pid]
			f = f[1:]
		}
		if len(f) < 7 {
			continue
		}
		ops, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		var nums [5]float64
		bad := false
		for i := range nums {
			if nums[i], err = strconv.ParseFloat(f[2+i], 64); err != nil {
				bad = true
				break
			}
		}
		if bad {
			continue
		}
		out = append(out, Metric{
			Stressor: f[0], BogoOps: ops,
			RealTime: nums[0], UsrTime: nums[1], SysTime: nums[2],
			OpsPerSecReal: nums[3], OpsPerSecCPU: nums[4],
		})
	}
	return out
}
