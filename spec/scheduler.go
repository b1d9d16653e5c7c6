package spec

import (
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Built-in scheduler names. fifo is a name-only struct_ops (global FIFO);
// stall and error are fault fixtures that the kernel ejects; starve is a
// fault fixture that never runs kernel threads enqueued while the cpus are
// busy, with the kernel's longest watchdog timeout (30 s), so that only the
// guest-wide stall watch (CheckNoStalledTask) catches it in a short
// scenario; none runs the kernel's default scheduler (EEVDF).
const (
	SchedulerNone   = "none"
	SchedulerFIFO   = "fifo"
	SchedulerStall  = "stall"
	SchedulerError  = "error"
	SchedulerStarve = "starve"
)

// BuiltinSchedulers lists the schedulers built into the agent.
var BuiltinSchedulers = []string{SchedulerFIFO, SchedulerStall, SchedulerError, SchedulerStarve}

// Default attach timeouts: a loader must have attached its scheduler this
// long after it started. Under TCG everything runs tens of times slower.
const (
	DefaultAttachTimeout    = 10 * time.Second
	DefaultAttachTimeoutTCG = 30 * time.Second
)

// Scheduler selects the scheduler under test as a user names it. Exactly
// one of Name and Path is set; the zero value is the built-in fifo.
type Scheduler struct {
	// Name is "none", a built-in scheduler ("fifo", "stall", "error",
	// "starve") or an example scheduler built for the kernel under test
	// ("scx_simple").
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Path is a scheduler binary on the host; it is copied into the guest
	// with its shared libraries and run with Args.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Args are passed to the scheduler binary.
	Args []string `json:"args,omitempty" yaml:"args,omitempty"`
	// AttachTimeout bounds the wait for the scheduler to attach; zero
	// means DefaultAttachTimeout, or DefaultAttachTimeoutTCG under TCG.
	AttachTimeout time.Duration `json:"attach_timeout,omitempty" yaml:"attach_timeout,omitempty"`
	// Checks are the scheduler's layer of thresholds, over
	// SchedulerChecks of its name and under each scenario's own (see
	// Checks.Resolve); zero fields inherit.
	Checks Checks `json:"checks,omitzero" yaml:"checks,omitempty"`
}

// ParseScheduler turns a command-line value into a Scheduler: a value
// containing a slash is a binary path, anything else a name.
func ParseScheduler(s string, args []string) Scheduler {
	if strings.ContainsRune(s, '/') {
		return Scheduler{Path: s, Args: args}
	}
	return Scheduler{Name: s, Args: args}
}

// IsNone reports whether s runs no sched_ext scheduler.
func (s Scheduler) IsNone() bool { return s.Path == "" && s.Name == SchedulerNone }

// IsBuiltin reports whether s names a built-in scheduler.
func (s Scheduler) IsBuiltin() bool {
	return s.Path == "" && (s.Name == "" || slices.Contains(BuiltinSchedulers, s.Name))
}

// BaseName returns the scheduler's name without arguments: Name, the
// base name of Path, or "fifo" for the zero value.
func (s Scheduler) BaseName() string {
	name := s.Name
	if s.Path != "" {
		name = filepath.Base(s.Path)
	}
	if name == "" {
		name = SchedulerFIFO
	}
	return name
}

// String returns the scheduler's name as shown to users, with its
// arguments.
func (s Scheduler) String() string {
	name := s.BaseName()
	if len(s.Args) > 0 {
		name += " " + strings.Join(s.Args, " ")
	}
	return name
}

// Validate checks the fields that need no I/O; paths are relative to the
// scheduler.
func (s Scheduler) Validate() error {
	if s.Path != "" && s.Name != "" {
		return invalid("", "set either Name or Path, not both")
	}
	if s.Path == "" && len(s.Args) > 0 && s.IsBuiltin() {
		return invalid("args", "built-in scheduler %q takes no arguments", s.Name)
	}
	if s.AttachTimeout < 0 {
		return invalid("attach_timeout", "%v is negative", s.AttachTimeout)
	}
	return within("checks", s.Checks.Validate())
}
