//go:build !linux

package agent

import (
	"fmt"
	"os"
)

// IsGuest reports whether the process is the guest agent: PID 1, or the
// session process PID 1 started. Outside Linux it is always false.
func IsGuest() bool { return false }

// Main runs the guest agent. Outside Linux it prints an error and exits.
func Main() {
	fmt.Fprintln(os.Stderr, "scxvm agent: the guest agent runs on Linux only")
	os.Exit(1)
}
