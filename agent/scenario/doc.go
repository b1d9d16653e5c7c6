// Package scenario runs one Scenario inside the guest: it creates
// the scenario's cgroups with their cpusets under a job cgroup, spawns the
// workloads blocked, moves them into their cgroups (cgroup.procs for
// process workers, cgroup.threads for thread workers), starts them, applies
// the timed steps, streams progress, runs the payload commands beside the
// workers, then stops and collects every worker's report and cleans up
// every cgroup and worker on every exit path.
//
//	res, err := scenario.Run(ctx, sc, scenario.Config{
//		CgroupParent: "/sys/fs/cgroup",
//		Name:         "scxvm-job-1",
//		Interval:     time.Second,
//		Hooks: scenario.Hooks{Progress: func(p scenario.Progress) { ... }},
//	})
//	// res holds whatever was collected, even when err != nil.
//
// Reports and progress entries are tagged with the scenario cgroup the
// worker was spawned in (a move_tasks step does not rename them), in a
// stable order: cgroups and their workloads in spawn order.
//
// Process workers re-execute the running binary, so the binary must call
// workload.RunWorkerIfChild first thing in main (or TestMain). The
// package reads no environment variables.
package scenario
