// Package scxfs reads the sched_ext sysfs interface (/sys/kernel/sched_ext):
// the global state, the enable and hotplug sequence numbers, switch_all,
// nr_rejected, and the loaded scheduler's root/ops and root/events.
//
// The directory is a parameter so that tests can point it at a tree they
// write in t.TempDir:
//
//	st, err := scxfs.Read(scxfs.Dir)
//	if errors.Is(err, scxfs.ErrNotSupported) { ... } // kernel without sched_ext
//	if st.State == scxfs.StateEnabled && st.Ops == "simple" { ... }
//
// The package reads no environment variables.
package scxfs
