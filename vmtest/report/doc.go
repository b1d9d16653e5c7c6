// Package report turns a vmtest.Result into one self-contained HTML page:
// for every scenario and scheduler the verdict with its evidence (failed
// checks with their numbers, the kernel's ejection reason, kernel
// incidents with their console excerpt), then charts of progress over time
// per cgroup and per worker, cpu time and fairness per cgroup, the wake-up
// latency distribution per cgroup, migrations over time by cpu, and a
// timeline of scheduler events, sched_ext state changes, kernel incidents
// and each worker's longest stall. A scenario that ran beside another
// scheduler (vmtest.Config.Compare: EEVDF or any other) draws both on the
// same axes.
//
// The charts are SVG drawn by gonum.org/v1/plot and inlined; the page
// loads nothing (its Content-Security-Policy forbids it), embeds the one
// font the charts use, works at 1280 px wide and has a print style.
// Long runs are downsampled for display (at most Options.MaxPoints points
// per line); the result's JSON keeps every sample.
//
// Usage:
//
//	res, err := report.ReadFile("result.json") // or a *vmtest.Result from vmtest.Run
//	if err != nil { ... }
//	err = report.WriteFile("result.html", res, nil)
//
// The package's browser test opens reports in headless Chromium and,
// like every test whose prerequisite is missing, fails under CI when the
// browser is missing. It reads SCXVM_CHROMIUM (the browser binary,
// default chromium from $PATH) and SCXVM_REPORT_SCREENSHOTS (a directory
// to keep its screenshots in).
//
// The trace-event JSON for Perfetto UI and chrome://tracing is written by
// the subpackage trace.
package report
