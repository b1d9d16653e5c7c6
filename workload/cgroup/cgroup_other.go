//go:build !linux

package cgroup

import (
	"fmt"
	"runtime"
)

// Manager is a cgroup v2 manager; on this system it cannot be created.
type Manager struct{}

// Group is a set of cgroups removed together; see the Linux documentation.
type Group struct{}

// NewManager returns ErrNotSupported on this system.
func NewManager(root string, opts ...Option) (*Manager, error) {
	return nil, fmt.Errorf("cgroup manager at %s: %w (%s)", root, ErrNotSupported, runtime.GOOS)
}

// Path returns "".
func (m *Manager) Path(name string) string { return "" }

// Plain reports true: there is no cgroup2 outside Linux.
func (m *Manager) Plain() bool { return true }

// Controllers returns nil.
func (m *Manager) Controllers() []string { return nil }

// Create returns ErrNotSupported.
func (m *Manager) Create(name string) error { return ErrNotSupported }

// Remove returns ErrNotSupported.
func (m *Manager) Remove(name string) error { return ErrNotSupported }

// SetCPUs returns ErrNotSupported.
func (m *Manager) SetCPUs(name, cpus string) error { return ErrNotSupported }

// ClearCPUs returns ErrNotSupported.
func (m *Manager) ClearCPUs(name string) error { return ErrNotSupported }

// SetMems returns ErrNotSupported.
func (m *Manager) SetMems(name, mems string) error { return ErrNotSupported }

// MoveTask returns ErrNotSupported.
func (m *Manager) MoveTask(name string, pid int) error { return ErrNotSupported }

// MoveTasks returns ErrNotSupported.
func (m *Manager) MoveTasks(name string, pids []int) error { return ErrNotSupported }

// MoveThreads returns ErrNotSupported.
func (m *Manager) MoveThreads(name string, tids []int) error { return ErrNotSupported }

// MoveToRoot returns ErrNotSupported.
func (m *Manager) MoveToRoot(pid int) error { return ErrNotSupported }

// Drain returns ErrNotSupported.
func (m *Manager) Drain(name string) error { return ErrNotSupported }

// Tasks returns ErrNotSupported.
func (m *Manager) Tasks(name string) ([]int, error) { return nil, ErrNotSupported }

// Threads returns ErrNotSupported.
func (m *Manager) Threads(name string) ([]int, error) { return nil, ErrNotSupported }

// Cleanup returns nil: nothing was created.
func (m *Manager) Cleanup() error { return nil }

// NewGroup returns a Group whose methods fail with ErrNotSupported.
func (m *Manager) NewGroup() *Group { return &Group{} }

// Add returns ErrNotSupported.
func (g *Group) Add(name, cpus string) error { return ErrNotSupported }

// Names returns nil.
func (g *Group) Names() []string { return nil }

// Close returns nil.
func (g *Group) Close() error { return nil }
