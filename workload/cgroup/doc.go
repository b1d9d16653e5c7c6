// Package cgroup manages the cgroup v2 groups of a test run: it creates
// them under one root directory, sets their cpusets, moves tasks and
// threads into them, drains them and removes everything it created.
//
//	m, err := cgroup.NewManager("/sys/fs/cgroup/scxvm")
//	if err != nil { ... } // e.g. cgroup v2 not mounted, with the fix
//	defer m.Cleanup()
//
//	g := m.NewGroup()
//	defer g.Close() // drains and removes g's cgroups on every exit path
//	if err := g.Add("a", "1-2"); err != nil { ... }
//	if err := m.MoveTasks("a", pids); err != nil { ... }
//
// Every write to cgroupfs is bounded by a timeout (2 s by default,
// WithTimeout): a write to cgroupfs can block, for example while the
// kernel migrates a task's memory or waits on cpu hotplug, and a test
// harness must not hang on it. A write that times out is abandoned (its
// goroutine finishes whenever the kernel lets it) and reported as an error
// naming the file and the value.
//
// Moving a task that exited (ESRCH) is not an error; a move that finds
// the cgroup busy (EBUSY) is retried three times, 100 ms apart. Errors
// name the file and the value written.
//
// Draining moves a cgroup's processes to the root of the cgroup2
// hierarchy, the one cgroup that may hold processes whatever its
// controllers (cgroup v2's no-internal-process rule forbids it in the
// manager's root once controllers are enabled there).
//
// Thread workers are placed with MoveThreads, which turns the cgroup
// threaded and writes to cgroup.threads, moving the threads' process into
// the manager root (the threaded domain) when needed. cgroup v2 then
// forbids populated domain (non-threaded) cgroups beside threaded ones
// under the same root: use separate managers (roots) for process workers
// and thread workers.
//
// Only Linux has cgroups; elsewhere NewManager returns ErrNotSupported.
// The package reads no environment variables.
package cgroup
