package workload

// A SpawnOption changes how Spawn starts a workload's workers.
type SpawnOption func(*spawnOptions)

type spawnOptions struct {
	cgroupDir    string
	churnCgroups []string
	noLatency    bool
}

// withoutLatency turns off the wake-up latency stamps and samples of
// waking kinds: the baseline of the benchmarks of what measuring costs.
func withoutLatency() SpawnOption {
	return func(o *spawnOptions) { o.noLatency = true }
}

// InCgroup starts process workers in the cgroup v2 directory dir rather
// than in the caller's cgroup. The kernel places each child as it creates
// it (clone3 with CLONE_INTO_CGROUP, Linux 5.7 and later), so a worker
// never runs outside dir, not even during its runtime's start-up, and
// nothing needs moving afterwards, which through cgroup.procs costs a
// cgroup migration per worker. The workers' affinity (WorkloadConfig) is
// applied inside the cgroup and must overlap its cpuset. Thread workers are
// threads of the caller and cannot be placed this way: Spawn fails for
// CloneThread with InCgroup; write their WorkerTIDs to cgroup.threads.
func InCgroup(dir string) SpawnOption {
	return func(o *spawnOptions) { o.cgroupDir = dir }
}

// ChurnCgroups gives CgroupChurn workers the cgroup v2 directories they
// move through, in order: the first is the one they start in (pass it to
// InCgroup too), the others its siblings, which must exist and accept the
// workers (the guest agent creates WorkType.Groups of them next to the
// workload's cgroup). Spawn fails for CgroupChurn without at least two.
func ChurnCgroups(dirs ...string) SpawnOption {
	return func(o *spawnOptions) { o.churnCgroups = append([]string(nil), dirs...) }
}
