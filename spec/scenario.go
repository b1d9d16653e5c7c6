package spec

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of a scenario's zero fields.
const (
	// DefaultDuration is a scenario's run time when Duration is zero.
	DefaultDuration = 2 * time.Second
	// DefaultTimeoutSlack is added to the run time for a job's timeout
	// when Timeout is zero: scheduler start, spawning, collection, and
	// payloads that wait.
	DefaultTimeoutSlack = 30 * time.Second
)

// Scenario is one test: cgroups with cpusets, the workloads in them, timed
// steps, payload commands, and the host-side checks' thresholds. The host
// validates it before it boots anything and sends it whole to the guest,
// which runs the same validation as a guard.
type Scenario struct {
	// Name identifies the scenario in results ("steady", "pingpong", ...).
	Name string `msgpack:"name" json:"name" yaml:"name"`
	// Description says what the scenario exercises.
	Description string `msgpack:"description,omitempty" json:"description,omitempty" yaml:"description,omitempty"`
	// Duration is how long workers run after Start; zero means
	// DefaultDuration.
	Duration time.Duration `msgpack:"duration,omitempty" json:"duration,omitempty" yaml:"duration,omitempty"`
	// Timeout bounds the job in the guest (scheduler start, setup, run,
	// payloads that wait, collection); zero means the run time plus
	// DefaultTimeoutSlack.
	Timeout time.Duration `msgpack:"timeout,omitempty" json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Cgroups are created under the agent's cgroup root before workers spawn.
	Cgroups []Cgroup `msgpack:"cgroups,omitempty" json:"cgroups,omitempty" yaml:"cgroups,omitempty"`
	// Steps run at their offsets from Start, in order.
	Steps []Step `msgpack:"steps,omitempty" json:"steps,omitempty" yaml:"steps,omitempty"`
	// Payloads are commands run beside the workers for the scenario's run.
	Payloads []Payload `msgpack:"payloads,omitempty" json:"payloads,omitempty" yaml:"payloads,omitempty"`
	// Checks are the host's pass/fail thresholds; the zero value means
	// defaults.
	Checks Checks `msgpack:"checks,omitempty" json:"checks,omitempty" yaml:"checks,omitempty"`
	// Scheduler, when set, overrides the run's scheduler for this
	// scenario, so that one boot can run several schedulers (the
	// scheduler matrix). It is set from Go only, not from scenario files.
	Scheduler *Scheduler `msgpack:"-" json:"-" yaml:"-"`
}

// RunTime returns Duration with the default applied.
func (s Scenario) RunTime() time.Duration {
	if s.Duration > 0 {
		return s.Duration
	}
	return DefaultDuration
}

// JobTimeout returns Timeout with the default applied.
func (s Scenario) JobTimeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return s.RunTime() + DefaultTimeoutSlack
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
	Workloads []WorkloadConfig `msgpack:"workloads,omitempty" json:"workloads,omitempty" yaml:"workloads,omitempty"`
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

// StepActions lists every step action.
var StepActions = []StepAction{
	StepSetCpuset, StepSwapCpusets, StepAddCgroup, StepRemoveCgroup, StepMoveTasks,
	StepSetAffinity, StepSpawn, StepKillWorker, StepKillScheduler, StepSysRq, StepHang,
}

// Step is one timed change during a scenario's run.
type Step struct {
	// At is the offset from Start.
	At     time.Duration `msgpack:"at" json:"at" yaml:"at"`
	Action StepAction    `msgpack:"action" json:"action" yaml:"action"`
	Cgroup string        `msgpack:"cgroup,omitempty" json:"cgroup,omitempty" yaml:"cgroup,omitempty"`
	Target string        `msgpack:"target,omitempty" json:"target,omitempty" yaml:"target,omitempty"`
	CPUs   string        `msgpack:"cpus,omitempty" json:"cpus,omitempty" yaml:"cpus,omitempty"`
	// Worker indexes the workers of Cgroup in spawn order.
	Worker    int              `msgpack:"worker,omitempty" json:"worker,omitempty" yaml:"worker,omitempty"`
	Signal    int              `msgpack:"signal,omitempty" json:"signal,omitempty" yaml:"signal,omitempty"`
	Key       string           `msgpack:"key,omitempty" json:"key,omitempty" yaml:"key,omitempty"`
	Workloads []WorkloadConfig `msgpack:"workloads,omitempty" json:"workloads,omitempty" yaml:"workloads,omitempty"`
}

// Payload is a command the agent runs beside the workers (for example
// stress-ng, or a test suite's runner). Its exit status, its whole output
// (streamed to the host as it is written) and a bounded head and tail of
// it come back in the job's result.
type Payload struct {
	// Name names the payload in results and in the file its output is
	// saved to; empty means the base name of Path.
	Name string `msgpack:"name" json:"name" yaml:"name"`
	// Path is the command in the guest: an absolute path (a file put in
	// the image with --file or Config.ExtraFiles) or a name looked up in
	// the guest's $PATH.
	Path string   `msgpack:"path" json:"path" yaml:"path"`
	Args []string `msgpack:"args,omitempty" json:"args,omitempty" yaml:"args,omitempty"`
	// Cgroup places the payload in one of the scenario's cgroups.
	Cgroup string `msgpack:"cgroup,omitempty" json:"cgroup,omitempty" yaml:"cgroup,omitempty"`
	// Wait makes the scenario wait for the payload's exit before stopping
	// the workers (bounded by the scenario's Timeout); otherwise it is
	// killed at the end of Duration.
	Wait bool `msgpack:"wait,omitempty" json:"wait,omitempty" yaml:"wait,omitempty"`
	// ExpectExit, when set, makes the payload's exit status part of the
	// verdict (check payload_exit): the scenario fails unless the payload
	// exits with this status; a payload that cannot start, is killed by a
	// signal or runs into the Timeout fails it too. It implies Wait.
	ExpectExit *int `msgpack:"expect_exit,omitempty" json:"expect_exit,omitempty" yaml:"expect_exit,omitempty"`
}

// Waited reports whether the scenario waits for the payload's exit (Wait,
// or ExpectExit set).
func (p Payload) Waited() bool { return p.Wait || p.ExpectExit != nil }

// Label returns Name, else the base name of Path.
func (p Payload) Label() string {
	if p.Name != "" {
		return p.Name
	}
	return filepath.Base(p.Path)
}

// EndsWithPayloads reports whether the scenario's run ends when its
// waited payloads exit rather than after Duration: it has waited
// payloads, no workers and no steps (a command as the test).
func (s Scenario) EndsWithPayloads() bool {
	if len(s.Steps) > 0 || s.Workers() > 0 {
		return false
	}
	return slices.ContainsFunc(s.Payloads, Payload.Waited)
}

// PayloadFieldsHelp documents a scenario's timeout and payload fields in
// YAML, as comments: `scxvm scenarios NAME` appends it to a scenario's
// YAML and `scxvm run -h` prints it.
const PayloadFieldsHelp = `# Optional fields (values here are examples):
# timeout: 10m           # the job's limit in the guest: scheduler start, setup,
#                        # run, payloads that wait, collection (default:
#                        # duration + 30s); a job over it fails as timed out
# payloads:              # commands run beside the workers (put files in the
#                        # guest with --file GUEST=HOST)
#   - name: runner       # names it in the result and its output file
#     path: /runner      # absolute guest path, or a name in the guest's $PATH
#     args: [-t, foo]
#     cgroup: NAME       # start it in one of the cgroups above
#     wait: true         # the run waits for its exit (up to timeout);
#                        # otherwise it is killed at the end of duration
#     expect_exit: 0     # its exit status counts: any other status, a
#                        # signal or a timeout fails the run (implies wait)
# A scenario with waited payloads and no workers nor steps ends when they
# exit. Each payload's whole output is saved with --output (or --json).
`

// Validate reports the first problem of the scenario as a
// *ValidationError naming the field and the allowed values: names and
// references (cgroups that steps and payloads name exist at the step's
// time), cpu lists, step offsets, every workload (WorkloadConfig.Validate)
// and the checks' thresholds. It needs no I/O: the host runs it before it
// boots anything, the guest again before it runs the scenario.
func (s Scenario) Validate() error {
	if s.Name == "" {
		return invalid("name", "missing scenario name")
	}
	if s.Duration < 0 {
		return invalid("duration", "negative duration %v", s.Duration)
	}
	if s.Timeout < 0 {
		return invalid("timeout", "negative timeout %v", s.Timeout)
	}
	if err := s.Checks.Validate(); err != nil {
		return within("checks", err)
	}
	known := map[string]bool{}
	for i, cg := range s.Cgroups {
		p := fmt.Sprintf("cgroups[%d]", i)
		if err := validCgroupName(cg.Name); err != nil {
			return invalid(p+".name", "%v", err)
		}
		if known[cg.Name] {
			return invalid(p+".name", "duplicate cgroup %q", cg.Name)
		}
		known[cg.Name] = true
		if _, err := ParseCPUSet(cg.CPUs); err != nil {
			return invalid(p+".cpus", "%v", err)
		}
		if _, err := ParseCPUSet(cg.Mems); err != nil {
			return invalid(p+".mems", "%v", err)
		}
		for j, w := range cg.Workloads {
			if err := w.Validate(); err != nil {
				return within(fmt.Sprintf("%s.workloads[%d]", p, j), err)
			}
		}
	}
	for i, st := range s.Steps {
		if err := st.validate(s.RunTime(), known); err != nil {
			return within(fmt.Sprintf("steps[%d]", i), err)
		}
	}
	labels := map[string]bool{}
	for i, pl := range s.Payloads {
		p := fmt.Sprintf("payloads[%d]", i)
		if pl.Path == "" {
			return invalid(p+".path", "missing payload path")
		}
		if l := pl.Label(); labels[l] {
			return invalid(p+".name", "duplicate payload name %q (give each payload its own name)", l)
		} else if l == "." || l == ".." || strings.ContainsAny(l, "/\x00") {
			return invalid(p+".name", "payload name %q must be a single path element", l)
		}
		labels[pl.Label()] = true
		if pl.Cgroup != "" && !known[pl.Cgroup] {
			return invalid(p+".cgroup", "unknown cgroup %q (known: %s)", pl.Cgroup, knownList(known))
		}
	}
	return nil
}

// validate checks a step against the cgroups that exist at its time;
// add_cgroup and remove_cgroup change known, in step order.
func (st Step) validate(run time.Duration, known map[string]bool) error {
	if !slices.Contains(StepActions, st.Action) {
		return invalid("action", "unknown step action %q (allowed: %s)", st.Action, quoteAll(StepActions))
	}
	if st.At < 0 || st.At > run {
		return invalid("at", "offset %v is outside the run (0-%v)", st.At, run)
	}
	need := func(field, name string) error {
		if !known[name] {
			return invalid(field, "unknown cgroup %q (known: %s)", name, knownList(known))
		}
		return nil
	}
	var err error
	switch st.Action {
	case StepAddCgroup:
		if err := validCgroupName(st.Cgroup); err != nil {
			return invalid("cgroup", "%v", err)
		}
		if known[st.Cgroup] {
			return invalid("cgroup", "cgroup %q exists already", st.Cgroup)
		}
		known[st.Cgroup] = true
	case StepRemoveCgroup:
		err = need("cgroup", st.Cgroup)
		delete(known, st.Cgroup)
	case StepSwapCpusets, StepMoveTasks:
		if err = need("cgroup", st.Cgroup); err == nil {
			err = need("target", st.Target)
		}
	case StepSetCpuset, StepSetAffinity, StepSpawn, StepKillWorker:
		err = need("cgroup", st.Cgroup)
	case StepSysRq:
		if len(st.Key) != 1 {
			err = invalid("key", "sysrq needs a one-character key (such as \"s\" or \"c\"), got %q", st.Key)
		}
	}
	if err != nil {
		return err
	}
	if _, err := ParseCPUSet(st.CPUs); err != nil {
		return invalid("cpus", "%v", err)
	}
	if st.Action == StepSetAffinity && st.CPUs == "" {
		return invalid("cpus", "set_affinity needs cpus")
	}
	if st.Action == StepSpawn && len(st.Workloads) == 0 {
		return invalid("workloads", "spawn needs workloads")
	}
	for j, w := range st.Workloads {
		if err := w.Validate(); err != nil {
			return within(fmt.Sprintf("workloads[%d]", j), err)
		}
	}
	return nil
}

// MaxCPU returns the highest cpu number the scenario names (cpusets,
// affinities, steps), or -1 when it names none: it must be below the
// topology's cpu count.
func (s Scenario) MaxCPU() int {
	m := -1
	lists := []string{}
	workloads := func(ws []WorkloadConfig) {
		for _, w := range ws {
			m = max(m, w.Affinity.CPU)
			for _, c := range w.Affinity.CPUs {
				m = max(m, c)
			}
			for _, c := range w.Affinity.From {
				m = max(m, c)
			}
		}
	}
	for _, cg := range s.Cgroups {
		lists = append(lists, cg.CPUs)
		workloads(cg.Workloads)
	}
	for _, st := range s.Steps {
		lists = append(lists, st.CPUs)
		workloads(st.Workloads)
	}
	for _, l := range lists {
		if set, err := ParseCPUSet(l); err == nil && !set.IsEmpty() {
			m = max(m, set.Slice()[set.Len()-1])
		}
	}
	return m
}

// Workers returns the number of workers the scenario configures, those
// spawned by steps included.
func (s Scenario) Workers() int {
	n := 0
	for _, cg := range s.Cgroups {
		for _, w := range cg.Workloads {
			n += w.NumWorkers
		}
	}
	for _, st := range s.Steps {
		if st.Action == StepSpawn || st.Action == StepAddCgroup {
			for _, w := range st.Workloads {
				n += w.NumWorkers
			}
		}
	}
	return n
}

func validCgroupName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("missing cgroup name")
	case n == "." || n == ".." || strings.ContainsRune(n, 0) || filepath.Base(n) != n:
		return fmt.Errorf("cgroup name %q must be a single path element", n)
	}
	return nil
}

func knownList(known map[string]bool) string {
	ks := make([]string, 0, len(known))
	for k := range known {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

// quoteAll quotes each value for an "allowed: ..." list.
func quoteAll[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		if v == "" {
			q[i] = `"" (default)`
		} else {
			q[i] = strconv.Quote(string(v))
		}
	}
	return strings.Join(q, ", ")
}
