package scxfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/scxvm/scxvm/spec"
)

// maxValue caps a text value kept in a snapshot.
const maxValue = 4096

// maxDepth bounds how deep Snapshot walks (root/sub/NAME/... on kernels
// with sub-schedulers).
const maxDepth = 4

// DebugDir is where debugfs is mounted.
const DebugDir = "/sys/kernel/debug"

// Snapshot reads every file under dir (normally Dir) into a telemetry
// reading, and sched_ext's debugfs files under debugDir when debugDir is
// not empty. It returns ErrNotSupported when dir does not exist. Files that
// vanish or cannot be read while it walks (root/ goes away as a scheduler
// unloads) are left out.
func Snapshot(dir, debugDir string) (spec.SchedTelemetry, error) {
	t := spec.SchedTelemetry{Counters: map[string]uint64{}, Values: map[string]string{}}
	if _, err := os.Stat(filepath.Join(dir, "state")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return t, ErrNotSupported
		}
		return t, fmt.Errorf("sched_ext telemetry: %w", err)
	}
	walk(&t, dir, "", 0)
	if debugDir != "" {
		walk(&t, filepath.Join(debugDir, "sched", "ext_server"), "debugfs/sched/ext_server", 1)
	}
	return t, nil
}

// walk reads the files of dir into t under prefix.
func walk(t *spec.SchedTelemetry, dir, prefix string, depth int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		key := name
		if prefix != "" {
			key = prefix + "/" + name
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0 || name == "uevent" || strings.HasSuffix(name, ".tmp"):
		case e.IsDir():
			if depth < maxDepth {
				walk(t, filepath.Join(dir, name), key, depth+1)
			}
		default:
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			addFile(t, key, b)
		}
	}
}

// addFile files one file's content: a number as a counter, "NAME VALUE"
// lines as one counter each, anything else as a value.
func addFile(t *spec.SchedTelemetry, key string, b []byte) {
	s := strings.TrimSpace(string(b))
	if v, err := strconv.ParseUint(s, 10, 64); err == nil {
		t.Counters[key] = v
		return
	}
	if lines := strings.Split(s, "\n"); s != "" {
		pairs := map[string]uint64{}
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) != 2 {
				break
			}
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				break
			}
			pairs[f[0]] = v
		}
		if len(pairs) == len(lines) {
			for k, v := range pairs {
				t.Counters[key+"/"+k] = v
			}
			return
		}
	}
	if len(s) > maxValue {
		s = s[:maxValue]
	}
	t.Values[key] = s
}

// TracingDir is where tracefs is mounted.
const TracingDir = "/sys/kernel/tracing"

// dumpInstance is the tracefs instance DumpTrace records into, apart from
// the global buffer anyone else may use.
const dumpInstance = "scxvm-dump"

// dumpBufferKB is the instance's ring buffer per cpu: the dump of a small
// guest (131 lines, 10 KiB, after a runtime error in a 2-cpu guest on 7.3;
// a few hundred tasks make tens of KiB) is written on one cpu. The
// buffer keeps the oldest events when full, so a dump too large for it
// loses its end (the tasks), not its head (the exit reason and
// backtrace).
const dumpBufferKB = 256

// DumpTrace records the kernel's sched_ext debug dump: when a scheduler
// exits with an error (a stall, scx_bpf_error, a runtime error), the
// kernel writes the dump (the exit reason and backtrace, every cpu's
// state, the runnable tasks) line by line to the sched_ext_dump trace
// event as well as to the loader's exit info. Recording the event catches
// it whichever loader started the scheduler, the agent's built-ins
// included, on every kernel with sched_ext (6.12 on).
type DumpTrace struct {
	dir string
}

// EnableDumpTrace creates a tracefs instance under tracingDir (normally
// TracingDir) and enables the sched_ext_dump event in it.
func EnableDumpTrace(tracingDir string) (*DumpTrace, error) {
	dir := filepath.Join(tracingDir, "instances", dumpInstance)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sched_ext dump trace: %w", err)
	}
	// A smaller buffer than asked for, or one that overwrites, still
	// records; ignore a refusal.
	_ = os.WriteFile(filepath.Join(dir, "buffer_size_kb"), []byte(strconv.Itoa(dumpBufferKB)), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "options", "overwrite"), []byte("0"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "events", "sched_ext", "sched_ext_dump", "enable"), []byte("1"), 0o644); err != nil {
		return nil, fmt.Errorf("sched_ext dump trace: enable the sched_ext_dump event: %w", err)
	}
	return &DumpTrace{dir: dir}, nil
}

// Clear drops what was recorded so far.
func (d *DumpTrace) Clear() error {
	if d == nil {
		return nil
	}
	if err := os.WriteFile(filepath.Join(d.dir, "trace"), nil, 0o644); err != nil {
		return fmt.Errorf("clear sched_ext dump trace: %w", err)
	}
	return nil
}

// Take returns the dump lines recorded since the last Take or Clear, one
// per line, and clears the buffer; "" when there were none.
func (d *DumpTrace) Take() (string, error) {
	if d == nil {
		return "", nil
	}
	b, err := os.ReadFile(filepath.Join(d.dir, "trace"))
	if err != nil {
		return "", fmt.Errorf("read sched_ext dump trace: %w", err)
	}
	dump := ParseDumpTrace(b)
	return dump, d.Clear()
}

// ParseDumpTrace extracts the sched_ext_dump events' lines from a tracefs
// trace file ("<task>-<pid> [cpu] flags time: sched_ext_dump: LINE").
func ParseDumpTrace(b []byte) string {
	const marker = "sched_ext_dump:"
	var out strings.Builder
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		i := bytes.Index(l, []byte(marker))
		if i < 0 {
			continue
		}
		line := l[i+len(marker):]
		if len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		out.Write(bytes.TrimRight(line, " \t\r"))
		out.WriteByte('\n')
	}
	return strings.TrimRight(out.String(), "\n")
}
