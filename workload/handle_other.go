//go:build !linux

package workload

import (
	"errors"
	"syscall"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// ErrNotSupported is returned by Spawn on systems other than Linux.
var ErrNotSupported = errors.New("workload: workers need Linux")

// ErrThreadWorkers is returned by WorkerPIDsForCgroupProcs for thread
// workers.
var ErrThreadWorkers = errors.New("thread workers share the caller's process: cgroup.procs would move the whole process; write WorkerTIDs to cgroup.threads of a threaded cgroup instead")

// WorkloadHandle owns a set of spawned workers (Linux only).
type WorkloadHandle struct{}

// RunWorkerIfChild returns at once outside Linux.
func RunWorkerIfChild() {}

// Spawn fails with ErrNotSupported outside Linux.
func Spawn(cfg spec.WorkloadConfig, opts ...SpawnOption) (*WorkloadHandle, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	return nil, ErrNotSupported
}

// Len is the number of workers.
func (h *WorkloadHandle) Len() int { return 0 }

// Config is the handle's configuration.
func (h *WorkloadHandle) Config() spec.WorkloadConfig { return spec.WorkloadConfig{} }

// WorkerPIDs returns the worker process ids.
func (h *WorkloadHandle) WorkerPIDs() []int { return nil }

// WorkerPIDsForCgroupProcs returns the pids to write to cgroup.procs.
func (h *WorkloadHandle) WorkerPIDsForCgroupProcs() ([]int, error) { return nil, ErrNotSupported }

// WorkerTIDs returns the worker thread ids.
func (h *WorkloadHandle) WorkerTIDs() []int { return nil }

// IsThread reports whether the workers are threads of the caller.
func (h *WorkloadHandle) IsThread() bool { return false }

// SetStopTimeout changes the shared deadline of StopAndCollect.
func (h *WorkloadHandle) SetStopTimeout(time.Duration) {}

// Start releases the workers.
func (h *WorkloadHandle) Start() {}

// StartFor does nothing outside Linux.
func (h *WorkloadHandle) StartFor(time.Duration) {}

// SetAffinity pins a worker.
func (h *WorkloadHandle) SetAffinity(int, []int) error { return ErrNotSupported }

// Signal sends a signal to a worker.
func (h *WorkloadHandle) Signal(int, syscall.Signal) error { return ErrNotSupported }

// SnapshotIterations returns the iteration counters.
func (h *WorkloadHandle) SnapshotIterations() []uint64 { return nil }

// StopAndCollect stops the workers and returns their reports.
func (h *WorkloadHandle) StopAndCollect() []spec.WorkerReport { return nil }

// Close releases everything.
func (h *WorkloadHandle) Close() error { return nil }

// IsWorker reports whether pid is an unreaped process worker (never,
// outside Linux).
func IsWorker(pid int) bool { return false }
