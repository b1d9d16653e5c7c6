package protocol

import (
	"time"

	"github.com/scxvm/scxvm/workload"
)

// Scenario is what the agent runs in one job: cgroups with cpusets, the
// workloads in them, timed steps and payload commands. Host-side checks are
// not part of it; the host keeps those (see vmtest).
type Scenario struct {
	// Name identifies the scenario in results ("steady", "pingpong", ...).
	Name string `msgpack:"name" json:"name" yaml:"name"`
	// Duration is how long workers run after Start; zero means 2 s.
	Duration time.Duration `msgpack:"duration,omitempty" json:"duration,omitempty" yaml:"duration,omitempty"`
	// Cgroups are created under the agent's cgroup root before workers spawn.
	Cgroups []Cgroup `msgpack:"cgroups,omitempty" json:"cgroups,omitempty" yaml:"cgroups,omitempty"`
	// Steps run at their offsets from Start, in order.
	Steps []Step `msgpack:"steps,omitempty" json:"steps,omitempty" yaml:"steps,omitempty"`
	// Payloads are commands run beside the workers for the scenario's run.
	Payloads []Payload `msgpack:"payloads,omitempty" json:"payloads,omitempty" yaml:"payloads,omitempty"`
}

// Cgroup is one cgroup of a scenario and the workloads placed in it.
type Cgroup struct {
	// Name is the cgroup's directory name (no slashes).
	Name string `msgpack:"name" json:"name" yaml:"name"`
	// CPUs is the cpuset.cpus list ("0-1,3"); empty leaves it unrestricted.
	CPUs string `msgpack:"cpus,omitempty" json:"cpus,omitempty" yaml:"cpus,omitempty"`
	// Mems is the cpuset.mems list; empty leaves it unrestricted.
	Mems string `msgpack:"mems,omitempty" json:"mems,omitempty" yaml:"mems,omitempty"`
	// Workloads are spawned and moved into the cgroup before Start.
	Workloads []workload.WorkloadConfig `msgpack:"workloads,omitempty" json:"workloads,omitempty" yaml:"workloads,omitempty"`
}

// StepAction names what a Step does.
type StepAction string

// Step actions.
const (
	StepSetCpuset     StepAction = "set_cpuset"     // Cgroup's cpuset.cpus = CPUs
	StepSwapCpusets   StepAction = "swap_cpusets"   // exchange the cpusets of Cgroup and Target
	StepAddCgroup     StepAction = "add_cgroup"     // create Cgroup with CPUs (and Workloads, spawned and started)
	StepRemoveCgroup  StepAction = "remove_cgroup"  // drain Cgroup's tasks to the parent, remove it
	StepMoveTasks     StepAction = "move_tasks"     // move all workers of Cgroup into Target
	StepSetAffinity   StepAction = "set_affinity"   // worker Worker of Cgroup gets CPUs as its mask
	StepSpawn         StepAction = "spawn"          // spawn and start Workloads in Cgroup
	StepKillWorker    StepAction = "kill_worker"    // send Signal (default SIGKILL) to worker Worker of Cgroup
	StepKillScheduler StepAction = "kill_scheduler" // send Signal (default SIGKILL) to the scheduler loader
	StepSysRq         StepAction = "sysrq"          // write Key to /proc/sysrq-trigger ("s", "c", "d", ...)
	StepHang          StepAction = "hang"           // the agent stops answering (fault fixture)
)

// Step is one timed change during a scenario's run.
type Step struct {
	// At is the offset from Start.
	At     time.Duration `msgpack:"at" json:"at" yaml:"at"`
	Action StepAction    `msgpack:"action" json:"action" yaml:"action"`
	Cgroup string        `msgpack:"cgroup,omitempty" json:"cgroup,omitempty" yaml:"cgroup,omitempty"`
	Target string        `msgpack:"target,omitempty" json:"target,omitempty" yaml:"target,omitempty"`
	CPUs   string        `msgpack:"cpus,omitempty" json:"cpus,omitempty" yaml:"cpus,omitempty"`
	// Worker indexes the workers of Cgroup in spawn order.
	Worker    int                       `msgpack:"worker,omitempty" json:"worker,omitempty" yaml:"worker,omitempty"`
	Signal    int                       `msgpack:"signal,omitempty" json:"signal,omitempty" yaml:"signal,omitempty"`
	Key       string                    `msgpack:"key,omitempty" json:"key,omitempty" yaml:"key,omitempty"`
	Workloads []workload.WorkloadConfig `msgpack:"workloads,omitempty" json:"workloads,omitempty" yaml:"workloads,omitempty"`
}

// Payload is a command the agent runs beside the workers (for example
// stress-ng). Its exit status and output tail come back in JobResult.
type Payload struct {
	Name string   `msgpack:"name" json:"name" yaml:"name"`
	Path string   `msgpack:"path" json:"path" yaml:"path"`
	Args []string `msgpack:"args,omitempty" json:"args,omitempty" yaml:"args,omitempty"`
	// Cgroup places the payload in one of the scenario's cgroups.
	Cgroup string `msgpack:"cgroup,omitempty" json:"cgroup,omitempty" yaml:"cgroup,omitempty"`
	// Wait makes the scenario wait for the payload's exit before stopping
	// the workers (bounded by the job timeout); otherwise it is killed at
	// the end of Duration.
	Wait bool `msgpack:"wait,omitempty" json:"wait,omitempty" yaml:"wait,omitempty"`
}
