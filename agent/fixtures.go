package agent

import (
	"time"

	"github.com/scxvm/scxvm/workload"
)

// IgnoreStopFixture names a Custom work function built into every scxvm
// binary (and so into every guest): a fault fixture that makes progress
// and never honours the stop request, so that StopAndCollect has to
// SIGKILL it at the stop deadline and report it as timed out. Use it as
//
//	spec.WorkloadConfig{NumWorkers: 1, WorkType: spec.WorkType{Kind: spec.Custom, CustomName: agent.IgnoreStopFixture}}
const IgnoreStopFixture = "scxvm-ignore-stop"

func init() {
	workload.RegisterCustom(IgnoreStopFixture, func(c *workload.CustomContext) {
		for {
			c.Progress(1)
			time.Sleep(time.Millisecond)
		}
	})
}
