package workload

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/scxvm/scxvm/spec"
)

// CustomFunc is the body of a Custom worker. It runs on the worker's locked
// OS thread after the start signal and must return soon after c.Stopped()
// turns true (check it at least every ~100 ms); a function that does not is
// SIGKILLed at the stop deadline (process workers) or abandoned (thread
// workers) and reported as timed out. The framework's per-iteration
// telemetry (migrations, gaps, latencies) is bypassed: only what the
// function reports through c, plus cpu, wall, schedstat and context-switch
// totals, appear in the WorkerReport.
type CustomFunc func(c *CustomContext)

// CustomContext is what a CustomFunc gets.
type CustomContext struct {
	index    int
	stop     *uint32
	deadline *int64
	counter  *uint64
	units    uint64
	cfg      spec.WorkloadConfig
}

// Index is the worker's position in its handle.
func (c *CustomContext) Index() int { return c.index }

// Config is the workload's configuration (defaults filled in).
func (c *CustomContext) Config() spec.WorkloadConfig { return c.cfg }

// Stopped reports whether the worker has been asked to stop, or its run
// deadline (WorkloadHandle.StartFor) has passed. With a deadline set, each
// call reads the clock (tens of nanoseconds).
func (c *CustomContext) Stopped() bool {
	if atomic.LoadUint32(c.stop) != 0 {
		return true
	}
	return c.deadline != nil && atomic.LoadInt64(c.deadline) != 0 && nanotime() >= atomic.LoadInt64(c.deadline)
}

// Progress records one finished outer iteration worth units work units. The
// iteration count is visible to WorkloadHandle.SnapshotIterations at once.
func (c *CustomContext) Progress(units uint64) {
	c.units += units
	atomic.AddUint64(c.counter, 1)
}

var customRegistry struct {
	sync.RWMutex
	fns map[string]CustomFunc
}

// RegisterCustom makes fn available as WorkType{Kind: Custom, CustomName:
// name}. Process workers re-execute the binary, so the registration must
// happen in the worker child too: call it from an init function (or from
// main before RunWorkerIfChild). Registering a name twice panics, like
// http.Handle.
func RegisterCustom(name string, fn CustomFunc) {
	if name == "" || fn == nil {
		panic("workload: RegisterCustom with empty name or nil function")
	}
	customRegistry.Lock()
	defer customRegistry.Unlock()
	if customRegistry.fns == nil {
		customRegistry.fns = make(map[string]CustomFunc)
	}
	if _, dup := customRegistry.fns[name]; dup {
		panic("workload: RegisterCustom called twice for " + name)
	}
	customRegistry.fns[name] = fn
}

func lookupCustom(name string) CustomFunc {
	customRegistry.RLock()
	defer customRegistry.RUnlock()
	return customRegistry.fns[name]
}

func customNames() []string {
	customRegistry.RLock()
	defer customRegistry.RUnlock()
	names := make([]string, 0, len(customRegistry.fns))
	for n := range customRegistry.fns {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return []string{"(none)"}
	}
	return names
}

// validate checks cfg like WorkloadConfig.Validate and, for a Custom
// work type, that its function is registered in this process.
func validate(cfg spec.WorkloadConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.WorkType.Kind == spec.Custom && lookupCustom(cfg.WorkType.CustomName) == nil {
		return &spec.ValidationError{Path: "work_type.custom_name",
			Msg: fmt.Sprintf("%q: not registered; registered: %s", cfg.WorkType.CustomName, strings.Join(customNames(), ", "))}
	}
	return nil
}
