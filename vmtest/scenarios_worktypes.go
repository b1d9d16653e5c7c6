package vmtest

import (
	"time"

	"github.com/scxvm/scxvm/spec"
)

// workTypeScenarios are the built-in scenarios of the work kinds ktstr
// 0.5.2 added (spec/worktypes.go), sized like the rest of the catalogue
// for a 2-cpu TCG guest. None names a cpuset, so on a larger --topology
// they spread over every cpu; the placement kinds use its NUMA nodes and
// SMT siblings when it has them and report what they lack otherwise.
// Their groups mix roles (wakers and wakees, real-time and normal tasks,
// producers and consumers) whose cpu times differ by design, so most skip
// the fairness check.
func workTypeScenarios() []spec.Scenario {
	noFairness := spec.Checks{Skip: []string{spec.CheckFairness, spec.CheckThroughputCV}}
	return []spec.Scenario{
		{
			Name:     "io",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{Name: "io", Workloads: []spec.WorkloadConfig{
				wl(1, spec.IoSyncWrite), wl(1, spec.IoRandRead), wl(1, spec.IoConvoy), wl(1, spec.CpuSpin),
			}}},
			Description: "block-I/O sleepers (sync writes, random reads, a write/read convoy) beside a cpu hog",
			Checks:      noFairness,
		},
		{
			Name:     "compute",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{Name: "compute", Workloads: []spec.WorkloadConfig{
				wl(2, spec.AluHot), wl(2, spec.IpcVariance), wl(2, spec.SmtSiblingSpin), wl(2, spec.IdleChurn),
			}}},
			Description: "high-IPC, IPC-alternating and SMT-sibling spinners beside tasks that sleep 5 ms in 6",
			Checks:      spec.Checks{FairnessSpreadPct: 60},
		},
		{
			Name:     "placement-churn",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{Name: "churn", Workloads: []spec.WorkloadConfig{
				wl(2, spec.NumaMigrationChurn), wl(1, spec.NumaWorkingSetSweep), wl(2, spec.CgroupChurn),
			}}},
			Description: "tasks that keep moving: across NUMA nodes, their memory across nodes, across sibling cgroups",
			Checks:      noFairness,
		},
		{
			Name:     "wake-chain",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{Name: "chain", Workloads: []spec.WorkloadConfig{
				{NumWorkers: 3, WorkType: spec.WorkType{Kind: spec.WakeChain, Depth: 3}},
				{NumWorkers: 3, WorkType: spec.WorkType{Kind: spec.WakeChain, Depth: 3, Wake: spec.WakeFutex}},
				wl(2, spec.AsymmetricWaker),
			}}},
			Description: "wake-up chains (a pipe ring and a futex ring of 3) and a fifo waker handing off to a normal wakee",
			Checks:      noFairness,
		},
		{
			Name:     "wake-storm",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{Name: "storm", Workloads: []spec.WorkloadConfig{
				wl(3, spec.EpollStorm), wl(5, spec.ThunderingHerd), wl(2, spec.SignalStorm),
			}}},
			Description: "wake-up storms: epoll exclusive wake-ups, a herd of 4 woken at once, signal ping-pong",
			Checks:      noFairness,
		},
		{
			Name:     "backpressure",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{Name: "queue", Workloads: []spec.WorkloadConfig{
				wl(3, spec.ProducerConsumerImbalance), wl(3, spec.PriorityInversion),
			}}},
			Description: "producers outrunning a consumer, and a lock held by a nice-10 task that a nice-0 spinner delays",
			Checks:      noFairness,
		},
		{
			Name:     "rt-pressure",
			Duration: 2 * time.Second,
			Cgroups: []spec.Cgroup{{Name: "rt", Workloads: []spec.WorkloadConfig{
				wl(3, spec.PreemptStorm), wl(3, spec.RtStarvation),
			}}},
			Description: "a fifo task preempting spinners every 1 ms, and a fifo spinner holding a cpu the others must leave it",
			Checks:      noFairness,
		},
	}
}
