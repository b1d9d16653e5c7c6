package ktext

import (
	"regexp"
	"strings"
)

// IncidentKind classifies a kernel failure report (console or kernel log
// line).
type IncidentKind int

// The kinds of report the detector knows, from most to least severe.
const (
	Panic    IncidentKind = iota + 1 // "Kernel panic - not syncing: ..."
	Oops                             // "Oops: ..."
	BUG                              // "BUG: ...", "kernel BUG at ..."
	Warning                          // "WARNING: ..."
	RCUStall                         // "rcu: INFO: rcu_sched detected stalls ..."
	HungTask                         // "INFO: task NAME:PID blocked for more than N seconds."
)

var kindNames = map[IncidentKind]string{
	Panic:    "panic",
	Oops:     "oops",
	BUG:      "BUG",
	Warning:  "warning",
	RCUStall: "rcu stall",
	HungTask: "hung task",
}

// String returns a short lowercase name for k ("panic", "oops", ...).
func (k IncidentKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "unknown"
}

// Fatal reports whether k means the kernel is going down or lost a task
// to a fault: panic, oops or BUG.
func (k IncidentKind) Fatal() bool { return k == Panic || k == Oops || k == BUG }

// MarshalText implements encoding.TextMarshaler so that JSON results show
// the kind by name.
func (k IncidentKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind by the name String gives it, so that results
// written as JSON read back.
func (k *IncidentKind) UnmarshalText(b []byte) error {
	for kind, name := range kindNames {
		if name == string(b) {
			*k = kind
			return nil
		}
	}
	*k = 0
	return nil
}

// detectors are tried in order against the message part of a line (after
// the "[ seconds]" timestamp).
var detectors = []struct {
	kind IncidentKind
	re   *regexp.Regexp
}{
	{Panic, regexp.MustCompile(`^Kernel panic - not syncing`)},
	{Oops, regexp.MustCompile(`^Oops: `)},
	{BUG, regexp.MustCompile(`^(?:[\w-]+: )?BUG: |^kernel BUG at `)},
	{Warning, regexp.MustCompile(`^WARNING: `)},
	{RCUStall, regexp.MustCompile(`^rcu: INFO: \w+ (?:self-)?detected stalls?\b`)},
	{HungTask, regexp.MustCompile(`^INFO: task \S+ blocked for more than \d+ seconds`)},
}

// timestamp matches the printk time prefix, optionally preceded by a
// syslog level such as "<4>".
var timestamp = regexp.MustCompile(`^(?:<\d>)?\[\s*\d+\.\d+\]\s?`)

// StripTimestamp strips the printk timestamp (and a leading "<N>" level) from a
// console line, returning the message text.
func StripTimestamp(line string) string {
	line = strings.TrimRight(line, "\r\n")
	if loc := timestamp.FindStringIndex(line); loc != nil {
		line = line[loc[1]:]
	}
	// printk caller ids ("[    T1] ") appear with CONFIG_PRINTK_CALLER.
	if strings.HasPrefix(line, "[") {
		if i := strings.Index(line, "] "); i > 0 && i < 10 && isCaller(line[1:i]) {
			line = line[i+2:]
		}
	}
	return line
}

func isCaller(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < 2 || (s[0] != 'T' && s[0] != 'C') {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Detect reports whether line is the first line of a kernel failure
// report, and which kind.
func Detect(line string) (IncidentKind, bool) {
	msg := StripTimestamp(line)
	for _, d := range detectors {
		if d.re.MatchString(msg) {
			return d.kind, true
		}
	}
	return 0, false
}
