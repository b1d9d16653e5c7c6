//go:build linux && !amd64

package workload

const haveVforkExit = false

func vforkExit() (pid, errno uintptr) { panic("workload: vforkExit is amd64-only") }

func cpuReader() func() int { return getcpuSyscall }
