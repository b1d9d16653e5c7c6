package vmtest

import (
	"errors"
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
	// Compare, when set, runs every scenario a second time in the same
	// boot under this scheduler, named as spec.ParseScheduler takes it:
	// "none" (the kernel's EEVDF), a built-in ("fifo"), an example
	// scheduler ("scx_simple") or a binary's path. Its runs are marked
	// ScenarioResult.Baseline. CompareArgs are its arguments, and
	// CompareChecks its layer of thresholds, as Scheduler.Checks is the
	// scheduler's (each scheduler is judged by its own layer).
	Compare       string
	CompareArgs   []string
	CompareChecks spec.Checks
	// Repeat runs every scenario (and its Compare run) this many times in
	// the one boot, alternating the two schedulers; zero means once.
	// Result.Summary holds the medians and spread of the repetitions.
	Repeat int
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
	// ExtraFiles maps guest paths to host files copied into the image
	// (a dynamically linked executable brings its shared libraries).
	ExtraFiles map[string]string
	// Shares are host directories shared into the guest through QEMU's
	// virtio-9p instead of copied into the image, mounted by the agent at
	// boot: read-only unless Writable, and nothing outside HostDir is
	// reachable (see host's shareArgs). An empty GuestDir means HostDir's
	// absolute path. The kernel needs CONFIG_9P_FS and
	// CONFIG_NET_9P_VIRTIO (built in, or as modules in the cache).
	Shares []spec.Share

	// Exec, when set, runs a command as the test: a scenario named
	// ExecScenarioName with the command as its one payload, whose exit
	// status counts (expect_exit 0), and no workers, run after Scenarios
	// (alone when Scenarios is empty). Exec[0] is a guest path or, when it
	// names a host executable (a path, or a name on the host's $PATH),
	// that file, copied into the guest at the same absolute path (in
	// ExecDir when that is below /tmp, /run, /dev, /proc or /sys, which
	// the agent mounts over) with its shared libraries and a script's
	// interpreter (an ExtraFiles entry for that guest path, or one
	// whose base name is Exec[0], takes precedence). See ExecScenario.
	Exec []string
	// ExecTimeout bounds Exec's job in the guest (scheduler start,
	// command, collection); zero means DefaultExecTimeout. The VM's limit
	// (Timeout) grows with it.
	ExecTimeout time.Duration
	// OutputPrefix, when set, saves each payload's whole output (Exec's
	// included) on the host in the file OutputPrefix + SCENARIO + "." +
	// PAYLOAD + ".log" (".none" after SCENARIO for a Compare baseline
	// run); "dir/" writes into directory dir, created when missing.
	// PayloadResult.OutputFile names the file. The output is streamed as
	// the payload writes it and never held in memory whole.
	OutputPrefix string
	// Collect copies guest directories to the host after the last
	// scenario, whatever its outcome.
	Collect []Collect
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

// MaxRepeat bounds Config.Repeat.
const MaxRepeat = 100

// compareScheduler returns the scheduler of the Compare runs, and false
// when there are none.
func (c *Config) compareScheduler() (spec.Scheduler, bool) {
	if c.Compare == "" {
		return spec.Scheduler{}, false
	}
	s := spec.ParseScheduler(c.Compare, c.CompareArgs)
	s.Checks = c.CompareChecks
	return s, true
}

// repeats returns how many times every scenario runs.
func (c *Config) repeats() int { return max(c.Repeat, 1) }

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

// GuestMemoryMB returns the guest memory Run asks QEMU for: MemoryMB, or
// its default for the topology, rounded up to a multiple of the NUMA
// nodes.
func (c *Config) GuestMemoryMB() int { return c.memoryMB() }

func (c *Config) memoryMB() int {
	mb := c.MemoryMB
	if mb <= 0 {
		mb = max(1024, 256*c.Topology.CPUs())
	}
	n := c.Topology.WithDefaults().NUMANodes
	return (mb + n - 1) / n * n // QEMU splits memory evenly across nodes
}

// Collect is a guest directory copied to the host after the run.
type Collect struct {
	// Guest is the absolute path of the directory in the guest.
	Guest string
	// Host is the directory it is copied into (created when missing);
	// Guest's files and subdirectories land below it. Entries that are
	// neither files nor directories (symbolic links, devices) are
	// skipped, and no path leaves Host.
	Host string
}

// scenarios returns the scenarios with the default applied, Exec's last.
func (c *Config) scenarios() ([]spec.Scenario, error) {
	if len(c.Exec) > 0 {
		return append(slices.Clone(c.Scenarios), ExecScenario(c.Exec, c.ExecTimeout)), nil
	}
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
	if cmp, ok := c.compareScheduler(); ok {
		if err := cmp.Validate(); err != nil {
			return &ConfigError{Field: "compare", Err: err}
		}
		if n := strings.ToLower(cmp.Name); n == "eevdf" || n == "cfs" || n == "default" {
			return &ConfigError{Field: "compare", Msg: fmt.Sprintf("unknown value %q (the kernel's own scheduler is %q)", c.Compare, spec.SchedulerNone)}
		}
		if cmp.String() == c.Scheduler.String() && cmp.Path == c.Scheduler.Path {
			return &ConfigError{Field: "compare", Msg: fmt.Sprintf("comparing scheduler %s with itself makes no sense (give another scheduler, or other arguments with --compare-arg)", cmp)}
		}
	} else if len(c.CompareArgs) > 0 {
		return &ConfigError{Field: "compare", Msg: "compare arguments given without a scheduler to compare with"}
	} else if !c.CompareChecks.IsZero() {
		return &ConfigError{Field: "compare", Msg: "compare checks given without a scheduler to compare with"}
	}
	if c.Repeat < 0 || c.Repeat > MaxRepeat {
		return &ConfigError{Field: "repeat", Msg: fmt.Sprintf("%d is out of range (0 to %d)", c.Repeat, MaxRepeat)}
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
	if _, err := c.shares(); err != nil {
		return err
	}
	if len(c.Exec) > 0 && c.Exec[0] == "" {
		return &ConfigError{Field: "exec", Msg: "empty command"}
	}
	if c.ExecTimeout < 0 {
		return &ConfigError{Field: "exec timeout", Msg: fmt.Sprintf("negative timeout %v", c.ExecTimeout)}
	}
	guests := map[string]bool{}
	for _, col := range c.Collect {
		switch {
		case !filepath.IsAbs(col.Guest):
			return &ConfigError{Field: "collect", Msg: fmt.Sprintf("guest directory %q must be an absolute path", col.Guest)}
		case col.Host == "":
			return &ConfigError{Field: "collect", Msg: fmt.Sprintf("no host directory for guest directory %s", col.Guest)}
		case guests[filepath.Clean(col.Guest)]:
			return &ConfigError{Field: "collect", Msg: fmt.Sprintf("guest directory %s given twice", col.Guest)}
		}
		guests[filepath.Clean(col.Guest)] = true
		if st, err := os.Stat(col.Host); err == nil && !st.IsDir() {
			return &ConfigError{Field: "collect", Msg: fmt.Sprintf("host path %s exists and is not a directory", col.Host)}
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

// shares returns Shares with absolute host directories and the default
// guest directories, after checking that each host directory exists and
// that no two shares use one guest directory.
func (c *Config) shares() ([]spec.Share, error) {
	if len(c.Shares) > spec.MaxShares {
		return nil, &ConfigError{Field: "share", Msg: fmt.Sprintf("%d shares, at most %d", len(c.Shares), spec.MaxShares)}
	}
	var out []spec.Share
	seen := map[string]string{}
	for _, sh := range c.Shares {
		if err := sh.Validate(); err != nil {
			return nil, &ConfigError{Field: "share", Err: err}
		}
		abs, err := filepath.Abs(sh.HostDir)
		if err != nil {
			return nil, &ConfigError{Field: "share", Err: err}
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, &ConfigError{Field: "share", Msg: fmt.Sprintf("host directory %s: %v", sh.HostDir, errors.Unwrap(err))}
		}
		if !st.IsDir() {
			return nil, &ConfigError{Field: "share", Msg: fmt.Sprintf("host directory %s is not a directory", sh.HostDir)}
		}
		sh.HostDir = abs
		if sh.GuestDir == "" {
			sh.GuestDir = abs
			if err := sh.Validate(); err != nil {
				return nil, &ConfigError{Field: "share", Msg: fmt.Sprintf("%v; name a guest directory: %s=/mnt/DIR", err, sh.HostDir)}
			}
		}
		sh.GuestDir = filepath.Clean(sh.GuestDir)
		if prev, ok := seen[sh.GuestDir]; ok {
			return nil, &ConfigError{Field: "share", Msg: fmt.Sprintf("guest directory %s given twice (%s and %s)", sh.GuestDir, prev, sh.HostDir)}
		}
		seen[sh.GuestDir] = sh.HostDir
		out = append(out, sh)
	}
	return out, nil
}
