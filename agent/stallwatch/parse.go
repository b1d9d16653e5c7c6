package stallwatch

import (
	"bytes"
	"errors"
	"fmt"
)

// pfKthread is PF_KTHREAD from include/linux/sched.h.
const pfKthread = 0x00200000

// Stat is what the watch reads from /proc/PID/task/TID/stat.
type Stat struct {
	// PID is the thread id; Comm its name; State the one-letter state
	// (R running or runnable, S, D, I, Z, T, ...).
	PID   int
	Comm  string
	State byte
	// Flags are the kernel's PF_* flags; Kthread is Flags&PF_KTHREAD.
	Flags   uint64
	Kthread bool
	// CPU is the cpu the thread last ran on or is queued on (processor).
	CPU int
	// Policy is the scheduling policy (SCHED_NORMAL 0, ... SCHED_EXT 7).
	Policy int
	// UserTicks and SystemTicks are utime and stime in clock ticks.
	UserTicks, SystemTicks uint64
	// Threads is the number of threads of the thread's process.
	Threads int
}

// Fields of /proc/PID/stat after the comm, counted from the state (field 3
// in proc(5)).
const (
	fieldState  = 3
	fieldFlags  = 9
	fieldUtime  = 14
	fieldStime  = 15
	fieldNumThr = 20
	fieldCPU    = 39
	fieldPolicy = 41
)

// ErrFormat is wrapped by the parsers for input they do not understand.
var ErrFormat = errors.New("unexpected format")

// ParseStat parses the content of /proc/PID/stat or
// /proc/PID/task/TID/stat. The name between the parentheses may hold any
// byte, ')' and spaces included: the fields after it start after the last
// ')'. It allocates only the name: the watch parses every thread of the
// guest several times a second, and Go code runs tens of times slower
// under TCG.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return s, fmt.Errorf("stat %.40q: no (comm): %w", b, ErrFormat)
	}
	pid, ok := parseDec(bytes.TrimSpace(b[:open]))
	if !ok {
		return s, fmt.Errorf("stat %.40q: pid: %w", b, ErrFormat)
	}
	s.PID, s.Comm = int(pid), string(b[open+1:closing])
	field := fieldState - 1
	for i := closing + 1; i < len(b) && field < fieldPolicy; {
		for i < len(b) && b[i] == ' ' {
			i++
		}
		j := i
		for j < len(b) && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		if j == i {
			break
		}
		tok := b[i:j]
		i = j
		field++
		var v uint64
		ok := true
		switch field {
		case fieldState:
			ok = len(tok) == 1
			s.State = tok[0]
		case fieldFlags:
			v, ok = parseDec(tok)
			s.Flags, s.Kthread = v, v&pfKthread != 0
		case fieldUtime:
			s.UserTicks, ok = parseDec(tok)
		case fieldStime:
			s.SystemTicks, ok = parseDec(tok)
		case fieldNumThr:
			v, ok = parseDec(tok)
			s.Threads = int(v)
		case fieldCPU:
			v, ok = parseDec(tok)
			s.CPU = int(v)
		case fieldPolicy:
			v, ok = parseDec(tok)
			s.Policy = int(v)
		}
		if !ok {
			return s, fmt.Errorf("stat of %d: field %d %q: %w", pid, field, tok, ErrFormat)
		}
	}
	if field < fieldPolicy {
		return s, fmt.Errorf("stat of %d: %d fields, want at least %d: %w", pid, field, fieldPolicy, ErrFormat)
	}
	return s, nil
}

// StatState returns the state letter of a stat file's content, without
// parsing the rest.
func StatState(b []byte) (byte, bool) {
	closing := bytes.LastIndexByte(b, ')')
	if closing < 0 || closing+2 >= len(b) || b[closing+1] != ' ' {
		return 0, false
	}
	return b[closing+2], true
}

// Schedstat is the content of /proc/PID/task/TID/schedstat.
type Schedstat struct {
	// RunNs is the time spent on a cpu; WaitNs the time spent waiting on
	// a runqueue, updated only when the task gets a cpu; Slices the number
	// of timeslices run.
	RunNs, WaitNs, Slices uint64
}

// ParseSchedstat parses "RUN_NS WAIT_NS SLICES\n".
func ParseSchedstat(b []byte) (Schedstat, error) {
	f := bytes.Fields(b)
	if len(f) != 3 {
		return Schedstat{}, fmt.Errorf("schedstat %.40q: want 3 fields: %w", b, ErrFormat)
	}
	var s Schedstat
	var ok [3]bool
	s.RunNs, ok[0] = parseDec(f[0])
	s.WaitNs, ok[1] = parseDec(f[1])
	s.Slices, ok[2] = parseDec(f[2])
	if !ok[0] || !ok[1] || !ok[2] {
		return Schedstat{}, fmt.Errorf("schedstat %.40q: %w", b, ErrFormat)
	}
	return s, nil
}

// parseDec parses a non-negative decimal number that fits in 64 bits.
func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
