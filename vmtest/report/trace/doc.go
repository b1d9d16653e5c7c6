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
//     ejected, ...) as instant events carrying the kernel's reason;
//   - a "kernel" thread with the kernel incidents the host saw on the
//     console, as instant events carrying the console excerpt;
//   - a thread per worker with "progress" and "no progress" slices (at
//     the resolution of the progress samples: the result does not record
//     when a worker ran or blocked), and the worker's longest stall as an
//     async slice of category "stall";
//   - a thread per cpu with the workers' migrations into it as instant
//     events;
//   - counters: iterations per worker, and iterations per second per
//     cgroup.
//
// Times are microseconds since QEMU started; how the measurements of a
// result are placed on that axis is described in package
// report/internal/timeline. Progress counters are downsampled to
// Options.MaxCounterPoints per worker; every other event is kept.
//
// Usage:
//
//	err := trace.WriteFile("run.trace.json", res, nil)
package trace
