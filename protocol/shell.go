package protocol

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ShellSpec asks the agent for an interactive shell on the guest's
// console (Job.Shell): a session leader whose controlling terminal is the
// console, so that job control works and the console's Ctrl-C reaches
// the foreground job.
type ShellSpec struct {
	// Path is the shell; empty means DefaultShell.
	Path string `msgpack:"path,omitempty" json:"path,omitempty"`
	// Term is the shell's TERM (the host terminal's); empty means
	// DefaultTerm.
	Term string `msgpack:"term,omitempty" json:"term,omitempty"`
	// Size is the console's window size at the start; zero leaves the
	// kernel's.
	Size WindowSize `msgpack:"size,omitempty" json:"size,omitempty"`
}

// Defaults of ShellSpec.
const (
	DefaultShell = "/bin/sh"
	DefaultTerm  = "vt100"
)

// WindowSize is a terminal's size in characters.
type WindowSize struct {
	Rows uint16 `msgpack:"rows" json:"rows"`
	Cols uint16 `msgpack:"cols" json:"cols"`
}

// Unknown reports whether the size is unknown (a zero dimension).
func (w WindowSize) Unknown() bool { return w.Rows == 0 || w.Cols == 0 }

// ShellEvent reports the shell of a Job.Shell: once when it started (the
// host forwards the user's input from then on) and once when it ended.
type ShellEvent struct {
	JobID uint32 `msgpack:"job_id" json:"job_id"`
	// Started is set in the first event; Exit in the last.
	Started bool `msgpack:"started,omitempty" json:"started,omitempty"`
	// TTY is the console device the shell runs on ("/dev/ttyS0").
	TTY  string      `msgpack:"tty,omitempty" json:"tty,omitempty"`
	Exit *ExitStatus `msgpack:"exit,omitempty" json:"exit,omitempty"`
	// Error says why the shell could not start.
	Error string `msgpack:"error,omitempty" json:"error,omitempty"`
}

// Resize tells the agent the host terminal's new size (the host got
// SIGWINCH); the agent sets it on the shell's console, which sends
// SIGWINCH to the foreground job. A serial console has no way of its own
// to carry a window size.
type Resize struct {
	Size WindowSize `msgpack:"size" json:"size"`
}

// MessageType implements Message.
func (*ShellEvent) MessageType() Type { return TypeShellEvent }

// MessageType implements Message.
func (*Resize) MessageType() Type { return TypeResize }

// ShareArg is the kernel command-line parameter naming one virtio-9p
// share for the agent to mount at boot (repeated for each share).
const ShareArg = "scxvm.share"

// ShareTag is the 9p mount tag of the i-th share (QEMU's mount_tag).
func ShareTag(i int) string { return "scxvm" + strconv.Itoa(i) }

// FormatShareArg returns "scxvm.share=TAG,ro|rw,DIR" for the kernel
// command line; DIR is escaped so that spaces and commas survive.
func FormatShareArg(tag, guestDir string, writable bool) string {
	mode := "ro"
	if writable {
		mode = "rw"
	}
	return ShareArg + "=" + tag + "," + mode + "," + url.QueryEscape(guestDir)
}

// ParseShareArg reads the value of a ShareArg parameter.
func ParseShareArg(v string) (tag, guestDir string, writable bool, err error) {
	parts := strings.SplitN(v, ",", 3)
	if len(parts) != 3 || parts[0] == "" {
		return "", "", false, fmt.Errorf("%s=%q: want TAG,ro|rw,DIR", ShareArg, v)
	}
	switch parts[1] {
	case "ro":
	case "rw":
		writable = true
	default:
		return "", "", false, fmt.Errorf("%s=%q: mode %q is neither ro nor rw", ShareArg, v, parts[1])
	}
	dir, err := url.QueryUnescape(parts[2])
	if err != nil || !strings.HasPrefix(dir, "/") {
		return "", "", false, fmt.Errorf("%s=%q: bad guest directory", ShareArg, v)
	}
	return parts[0], dir, writable, nil
}
