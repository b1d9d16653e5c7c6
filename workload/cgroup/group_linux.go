package cgroup

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Group is a set of cgroups that are removed together. Create one with
// Manager.NewGroup and defer its Close right away: Close drains and
// removes every cgroup the group added, on every exit path, and may be
// called more than once.
type Group struct {
	m      *Manager
	mu     sync.Mutex
	names  []string
	closed bool
}

// NewGroup returns an empty Group of m.
func (m *Manager) NewGroup() *Group { return &Group{m: m} }

// Add creates the named cgroup and, when cpus is not empty, sets its
// cpuset.cpus. If setting the cpus fails, the cgroup is removed again.
func (g *Group) Add(name, cpus string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fmt.Errorf("add cgroup %s: group already closed", name)
	}
	if err := g.m.Create(name); err != nil {
		return err
	}
	if cpus != "" {
		if err := g.m.SetCPUs(name, cpus); err != nil {
			if rerr := g.m.Remove(name); rerr != nil {
				return errors.Join(fmt.Errorf("add cgroup %s: %w", name, err), rerr)
			}
			return fmt.Errorf("add cgroup %s: %w", name, err)
		}
	}
	if !slices.Contains(g.names, name) {
		g.names = append(g.names, name)
	}
	return nil
}

// Names returns the group's cgroups in the order they were added.
func (g *Group) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.names)
}

// Close drains and removes the group's cgroups, newest first. It tries
// every cgroup even after an error and returns all errors; later calls
// only retry what is left.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	var errs []error
	var left []string
	for _, name := range slices.Backward(g.names) {
		if err := g.m.Remove(name); err != nil {
			errs = append(errs, err)
			left = append(left, name)
		}
	}
	slices.Reverse(left)
	g.names = left
	return errors.Join(errs...)
}
