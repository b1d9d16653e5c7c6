package scxfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Dir is where the kernel exposes sched_ext.
const Dir = "/sys/kernel/sched_ext"

// ErrNotSupported means the kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT
// unset, or a kernel older than 6.12): the sysfs directory is missing.
var ErrNotSupported = errors.New("sched_ext not supported by this kernel (needs CONFIG_SCHED_CLASS_EXT, Linux 6.12+)")

// State values of /sys/kernel/sched_ext/state.
const (
	StateEnabling  = "enabling"
	StateEnabled   = "enabled"
	StateDisabling = "disabling"
	StateDisabled  = "disabled"
)

// Status is one reading of the sched_ext sysfs files. Counters that the
// running kernel does not expose read as zero.
type Status struct {
	// State is one of the State constants.
	State string
	// SwitchAll reports whether every task runs on the BPF scheduler.
	SwitchAll bool
	// NrRejected counts tasks rejected by the BPF scheduler.
	NrRejected uint64
	// HotplugSeq counts cpu hotplug events seen by sched_ext.
	HotplugSeq uint64
	// EnableSeq counts scheduler enables since boot.
	EnableSeq uint64
	// Ops names the loaded scheduler; empty when none is loaded.
	Ops string
	// Events holds root/events counters (Linux 6.15+); nil when absent.
	Events map[string]uint64
}

// Attached reports whether a BPF scheduler is enabled and named.
func (s Status) Attached() bool { return s.State == StateEnabled && s.Ops != "" }

// Read reads the sched_ext files under dir (normally Dir). It returns
// ErrNotSupported when dir or its state file does not exist.
func Read(dir string) (Status, error) {
	var st Status
	state, err := readString(filepath.Join(dir, "state"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return st, ErrNotSupported
		}
		return st, fmt.Errorf("read sched_ext state: %w", err)
	}
	st.State = state
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{"nr_rejected", &st.NrRejected},
		{"hotplug_seq", &st.HotplugSeq},
		{"enable_seq", &st.EnableSeq},
	} {
		v, err := readUint(filepath.Join(dir, f.name))
		if err != nil {
			return st, err
		}
		*f.dst = v
	}
	sw, err := readUint(filepath.Join(dir, "switch_all"))
	if err != nil {
		return st, err
	}
	st.SwitchAll = sw != 0
	// root/ exists only while a scheduler is loaded; files may vanish
	// between reads while it unloads, so a missing file reads as empty.
	ops, err := readString(filepath.Join(dir, "root", "ops"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("read sched_ext root/ops: %w", err)
	}
	st.Ops = ops
	ev, err := os.ReadFile(filepath.Join(dir, "root", "events"))
	switch {
	case err == nil:
		st.Events = ParseEvents(ev)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return st, fmt.Errorf("read sched_ext root/events: %w", err)
	}
	return st, nil
}

// ParseEvents parses root/events: one "NAME VALUE" pair per line, for
// example "SCX_EV_SELECT_CPU_FALLBACK 12". Lines that do not parse are
// skipped.
func ParseEvents(b []byte) map[string]uint64 {
	m := make(map[string]uint64)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		m[f[0]] = v
	}
	return m
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a decimal counter; a missing file reads as zero because
// older kernels lack some counters.
func readUint(path string) (uint64, error) {
	s, err := readString(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}
