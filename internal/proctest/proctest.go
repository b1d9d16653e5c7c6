// Package proctest reads process state from /proc for tests that check that
// nothing was left behind: live children, zombies, a process that should be
// gone.
package proctest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Proc is what /proc/PID/stat says of one process.
type Proc struct {
	PID   int
	PPID  int
	Comm  string
	State byte // 'R', 'S', 'Z', ...
}

// Zombie reports whether p has exited and waits to be reaped.
func (p Proc) Zombie() bool { return p.State == 'Z' }

// Stat reads /proc/PID/stat. An error wrapping fs.ErrNotExist means the
// process is gone (and reaped).
func Stat(pid int) (Proc, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, err
	}
	return parseStat(b)
}

// Children returns the processes whose parent is ppid, zombies included.
func Children(ppid int) []Proc {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []Proc
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		if p, err := parseStat(b); err == nil && p.PPID == ppid {
			out = append(out, p)
		}
	}
	return out
}

// parseStat parses "pid (comm) state ppid ...". comm may hold spaces and
// parentheses, so it ends at the last ')'.
func parseStat(b []byte) (Proc, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return Proc{}, errors.New("parse stat: no (comm)")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return Proc{}, fmt.Errorf("parse stat: pid: %w", err)
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return Proc{}, fmt.Errorf("parse stat: short line %q", b)
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return Proc{}, fmt.Errorf("parse stat: ppid: %w", err)
	}
	return Proc{PID: pid, PPID: ppid, Comm: string(b[open+1 : end]), State: f[0][0]}, nil
}
