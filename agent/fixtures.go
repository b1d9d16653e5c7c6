package agent

import (
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/workload"
)

// init registers the agent's fault fixtures among the Custom work
// functions; spec names them.
func init() {
	workload.RegisterCustom(spec.IgnoreStopFixture, func(c *workload.CustomContext) {
		for {
			c.Progress(1)
			time.Sleep(time.Millisecond)
		}
	})
}
