package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Built-in scheduler names. fifo is a name-only struct_ops (global FIFO);
// stall and error are fault fixtures that the kernel ejects; none runs the
// kernel's default scheduler (EEVDF).
const (
	SchedulerNone  = "none"
	SchedulerFIFO  = "fifo"
	SchedulerStall = "stall"
	SchedulerError = "error"
)

// Default attach timeouts of SchedulerSpec: a loader must have attached
// its scheduler this long after it started.
const (
	DefaultAttachTimeout    = 10 * time.Second
	DefaultAttachTimeoutTCG = 30 * time.Second
)

// BuiltinSchedulers lists the schedulers built into the agent.
var BuiltinSchedulers = []string{SchedulerFIFO, SchedulerStall, SchedulerError}

// SchedulerSpec selects the scheduler under test. Exactly one of Name and
// Path is set; the zero value is the built-in fifo.
type SchedulerSpec struct {
	// Name is "none", a built-in scheduler ("fifo", "stall", "error") or an
	// example scheduler built by `make schedulers` for the kernel under
	// test ("scx_simple": $CACHE/schedulers/<kernel>/scx_simple).
	Name string `json:"name,omitempty"`
	// Path is a scheduler binary on the host; it is copied into the guest
	// with its shared libraries and run with Args.
	Path string `json:"path,omitempty"`
	// Args are passed to the scheduler binary.
	Args []string `json:"args,omitempty"`
	// AttachTimeout bounds the wait for the scheduler to attach; zero
	// means DefaultAttachTimeout, or DefaultAttachTimeoutTCG under TCG.
	AttachTimeout time.Duration `json:"attach_timeout,omitempty"`
}

// ParseScheduler turns a command-line value into a SchedulerSpec: a value
// containing a slash is a binary path, anything else a name.
func ParseScheduler(s string, args []string) SchedulerSpec {
	if strings.ContainsRune(s, '/') {
		return SchedulerSpec{Path: s, Args: args}
	}
	return SchedulerSpec{Name: s, Args: args}
}

// IsNone reports whether the spec runs no sched_ext scheduler.
func (s SchedulerSpec) IsNone() bool { return s.Path == "" && s.Name == SchedulerNone }

// IsBuiltin reports whether the spec names a built-in scheduler.
func (s SchedulerSpec) IsBuiltin() bool {
	return s.Path == "" && (s.Name == "" || slices.Contains(BuiltinSchedulers, s.Name))
}

// String returns the scheduler's name as shown to users.
func (s SchedulerSpec) String() string {
	name := s.Name
	if s.Path != "" {
		name = filepath.Base(s.Path)
	}
	if name == "" {
		name = SchedulerFIFO
	}
	if len(s.Args) > 0 {
		name += " " + strings.Join(s.Args, " ")
	}
	return name
}

// Topology is the guest's cpu and memory layout. The zero value is one
// NUMA node with one LLC of two single-threaded cores.
type Topology struct {
	NUMANodes      int `json:"numa_nodes,omitempty"`
	LLCs           int `json:"llcs,omitempty"` // per NUMA node
	CoresPerLLC    int `json:"cores_per_llc,omitempty"`
	ThreadsPerCore int `json:"threads_per_core,omitempty"`
}

func (t Topology) withDefaults() Topology {
	t.NUMANodes = max(t.NUMANodes, 1)
	t.LLCs = max(t.LLCs, 1)
	if t.CoresPerLLC <= 0 {
		t.CoresPerLLC = 2
	}
	t.ThreadsPerCore = max(t.ThreadsPerCore, 1)
	return t
}

// CPUs returns the number of cpus of the topology.
func (t Topology) CPUs() int {
	t = t.withDefaults()
	return t.NUMANodes * t.LLCs * t.CoresPerLLC * t.ThreadsPerCore
}

// String formats the topology as "1n1l2c1t".
func (t Topology) String() string {
	t = t.withDefaults()
	return fmt.Sprintf("%dn%dl%dc%dt", t.NUMANodes, t.LLCs, t.CoresPerLLC, t.ThreadsPerCore)
}

