package ktext

import (
	"strconv"
	"strings"
	"time"
)

// SchedKind classifies a sched_ext kernel log line.
type SchedKind int

// Kinds of sched_ext lines.
const (
	// Enabled: sched_ext: BPF scheduler "NAME" enabled[ (partial)]
	Enabled SchedKind = iota + 1
	// Disabled: sched_ext: BPF scheduler "NAME" disabled (REASON)
	Disabled
	// Stall: sched_ext: NAME: TASK[PID] failed to run for N.NNNs
	Stall
	// Message: sched_ext: NAME: MESSAGE, the exit message that follows a
	// Disabled line (scx_bpf_error text, runtime error description).
	Message
)

func (k SchedKind) String() string {
	switch k {
	case Enabled:
		return "enabled"
	case Disabled:
		return "disabled"
	case Stall:
		return "stall"
	case Message:
		return "message"
	}
	return "SchedKind(" + strconv.Itoa(int(k)) + ")"
}

// Disable reasons the kernel prints in a Disabled line.
const (
	ReasonUnregUser   = "unregistered from user space"
	ReasonUnregBPF    = "unregistered from BPF"
	ReasonUnregKernel = "unregistered from the main kernel"
	ReasonSysRq       = "disabled by sysrq-S"
	ReasonRuntimeErr  = "runtime error"
	ReasonBPFError    = "scx_bpf_error"
	ReasonStall       = "runnable task stall"
)

// SchedLine is a parsed sched_ext kernel log line.
type SchedLine struct {
	Kind SchedKind
	// Scheduler is the ops name.
	Scheduler string
	// Partial is set on an Enabled line when not every task was switched.
	Partial bool
	// Reason is the text in parentheses of a Disabled line.
	Reason string
	// Task, PID and Stalled describe a Stall line.
	Task    string
	PID     int
	Stalled time.Duration
	// Message is the text after "NAME: " of Stall and Message lines.
	Message string
}

// Abnormal reports whether a Disabled line's reason means the scheduler
// was ejected rather than unloaded on request. Unregistration from user
// space is a normal unload; anything else is an ejection.
func (l SchedLine) Abnormal() bool {
	return l.Kind == Disabled && l.Reason != ReasonUnregUser
}

const prefix = "sched_ext: "

// ParseSchedExt recognises a sched_ext line by its record text. It
// returns false for any other line, including sched_ext lines of other
// shapes.
func ParseSchedExt(text string) (SchedLine, bool) {
	rest, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return SchedLine{}, false
	}
	if s, ok := strings.CutPrefix(rest, `BPF scheduler "`); ok {
		name, tail, ok := strings.Cut(s, `" `)
		if !ok {
			return SchedLine{}, false
		}
		switch {
		case tail == "enabled":
			return SchedLine{Kind: Enabled, Scheduler: name}, true
		case strings.HasPrefix(tail, "enabled ("):
			return SchedLine{Kind: Enabled, Scheduler: name, Partial: true}, true
		case strings.HasPrefix(tail, "disabled (") && strings.HasSuffix(tail, ")"):
			reason := strings.TrimSuffix(strings.TrimPrefix(tail, "disabled ("), ")")
			return SchedLine{Kind: Disabled, Scheduler: name, Reason: reason}, true
		}
		return SchedLine{}, false
	}
	// "NAME: MESSAGE". Scheduler names have no spaces or colons.
	name, msg, ok := strings.Cut(rest, ": ")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return SchedLine{}, false
	}
	l := SchedLine{Kind: Message, Scheduler: name, Message: msg}
	if task, pid, d, ok := parseStall(msg); ok {
		l.Kind, l.Task, l.PID, l.Stalled = Stall, task, pid, d
	}
	return l, true
}

// parseStall parses "TASK[PID] failed to run for N.NNNs". TASK may
// contain spaces, slashes and brackets, so PID is the last bracket pair.
func parseStall(msg string) (task string, pid int, d time.Duration, ok bool) {
	head, secs, ok := strings.Cut(msg, "] failed to run for ")
	if !ok || !strings.HasSuffix(secs, "s") {
		return "", 0, 0, false
	}
	i := strings.LastIndexByte(head, '[')
	if i < 0 {
		return "", 0, 0, false
	}
	pid, err := strconv.Atoi(head[i+1:])
	if err != nil {
		return "", 0, 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(secs, "s"), 64)
	if err != nil {
		return "", 0, 0, false
	}
	return head[:i], pid, time.Duration(f * float64(time.Second)), true
}

// Ejection finds the first ejection in lines (kernel log texts, or console
// lines with their timestamps): the scheduler's Disabled line with an
// abnormal reason and the Stall and Message lines of that scheduler right
// after it. It returns the reason ("runnable task stall") and those lines,
// trimmed, or "" and nil when lines report no ejection.
func Ejection(lines []string) (reason string, report []string) {
	for i, l := range lines {
		d, ok := ParseSchedExt(StripTimestamp(strings.TrimSpace(l)))
		if !ok || !d.Abnormal() {
			continue
		}
		report = []string{strings.TrimSpace(l)}
		for _, next := range lines[i+1:] {
			m, ok := ParseSchedExt(StripTimestamp(strings.TrimSpace(next)))
			if !ok || m.Scheduler != d.Scheduler || (m.Kind != Stall && m.Kind != Message) {
				break
			}
			report = append(report, strings.TrimSpace(next))
		}
		return d.Reason, report
	}
	return "", nil
}
