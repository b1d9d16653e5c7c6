//go:build linux && !amd64

package workload

// cpuPause is a no-op where PAUSE is not implemented.
func cpuPause() {}
