package cgroup

import (
	"errors"
	"time"
)

// ErrNotSupported is returned by NewManager on systems without cgroups.
var ErrNotSupported = errors.New("cgroups are not supported on this system")

// ErrNoCgroup2 is returned (wrapped) by NewManager when the root is not on
// a cgroup v2 file system.
var ErrNoCgroup2 = errors.New("cgroup v2 not mounted")

// DefaultTimeout bounds each write to cgroupfs unless WithTimeout says
// otherwise.
const DefaultTimeout = 2 * time.Second

// Retry policy for moving tasks into a busy cgroup.
const (
	busyRetries = 3
	busyBackoff = 100 * time.Millisecond
)

// Option configures a Manager.
type Option func(*options)

type options struct {
	timeout     time.Duration
	noFSCheck   bool
	controllers []controller
	drainTo     string
}

type controller struct {
	name     string
	required bool
}

// WithTimeout bounds every write to cgroupfs by d instead of
// DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithoutFSCheck accepts a root that is not on cgroup2, such as a directory
// of regular files in a test. Interface files are then created on first
// write, controllers are assumed available, and Drain moves tasks to root.
func WithoutFSCheck() Option {
	return func(o *options) { o.noFSCheck = true }
}

// WithControllers replaces the controllers enabled for the manager's
// cgroups. By default cpuset is required and cpu is enabled when the
// hierarchy offers it.
func WithControllers(names ...string) Option {
	return func(o *options) {
		o.controllers = nil
		for _, n := range names {
			o.controllers = append(o.controllers, controller{name: n, required: true})
		}
	}
}

// WithDrainTarget makes Drain move tasks into dir (a cgroup directory)
// instead of the hierarchy root.
func WithDrainTarget(dir string) Option {
	return func(o *options) { o.drainTo = dir }
}

func defaultOptions() options {
	return options{
		timeout:     DefaultTimeout,
		controllers: []controller{{"cpuset", true}, {"cpu", false}},
	}
}
