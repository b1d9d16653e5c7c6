// Package scxfs reads the sched_ext sysfs interface (/sys/kernel/sched_ext):
// the global state, the enable and hotplug sequence numbers, switch_all,
// nr_rejected, and the loaded scheduler's root/ops and root/events (Read);
// every file of it, and sched_ext's debugfs files, as a telemetry reading
// (Snapshot); and the kernel's debug dump of a scheduler's error exit,
// recorded from the sched_ext_dump trace event in a tracefs instance of its
// own (DumpTrace).
//
// The directories are parameters so that tests can point them at trees
// they write in t.TempDir:
//
//	st, err := scxfs.Read(scxfs.Dir)
//	if errors.Is(err, scxfs.ErrNotSupported) { ... } // kernel without sched_ext
//	if st.State == scxfs.StateEnabled && st.Ops == "simple" { ... }
//
//	t, err := scxfs.Snapshot(scxfs.Dir, scxfs.DebugDir)
//	_ = t.Counters["root/events/SCX_EV_SELECT_CPU_FALLBACK"]
//
//	dt, err := scxfs.EnableDumpTrace(scxfs.TracingDir)
//	... // a scheduler exits with an error
//	dump, err := dt.Take()
//
// The package reads no environment variables.
package scxfs
