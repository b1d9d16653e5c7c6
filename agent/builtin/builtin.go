package builtin

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// Scheduler names accepted by [Load].
const (
	FIFO   = "fifo"
	Stall  = "stall"
	Error  = "error"
	Starve = "starve"
)

// Defaults applied by [Load] for zero [Options] fields.
const (
	// DefaultErrorAfter is the number of enqueues the "error" scheduler
	// handles correctly before it provokes its runtime error.
	DefaultErrorAfter = 100
	// DefaultStallTimeoutMs is the watchdog timeout of the "stall"
	// scheduler: short, so that the ejection comes quickly.
	DefaultStallTimeoutMs = 2000
	// DefaultStarveTimeoutMs is the watchdog timeout of the "starve"
	// scheduler: the longest the kernel accepts, so that the kernel's
	// watchdog comes too late for a scenario of a few seconds and only a
	// guest-wide stall watch can see the starvation in time.
	DefaultStarveTimeoutMs = MaxTimeoutMs
	// MaxTimeoutMs is the largest ops.timeout_ms the kernel accepts
	// (SCX_WATCHDOG_MAX_TIMEOUT, 30 s).
	MaxTimeoutMs = 30000
)

// sched_ext constants shared by every kernel version since 6.12.
const (
	// DSQGlobal is SCX_DSQ_GLOBAL: SCX_DSQ_FLAG_BUILTIN | 1.
	DSQGlobal uint64 = 1<<63 | 1
	// DSQLocal is SCX_DSQ_LOCAL: SCX_DSQ_FLAG_BUILTIN | 2.
	DSQLocal uint64 = 1<<63 | 2
	// BogusDSQ is the user DSQ id the "error" scheduler inserts into. No
	// scheduler here creates DSQs, so the kernel rejects it with
	// "non-existent DSQ".
	BogusDSQ uint64 = 0x5c7e_e770
	// SliceDefault is SCX_SLICE_DFL in nanoseconds (20 ms).
	SliceDefault uint64 = 20_000_000
)

// ErrNotSupported is wrapped by [Load] when the platform or the running
// kernel cannot run a sched_ext scheduler (not Linux, no BTF, no
// CONFIG_SCHED_CLASS_EXT, no known enqueue kfunc).
var ErrNotSupported = errors.New("sched_ext not supported")

// ErrUnknown is wrapped by [Load] for a name that [Names] does not list.
var ErrUnknown = errors.New("unknown built-in scheduler")

// Options tune [Load]. The zero value gives every default.
type Options struct {
	// ErrorAfter is the number of enqueues the "error" scheduler handles
	// before its runtime error; 0 means [DefaultErrorAfter]. Other
	// schedulers ignore it.
	ErrorAfter int
	// TimeoutMs sets ops.timeout_ms, the sched_ext watchdog timeout, in
	// milliseconds (at most [MaxTimeoutMs]). 0 means the kernel's default
	// (30 s), except for "stall" where it means [DefaultStallTimeoutMs]
	// and "starve" where it means [DefaultStarveTimeoutMs].
	TimeoutMs int
	// Logf, when not nil, receives progress messages (resolved kfunc,
	// timings).
	Logf func(format string, args ...any)
	// BTFCache, when not nil, keeps the decoded kernel BTF between Loads.
	// Decoding it is most of the cost of a Load (seconds under TCG), so an
	// agent that loads several schedulers in one boot should share one
	// cache ([btf.NewCache]) between them, at the price of keeping the
	// decoded types in memory.
	BTFCache *btf.Cache
}

// Names returns the names [Load] accepts, in a stable order.
func Names() []string {
	return []string{FIFO, Stall, Error, Starve}
}

// OpsName returns the ops name the kernel shows in
// /sys/kernel/sched_ext/root/ops for the built-in scheduler name.
func OpsName(name string) (string, error) {
	switch name {
	case FIFO, Stall, Error, Starve:
		return "scxvm_" + name, nil
	}
	return "", fmt.Errorf("built-in scheduler %q: %w (have %v)", name, ErrUnknown, Names())
}

// options is Options validated and with defaults applied.
type options struct {
	errorAfter uint64
	timeoutMs  uint32
	logf       func(string, ...any)
	cache      *btf.Cache
}

func (o Options) resolve(name string) (options, error) {
	r := options{logf: o.Logf, cache: o.BTFCache}
	if r.logf == nil {
		r.logf = func(string, ...any) {}
	}
	if r.cache == nil {
		r.cache = btf.NewCache()
	}
	switch {
	case o.ErrorAfter < 0:
		return r, fmt.Errorf("error after %d enqueues: must not be negative", o.ErrorAfter)
	case o.ErrorAfter == 0:
		r.errorAfter = DefaultErrorAfter
	default:
		r.errorAfter = uint64(o.ErrorAfter)
	}
	switch {
	case o.TimeoutMs < 0 || o.TimeoutMs > MaxTimeoutMs:
		return r, fmt.Errorf("timeout %d ms: must be within 0..%d", o.TimeoutMs, MaxTimeoutMs)
	case o.TimeoutMs == 0 && name == Stall:
		r.timeoutMs = DefaultStallTimeoutMs
	case o.TimeoutMs == 0 && name == Starve:
		r.timeoutMs = DefaultStarveTimeoutMs
	default:
		r.timeoutMs = uint32(o.TimeoutMs)
	}
	return r, nil
}
