package vmtest

import (
	"context"
	"io"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// vmHandle is what a session needs from a running VM (package host's
// *VM); tests substitute a fake.
type vmHandle interface {
	// Accept waits for the agent's connection.
	Accept(ctx context.Context) (io.ReadWriteCloser, error)
	// Wait waits for QEMU to exit (called once).
	Wait() error
	// Kill stops QEMU at once.
	Kill() error
	// Close releases everything (temp dir, sockets, QEMU).
	Close() error
	Accel() string
	Transport() string
	// Since returns the time since QEMU started.
	Since() time.Duration
	// ConsoleTail returns the last n console lines.
	ConsoleTail(n int) []string
	// Incidents returns the kernel incidents seen on the console.
	Incidents() []Incident
	// Panics delivers each kernel panic as soon as the console shows it
	// (QEMU may take seconds more to exit: the dying kernel waits for
	// the other cpus); it is closed when QEMU has exited.
	Panics() <-chan Incident
}

// vmConfig is what Run asks of the VM driver.
type vmConfig struct {
	QEMU        string
	Kernel      string
	Initramfs   string
	KernelArgs  []string
	Topology    spec.Topology
	MemoryMB    int
	Accel       string
	Transport   string
	Timeout     time.Duration
	ConsoleLog  string
	Boot        string
	CacheDir    string
	CacheMax    int64
	Shares      []spec.Share
	Interactive bool
	// State is host.Config.State (warm starts).
	State  string
	Stdin  io.Reader
	Stdout io.Writer
	Logf   func(format string, args ...any)
}
