package workload

import _ "unsafe" // go:linkname

// nanotime is CLOCK_MONOTONIC in ns through the vDSO, comparable across
// processes (time.Since is relative to each process's start).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
