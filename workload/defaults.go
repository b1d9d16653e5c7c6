package workload

import "time"

// Run-time constants of the worker runtime. The work-type parameters and
// their defaults are part of the test's definition (package spec).
const (
	DefaultStopTimeout      = 5 * time.Second  // StopAndCollect's shared deadline
	DefaultStartTimeout     = 30 * time.Second // how long a spawned worker waits for Start
	spinUnitsPerCpuSpinIter = 1024
	spinUnitsPerNiceSweep   = 512
	ioWritesPerIteration    = 16
	ioWriteBytes            = 4 << 10
	ioSleep                 = 100 * time.Microsecond
	maxMigrationsRecorded   = 10_000
	maxSleepChunk           = 100 * time.Millisecond
)
