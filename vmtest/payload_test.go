package vmtest

import (
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
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

func TestPayloadResultParsesMetrics(t *testing.T) {
	got := payloadResult(protocol.PayloadResult{Name: "stress-ng", OutputTail: stressNGBrief, Duration: time.Second})
	if len(got.StressNG) != 1 || got.StressNG[0].BogoOps != 922 || got.Duration != time.Second || got.Output != stressNGBrief {
		t.Errorf("got %+v", got)
	}
	got = payloadResult(protocol.PayloadResult{Name: "x", Error: "start x: no such file"})
	if got.Error != "start x: no such file" || got.ExitCode != nil || got.Output != "" || got.StressNG != nil {
		t.Errorf("got %+v", got)
	}
}
