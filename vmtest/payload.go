package vmtest

import (
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/stressng"
)

// payloadResult converts the agent's payload result, parsing stress-ng's
// metrics when the payload printed them.
func payloadResult(p protocol.PayloadResult) PayloadResult {
	return PayloadResult{
		Name: p.Name, ExitCode: p.ExitCode, Signal: p.Signal, Error: p.Error, Output: p.OutputTail,
		TimedOut: p.TimedOut, Duration: p.Duration, OutputBytes: p.OutputBytes,
		StressNG: stressng.ParseMetrics(p.OutputTail),
	}
}