// ParseTopology parses "NnLlCcTt" (nodes, LLCs per node, cores per LLC,
// threads per core), for example "1n2l4c2t". Omitted parts default to
// 1 node, 1 LLC, 2 cores, 1 thread.
func ParseTopology(s string) (Topology, error) {
	var t Topology
	rest := strings.ToLower(strings.TrimSpace(s))
	if rest == "" {
		return t.withDefaults(), nil
	}
	seen := map[byte]bool{}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return Topology{}, fmt.Errorf("topology %q: want numbers followed by n, l, c or t, such as 1n2l4c1t", s)
		}
		var v int
		fmt.Sscanf(rest[:i], "%d", &v)
		unit := rest[i]
		if seen[unit] || v < 1 {
			return Topology{}, fmt.Errorf("topology %q: repeated or zero %q", s, unit)
		}
		seen[unit] = true
		switch unit {
		case 'n':
			t.NUMANodes = v
		case 'l':
			t.LLCs = v
		case 'c':
			t.CoresPerLLC = v
		case 't':
			t.ThreadsPerCore = v
		default:
			return Topology{}, fmt.Errorf("topology %q: unknown unit %q (allowed: n nodes, l LLCs per node, c cores per LLC, t threads per core)", s, unit)
		}
		rest = rest[i+1:]
	}
	t = t.withDefaults()
	if t.CPUs() > 64 {
		return Topology{}, fmt.Errorf("topology %q: %d cpus, at most 64 supported", s, t.CPUs())
	}
	return t, nil
}

