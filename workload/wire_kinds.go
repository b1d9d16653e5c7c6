package workload

import (
	"time"

	"github.com/scxvm/scxvm/spec"
)

// The wire form of the knobs of ktstr 0.5.2's kinds and of string lists;
// wire_test.go's round trips catch a knob left out here.

func (e *wenc) addedKnobs(t spec.WorkType) {
	for _, v := range []int{t.Blocks, t.FileBytes, t.SyncEvery, t.HotIters, t.ColdIters, t.Groups,
		t.RTPriority, t.Depth, t.Producers, t.Consumers, t.EventsPerBurst, t.Waiters, t.High,
		t.Medium, t.Low, t.Rate, t.QueueDepth, t.Signals, t.RTWorkers, t.CFSWorkers} {
		e.int(int64(v))
	}
	e.int(int64(t.Period))
	e.str(string(t.WakerClass))
	e.str(string(t.WakeeClass))
	e.str(string(t.Wake))
	e.ints(t.Nodes)
	e.bool(t.PI)
}

func (d *wdec) addedKnobs(t *spec.WorkType) {
	for _, p := range []*int{&t.Blocks, &t.FileBytes, &t.SyncEvery, &t.HotIters, &t.ColdIters, &t.Groups,
		&t.RTPriority, &t.Depth, &t.Producers, &t.Consumers, &t.EventsPerBurst, &t.Waiters, &t.High,
		&t.Medium, &t.Low, &t.Rate, &t.QueueDepth, &t.Signals, &t.RTWorkers, &t.CFSWorkers} {
		*p = int(d.int())
	}
	t.Period = time.Duration(d.int())
	t.WakerClass = spec.PolicyClass(d.str())
	t.WakeeClass = spec.PolicyClass(d.str())
	t.Wake = spec.WakeMechanism(d.str())
	t.Nodes = d.ints()
	t.PI = d.bool()
}

func (e *wenc) strs(v []string) {
	if v == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(v)) + 1)
	for _, s := range v {
		e.str(s)
	}
}

func (d *wdec) strs() []string {
	n, isNil := d.length()
	if isNil {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.str()
	}
	return v
}
