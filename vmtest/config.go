package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// Config describes one VM run. The zero value boots the cached Debian
// kernel, attaches the built-in fifo scheduler and runs the "steady"
// scenario on two cpus.
type Config struct {
	// Kernel is a kernel name known to the kernel package ("debian", the
	// default, fetched on first use, or "6.12"), a path to a
	// bzImage/vmlinux, or a built kernel tree (kernel.OpenTree).
	Kernel string
	// Scheduler is the scheduler under test; the zero value is fifo.
	Scheduler spec.Scheduler
	// Topology is the guest's layout; the zero value is 1n1l2c1t.
	Topology spec.Topology
	// MemoryMB is the guest memory; zero means 1024 (256 per cpu above 4 cpus).
	MemoryMB int
	// Scenarios run one after another in one boot; empty means "steady".
	Scenarios []spec.Scenario
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
	// files extracted for PVH boot, warm starts' snapshots), least
	// recently used first; zero
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
	// Cold forces a cold boot. By default a run starts warm: the first
	// run of a machine (kernel, agent, image base, QEMU, machine and cpu
	// model, topology, memory, kernel command line) boots, waits for the
	// agent's Hello and saves the VM's state into the cache; later runs
	// of the same machine restore it instead of booting. Result.Start
	// says which happened.
	Cold bool
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
	n := c.Topology.WithDefaults().NUMANodes
	return (mb + n - 1) / n * n // QEMU splits memory evenly across nodes
}

// scenarios returns the scenarios with the default applied.
func (c *Config) scenarios() ([]spec.Scenario, error) {
	if len(c.Scenarios) == 0 {
		s, err := LookupScenario(DefaultScenario)
		if err != nil {
			return nil, err
		}
		return []spec.Scenario{s}, nil
	}
	return c.Scenarios, nil
}

// validate checks the fields that need no I/O.
func (c *Config) validate() error {
	if err := c.Scheduler.Validate(); err != nil {
		return &ConfigError{Field: "scheduler", Err: err}
	}
	if err := c.Topology.Validate(); err != nil {
		return &ConfigError{Field: "topology", Err: err}
	}
	if c.Compare != "" && c.Compare != spec.SchedulerNone {
		return &ConfigError{Field: "compare", Msg: fmt.Sprintf("unknown value %q (allowed: \"none\")", c.Compare)}
	}
	if c.Compare == spec.SchedulerNone && c.Scheduler.IsNone() {
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
		if max := s.MaxCPU(); max >= c.Topology.CPUs() {
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
