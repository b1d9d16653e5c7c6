package vmtest

import (
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/vmtest/check"
)

// runnableWaits files a RunnableWaits message: a final one replaces what
// came before, an early one adds its waits (unless the final one came).
func (js *jobState) runnableWaits(m *protocol.RunnableWaits) {
	sw := js.sr.StallWatch
	if sw == nil {
		sw = &check.StallWatch{}
		js.sr.StallWatch = sw
	}
	if m.Final {
		*sw = check.StallWatch{
			Final: true, Floor: m.Floor,
			Interval: m.Stats.Interval, Samples: m.Stats.Samples, Watched: m.Stats.Watched,
			CPUTime: m.Stats.CPUTime, MaxTasks: m.Stats.MaxTasks, RealTime: m.Stats.RealTime,
			Error: m.Stats.Error,
		}
		sw.Waits = nil
	} else if sw.Final {
		return
	}
	sw.Floor = m.Floor
	for _, w := range m.Waits {
		sw.Waits = append(sw.Waits, check.TaskWait{
			PID: w.PID, TGID: w.TGID, Comm: w.Comm, CPU: w.CPU, Waited: w.Waited, At: w.At,
			Ongoing: w.Ongoing, Kthread: w.Kthread, Policy: w.Policy,
		})
	}
}
