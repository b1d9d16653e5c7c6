// Package trace writes a run's timeline as Chrome trace-event JSON (the
// JSON Object Format of the Trace Event Format), which Perfetto UI
// (ui.perfetto.dev, "Open trace file") and chrome://tracing open.
//
// The trace has one process per scenario result ("steady · scx_simple",
// "steady · none (EEVDF baseline)") and one for the run (the boot, and
// kernel incidents outside every scenario). A scenario's process has
//
//   - a "scenario" thread with the job's setup, run and collect slices;
//   - a "scheduler" thread with the scheduler's events (attached,
//     ejected, ...) as process-wide instant events carrying the kernel's
//     reason, and sched_ext's state as the telemetry readings saw it:
//     "sched_ext enabled" (or disabled, ...) at the first reading and at
//     each change, "enable_seq bump" when a scheduler was enabled again
//     between two readings;
//   - a "kernel" thread with the kernel incidents the host saw on the
//     console, as instant events carrying the console excerpt;
//   - a thread per worker with "progress" and "no progress" slices (at
//     the resolution of the progress samples: the result does not record
//     when a worker ran or blocked), and the worker's longest stall as an
//     async slice of category "stall";
//   - a thread per cpu with the workers' migrations into it as instant
//     events;
//   - counters: iterations per worker, iterations per second per cgroup
//     between progress samples, and one per sched_ext telemetry counter
//     that changed during the scenario ("SCX_EV_SELECT_CPU_FALLBACK
//     since start", "enable_seq value", ...; root/events/ dropped from
//     the key), counters that kept their value being left out.
//
// A telemetry counter has a point at each reading that holds it: the
// start (once the scheduler was in place), every progress sample, the
// end. An event counter (a line of root/events) shows its growth since
// the scenario's first reading: a rate would be noisy, because a reading
// under load can come late (the agent waits for a cpu) and a rate over
// the short interval to the next reading shows a spike that did not
// happen, where the growth only moves a step a little; Perfetto draws
// the rate or the delta from the growth on request (the track's Mode
// menu), and its zero-based axis shows the first step of a counter whose
// value since the scheduler's start is large. An event counter that falls
// (a new scheduler's root/events start from zero) shows a negative
// growth. The other counters (switch_all, enable_seq, nr_rejected,
// debugfs settings) are states, sequence numbers and settings: their
// value as read.
//
// Times are microseconds since QEMU started; how the measurements of a
// result are placed on that axis is described in package
// report/internal/timeline. Counters are downsampled to
// Options.MaxCounterPoints per track; every other event is kept.
//
// Usage:
//
//	err := trace.WriteFile("run.trace.json", res, nil)
package trace
