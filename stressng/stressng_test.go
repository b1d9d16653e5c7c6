package stressng

import (
	"slices"
	"testing"
	"time"
)

// stress-ng 0.15.06 (Debian 12), --metrics-brief and --metrics.
const stressNGBrief = `stress-ng: info:  [2878] setting to a 1 second run per stressor
stress-ng: info:  [2878] dispatching hogs: 1 cpu
stress-ng: metrc: [2878] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s
stress-ng: metrc: [2878]                           (secs)    (secs)    (secs)   (real time) (usr+sys time)
stress-ng: metrc: [2878] cpu                 922      1.00      0.75      0.02       922.11        1201.34
stress-ng: info:  [2878] successful run completed in 1.00s
`

const stressNGFull = `stress-ng: metrc: [3134] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s CPU used per       RSS Max
stress-ng: metrc: [3134]                           (secs)    (secs)    (secs)   (real time) (usr+sys time) instance (%)          (KB)
stress-ng: metrc: [3134] cpu                 881      1.00      0.70      0.01       877.31        1248.29        70.28          7352
stress-ng: metrc: [3134] vm                   12      1.01      0.10      0.30        11.88          30.00        20.00          9000
stress-ng: metrc: [3134] miscellaneous metrics:
stress-ng: metrc: [3134] cpu            1234.56 Mops per second (geometric mean of per stressor bogo-op rates)
`

// Older stress-ng printed the table as info lines.
const stressNGOld = `stress-ng: info:  [77] stressor       bogo ops real time  usr time  sys time   bogo ops/s   bogo ops/s
stress-ng: info:  [77] cpu                  40      2.01      1.99      0.00        19.90        20.10
`

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []Metric
	}{
		{"brief", stressNGBrief, []Metric{{Stressor: "cpu", BogoOps: 922, RealTime: 1, UsrTime: 0.75, SysTime: 0.02, OpsPerSecReal: 922.11, OpsPerSecCPU: 1201.34}}},
		{"full", stressNGFull, []Metric{
			{Stressor: "cpu", BogoOps: 881, RealTime: 1, UsrTime: 0.7, SysTime: 0.01, OpsPerSecReal: 877.31, OpsPerSecCPU: 1248.29},
			{Stressor: "vm", BogoOps: 12, RealTime: 1.01, UsrTime: 0.1, SysTime: 0.3, OpsPerSecReal: 11.88, OpsPerSecCPU: 30},
		}},
		{"old info lines", stressNGOld, []Metric{{Stressor: "cpu", BogoOps: 40, RealTime: 2.01, UsrTime: 1.99, OpsPerSecReal: 19.9, OpsPerSecCPU: 20.1}}},
		{"no metrics", "stress-ng: error: [5] cpu: cannot run\n", nil},
		{"not stress-ng", "cpu 1 2 3 4 5 6\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseMetrics(tt.out)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPayload(t *testing.T) {
	p := Payload(2, 1500*time.Millisecond)
	want := []string{"--cpu", "2", "--aggressive", "-t", "2s", "--metrics-brief"}
	if p.Path != Path || !p.Wait || !slices.Equal(p.Args, want) {
		t.Errorf("got %+v, want path %s, wait, args %q", p, Path, want)
	}
}
