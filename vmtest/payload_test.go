package vmtest

import (
	"testing"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

// stressNGBrief is stress-ng 0.15.06's --metrics-brief table (Debian 12).
const stressNGBrief = `stress-ng: metrc: [2878] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s
stress-ng: metrc: [2878] cpu                 922      1.00      0.75      0.02       922.11        1201.34
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
