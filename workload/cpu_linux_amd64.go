//go:build linux && amd64

package workload

import "sync"

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func rdpid() uint32
func rdtscpAux() uint32

// vforkExit starts a child process that exits at once (CLONE_VFORK: it
// returns after the child is gone). errno is 0 on success.
func vforkExit() (pid, errno uintptr)

const haveVforkExit = true

var cpuFeatures = sync.OnceValues(func() (hasRDPID, hasRDTSCP bool) {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf >= 7 {
		_, _, ecx, _ := cpuid(7, 0)
		hasRDPID = ecx&(1<<22) != 0
	}
	maxExt, _, _, _ := cpuid(0x80000000, 0)
	if maxExt >= 0x80000001 {
		_, _, _, edx := cpuid(0x80000001, 0)
		hasRDTSCP = edx&(1<<27) != 0
	}
	return hasRDPID, hasRDTSCP
})

// cpuReader returns the fastest way to read the current cpu: Linux keeps
// the cpu number in TSC_AUX (low 12 bits), readable with RDPID or RDTSCP
// without a system call.
func cpuReader() func() int {
	rdp, rdt := cpuFeatures()
	switch {
	case rdp:
		return func() int { return int(rdpid() & 0xfff) }
	case rdt:
		return func() int { return int(rdtscpAux() & 0xfff) }
	}
	return getcpuSyscall
}
