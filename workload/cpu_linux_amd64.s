//go:build linux

#include "textflag.h"

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func rdpid() uint32
TEXT ·rdpid(SB), NOSPLIT, $0-4
	// RDPID RAX (F3 0F C7 /7)
	BYTE $0xF3; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8
	MOVL AX, ret+0(FP)
	RET

// func rdtscpAux() uint32
TEXT ·rdtscpAux(SB), NOSPLIT, $0-4
	// RDTSCP (0F 01 F9): TSC_AUX in ECX
	BYTE $0x0F; BYTE $0x01; BYTE $0xF9
	MOVL CX, ret+0(FP)
	RET

// func vforkExit() (pid, errno uintptr)
//
// clone(CLONE_VM|CLONE_VFORK|SIGCHLD) on the caller's stack. The child
// touches no memory (not even the stack): it calls exit(0) at once, so the
// suspended parent finds its stack as it left it.
TEXT ·vforkExit(SB), NOSPLIT, $0-16
	MOVQ $0x4111, DI // CLONE_VM 0x100 | CLONE_VFORK 0x4000 | SIGCHLD 17
	XORQ SI, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	XORQ R9, R9
	MOVQ $56, AX // SYS_clone
	SYSCALL
	CMPQ AX, $0
	JNE parent
	XORQ DI, DI
	MOVQ $60, AX // SYS_exit
	SYSCALL
	INT $3

parent:
	CMPQ AX, $0xfffffffffffff001
	JLS ok
	NEGQ AX
	MOVQ $-1, pid+0(FP)
	MOVQ AX, errno+8(FP)
	RET

ok:
	MOVQ AX, pid+0(FP)
	MOVQ $0, errno+8(FP)
	RET
