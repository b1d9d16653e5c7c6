//go:build linux && amd64

package workload

// cpuPause executes PAUSE: the spin-wait hint that hands the core's
// resources to its SMT sibling for a while.
func cpuPause()