// Config describes one VM run. The zero value boots the cached Debian
// kernel, attaches the built-in fifo scheduler and runs the "steady"
// scenario on two cpus.
type Config struct {
	// Kernel is a kernel name known to the kernel package ("debian", the
	// default, or "6.12") or a path to a bzImage/vmlinux.
	Kernel string
	// Scheduler is the scheduler under test; the zero value is fifo.
	Scheduler SchedulerSpec
	// Topology is the guest's layout; the zero value is 1n1l2c1t.
	Topology Topology
	// MemoryMB is the guest memory; zero means 1024 (256 per cpu above 4 cpus).
	MemoryMB int
	// Scenarios run one after another in one boot; empty means "steady".
	Scenarios []Scenario
	// Compare, when "none", runs every scenario a second time under the
	// kernel's default scheduler (EEVDF) in the same boot, for ratios.
	Compare string
	// RestartScheduler restarts the scheduler before every scenario
	// instead of keeping one instance for the whole boot.
	RestartScheduler bool

	// BootTimeout bounds QEMU start to the agent's Hello; zero means 60 s.
	BootTimeout time.Duration
	// Timeout is the hard limit of the whole VM; zero means the boot
	// timeout plus every scenario's timeout plus 30 s.
	Timeout time.Duration

	// Accel is "auto" (default: KVM when usable, else TCG), "kvm" or "tcg".
	Accel string
	// Transport is "auto" (default), "vsock" or "virtio-serial".
	Transport string
	// QEMU is the qemu-system-x86_64 binary; empty means $PATH.
	QEMU string
	// ExtraFiles maps guest paths to host files copied into the image.
	ExtraFiles map[string]string
	// KernelArgs are appended to the kernel command line.
	KernelArgs []string
	// CacheDir is the cache root; empty means kernel.DefaultCacheDir().
	CacheDir string
	// CacheMax bounds the cache's derived files (initramfs images, vmlinux
	// files extracted for PVH boot), least recently used first; zero
	// means $SCXVM_CACHE_MAX, else 2 GiB.
	CacheMax int64
	// Boot is how the kernel boots: "auto" (default: through PVH when the
	// kernel has a PVH entry point, else the bzImage), "pvh" (fail
	// without one) or "image" (the bzImage as given). Result.Kernel.Boot
	// says which was used.
	Boot string
	// Agent is the static binary used as the guest's /init: scxvm-agent
	// (./cmd/scxvm-agent), or the scxvm command, which carries the agent
	// too but starts process workers more slowly. Empty means
	// $SCXVM_AGENT. Go tests build it with BuildAgent.
	Agent string
	// ConsoleLog is where the serial console is written; empty means a
	// file in os.TempDir() that is removed after a run without failure
	// and kept after a failure (Result.ConsoleLog names it).
	ConsoleLog string

	// Progress, when set, receives live events (Hello, progress samples,
	// scheduler events, scenario results). It is called from Run's
	// goroutine and must not block for long.
	Progress func(Event)
	// Logf, when set, receives diagnostic lines (accel choice, cache hits).
	Logf func(format string, args ...any)
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

func (c *Config) emit(e Event) {
	if c.Progress != nil {
		c.Progress(e)
	}
}

// kernelName returns the kernel with the default applied.
func (c *Config) kernelName() string {
	if c.Kernel == "" {
		return "debian"
	}
	return c.Kernel
}

func (c *Config) bootTimeout() time.Duration {
	if c.BootTimeout > 0 {
		return c.BootTimeout
	}
	return 60 * time.Second
}

func (c *Config) memoryMB() int {
	mb := c.MemoryMB
	if mb <= 0 {
		mb = max(1024, 256*c.Topology.CPUs())
	}
	n := c.Topology.withDefaults().NUMANodes
	return (mb + n - 1) / n * n // QEMU splits memory evenly across nodes
}

// scenarios returns the scenarios with the default applied.
func (c *Config) scenarios() ([]Scenario, error) {
	if len(c.Scenarios) == 0 {
		s, err := LookupScenario(DefaultScenario)
		if err != nil {
			return nil, err
		}
		return []Scenario{s}, nil
	}
	return c.Scenarios, nil
}

// validate checks the fields that need no I/O.
func (c *Config) validate() error {
	if c.Scheduler.Path != "" && c.Scheduler.Name != "" {
		return &ConfigError{Field: "scheduler", Msg: "set either Name or Path, not both"}
	}
	if c.Scheduler.Path == "" && len(c.Scheduler.Args) > 0 && c.Scheduler.IsBuiltin() {
		return &ConfigError{Field: "scheduler", Msg: fmt.Sprintf("built-in scheduler %q takes no arguments", c.Scheduler.String())}
	}
	if c.Compare != "" && c.Compare != SchedulerNone {
		return &ConfigError{Field: "compare", Msg: fmt.Sprintf("unknown value %q (allowed: \"none\")", c.Compare)}
	}
	if c.Compare == SchedulerNone && c.Scheduler.IsNone() {
		return &ConfigError{Field: "compare", Msg: "comparing scheduler none with none makes no sense"}
	}
	for _, v := range []struct{ field, val string }{{"accel", c.Accel}, {"transport", c.Transport}, {"boot", c.Boot}} {
		allowed := map[string][]string{"accel": {"", "auto", "kvm", "tcg"}, "transport": {"", "auto", "vsock", "virtio-serial"}, "boot": {"", "auto", "pvh", "image"}}[v.field]
		if !slices.Contains(allowed, v.val) {
			return &ConfigError{Field: v.field, Msg: fmt.Sprintf("unknown value %q (allowed: %s)", v.val, strings.Join(allowed[1:], ", "))}
		}
	}
	if c.MemoryMB < 0 || (c.MemoryMB > 0 && c.MemoryMB < 128) {
		return &ConfigError{Field: "memory", Msg: fmt.Sprintf("%d MB is too little (at least 128)", c.MemoryMB)}
	}
	ss, err := c.scenarios()
	if err != nil {
		return err
	}
	if err := c.validateScenarioSchedulers(ss); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range ss {
		if err := s.Validate(); err != nil {
			return &ConfigError{Field: "scenario " + s.Name, Err: err}
		}
		if seen[c.scenarioKey(s)] {
			return &ConfigError{Field: "scenarios", Msg: fmt.Sprintf("scenario %q given twice", s.Name)}
		}
		seen[c.scenarioKey(s)] = true
		if max := maxCPU(s); max >= c.Topology.CPUs() {
			return &ConfigError{Field: "scenario " + s.Name, Msg: fmt.Sprintf("uses cpu %d but topology %s has %d cpus", max, c.Topology, c.Topology.CPUs())}
		}
	}
	for guest, hostPath := range c.ExtraFiles {
		if !filepath.IsAbs(guest) {
			return &ConfigError{Field: "extra files", Msg: fmt.Sprintf("guest path %q must be absolute", guest)}
		}
		if _, err := os.Stat(hostPath); err != nil {
			return &ConfigError{Field: "extra files", Err: err}
		}
	}
	return nil
}

// maxCPU returns the highest cpu a scenario names, or -1.
func maxCPU(s Scenario) int {
	m := -1
	lists := []string{}
	for _, cg := range s.Cgroups {
		lists = append(lists, cg.CPUs)
		for _, w := range cg.Workloads {
			m = max(m, maxAffinityCPU(w.Affinity.CPUs, w.Affinity.From, w.Affinity.CPU))
		}
	}
	for _, st := range s.Steps {
		lists = append(lists, st.CPUs)
	}
	for _, l := range lists {
		cpus, _ := parseCPUList(l)
		for _, c := range cpus {
			m = max(m, c)
		}
	}
	return m
}

func maxAffinityCPU(cpus, from []int, cpu int) int {
	m := cpu
	for _, c := range append(slices.Clone(cpus), from...) {
		m = max(m, c)
	}
	return m
}
