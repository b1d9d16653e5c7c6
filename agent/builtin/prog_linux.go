package builtin

import (
	"fmt"
	"math"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Labels used in the generated programs.
const (
	labelInsert = "insert"
)

// kfuncCall returns a call of the kernel function with BTF id in vmlinux.
func kfuncCall(id btf.TypeID) asm.Instruction {
	return asm.Instruction{
		OpCode:   asm.OpCode(asm.JumpClass).SetJumpOp(asm.Call),
		Src:      asm.PseudoKfuncCall,
		Constant: int64(id),
	}
}

// insertTail inserts the task in R6 with the enqueue flags in R7 into the DSQ
// whose id is in R2, with the default slice, and returns. The first
// instruction carries labelInsert.
func insertTail(l *layout) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(labelInsert),
		asm.LoadImm(asm.R3, imm64(SliceDefault), asm.DWord),
		asm.Mov.Reg(asm.R4, asm.R7),
		kfuncCall(l.insert.id),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
}

// enqueueArgs loads the arguments of ops.enqueue(struct task_struct *p,
// u64 enq_flags) from the context (an array of u64) into R6 and R7.
func enqueueArgs() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord),
		asm.LoadMem(asm.R7, asm.R1, 8, asm.DWord),
	}
}

// taskOffset checks that a task_struct member can be addressed by a load.
func taskOffset(f field) (int16, error) {
	if f.off > math.MaxInt16 {
		return 0, fmt.Errorf("task_struct member at offset %d: too far for a load: %w", f.off, ErrNotSupported)
	}
	return int16(f.off), nil
}

// stallEnqueue returns ops.enqueue of the "stall" scheduler: kernel threads
// and the threads of PID 1 (the agent) go to the global DSQ, every other
// task is dropped, so it stays runnable without ever running.
//
//	if (p->flags & PF_KTHREAD || p->tgid == 1)
//		insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
func stallEnqueue(l *layout) (asm.Instructions, error) {
	flagsOff, err := taskOffset(l.taskFlags)
	if err != nil {
		return nil, err
	}
	tgidOff, err := taskOffset(l.taskTgid)
	if err != nil {
		return nil, err
	}
	insns := enqueueArgs()
	insns = append(insns,
		asm.LoadImm(asm.R2, imm64(DSQGlobal), asm.DWord),
		asm.LoadMem(asm.R3, asm.R6, flagsOff, asm.Word),
		asm.And.Imm(asm.R3, pfKthread),
		asm.JNE.Imm(asm.R3, 0, labelInsert),
		asm.LoadMem(asm.R3, asm.R6, tgidOff, asm.Word),
		asm.JEq.Imm(asm.R3, 1, labelInsert),
		// Drop the task.
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	return append(insns, insertTail(l)...), nil
}

// rcuPrefix is "rcu" as the low three bytes of a little-endian u32 load
// of task_struct.comm.
const rcuPrefix = 'r' | 'c'<<8 | 'u'<<16

// starveEnqueue returns ops.enqueue of the "starve" scheduler: every
// user-space task and the RCU kernel threads ("rcu_preempt", "rcuog/0",
// ...) go to the global DSQ, every other kernel thread is dropped, so that
// a kernel thread enqueued while no cpu is idle stays runnable without
// ever running. (A kernel thread that wakes up while a cpu is idle is
// still dispatched by the kernel's default ops.select_cpu, which keeps the
// guest booting and the agent working; per-cpu kernel threads skip
// select_cpu and always starve.) The RCU threads are spared because a
// stalled grace period blocks cgroup moves and makes the kernel eject the
// scheduler for an RCU stall, which would end the test before the point.
//
//	if (!(p->flags & PF_KTHREAD) || (*(u32 *)p->comm & 0xffffff) == 'rcu')
//		insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
func starveEnqueue(l *layout) (asm.Instructions, error) {
	flagsOff, err := taskOffset(l.taskFlags)
	if err != nil {
		return nil, err
	}
	commOff, err := taskOffset(l.taskComm)
	if err != nil {
		return nil, err
	}
	insns := enqueueArgs()
	insns = append(insns,
		asm.LoadImm(asm.R2, imm64(DSQGlobal), asm.DWord),
		asm.LoadMem(asm.R3, asm.R6, flagsOff, asm.Word),
		asm.And.Imm(asm.R3, pfKthread),
		asm.JEq.Imm(asm.R3, 0, labelInsert),
		asm.LoadMem(asm.R3, asm.R6, commOff, asm.Word),
		asm.And.Imm(asm.R3, 0xffffff),
		asm.JEq.Imm(asm.R3, rcuPrefix, labelInsert),
		// Drop the kernel thread.
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	return append(insns, insertTail(l)...), nil
}

// errorEnqueue returns ops.enqueue of the "error" scheduler. counter names
// an array map with one u64 element.
//
//	n = __sync_add_and_fetch(&counter, 1);
//	insert(p, n <= after ? SCX_DSQ_GLOBAL : BOGUS_DSQ, SCX_SLICE_DFL, enq_flags);
func errorEnqueue(l *layout, counter string, after uint64) asm.Instructions {
	insns := enqueueArgs()
	insns = append(insns,
		asm.LoadMapValue(asm.R1, 0, 0).WithReference(counter),
		asm.Mov.Imm(asm.R2, 1),
		asm.StoreXAdd(asm.R1, asm.R2, asm.DWord),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.DWord),
		asm.LoadImm(asm.R4, imm64(after), asm.DWord),
		asm.LoadImm(asm.R2, imm64(DSQGlobal), asm.DWord),
		asm.JLE.Reg(asm.R3, asm.R4, labelInsert),
		asm.LoadImm(asm.R2, imm64(BogusDSQ), asm.DWord),
	)
	return append(insns, insertTail(l)...)
}

// imm64 reinterprets v as the 64-bit immediate of a LoadImm.
func imm64(v uint64) int64 { return int64(v) }
