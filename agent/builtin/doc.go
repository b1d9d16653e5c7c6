// Package builtin provides the sched_ext schedulers that scxvm carries in its
// own binary: BPF struct_ops programs assembled in Go with
// github.com/cilium/ebpf, so no clang, libbpf or scheduler binary is needed
// in the guest.
//
// Four schedulers exist, named by [Names]:
//
//   - "fifo" (ops name "scxvm_fifo"): a struct sched_ext_ops with only its
//     name set. The kernel's defaults make it a global FIFO with 20 ms
//     slices and default idle-CPU selection. It is the default scheduler
//     of scxvm.
//   - "stall" (ops name "scxvm_stall"): a fault fixture whose enqueue drops
//     every user-space task outside the agent's thread group (tgid 1).
//     Kernel threads and the agent keep running, so the guest stays
//     responsive while any other user task that becomes runnable starves
//     until the sched_ext watchdog ejects the scheduler ("runnable task
//     stall", followed by a "failed to run for" line). Its watchdog timeout
//     defaults to [DefaultStallTimeoutMs]; 7.x kernels log a harmless
//     "watchdog timeout 2000ms <= rescue overload threshold" warning for
//     it. Nothing stalls until such a task becomes runnable: the agent's
//     workers or payloads.
//   - "error" (ops name "scxvm_error"): a fault fixture that inserts tasks
//     into the global DSQ until [Options.ErrorAfter] enqueues have happened,
//     then inserts into a DSQ that does not exist ([BogusDSQ]), which the
//     kernel reports as a "runtime error" and ejects the scheduler.
//   - "starve" (ops name "scxvm_starve"): a fault fixture whose enqueue
//     drops every kernel thread and sends every user task to the global
//     DSQ. A kernel thread that wakes while a cpu is idle is still run by
//     the kernel's default select_cpu, but one enqueued while the cpus are
//     busy (and every per-cpu kernel thread) stays runnable without
//     running. Its watchdog timeout defaults to [DefaultStarveTimeoutMs]
//     (30 s, the kernel's maximum), so the kernel ejects it too late for a
//     scenario of a few seconds: it is what the agent's guest-wide stall
//     watch must catch. Work that waits on the starved threads (RCU grace
//     periods, workqueues, the console) may hang until the scheduler is
//     unloaded or ejected.
//
// The enqueue kfunc differs between kernels (scx_bpf_dispatch on 6.12,
// scx_bpf_dsq_insert from 6.13): [Load] resolves it, the struct_ops layout
// and the task_struct field offsets from the running kernel's BTF, so the
// same binary works on every kernel with sched_ext.
//
// Usage:
//
//	s, err := builtin.Load("fifo", builtin.Options{})
//	if err != nil {
//		var verr *ebpf.VerifierError
//		if errors.As(err, &verr) { /* report verr's log */ }
//		return err
//	}
//	defer s.Close()
//	// wait until /sys/kernel/sched_ext/state reads "enabled" and
//	// root/ops reads s.Name().
//
// Load needs Linux, root (CAP_BPF and CAP_SYS_ADMIN), sysfs mounted (it
// reads /sys/kernel/btf/vmlinux) and a kernel built with
// CONFIG_SCHED_CLASS_EXT and CONFIG_DEBUG_INFO_BTF; elsewhere it returns an
// error wrapping [ErrNotSupported]. It does not touch RLIMIT_MEMLOCK:
// sched_ext kernels charge BPF memory to the memory cgroup. (Importing
// github.com/cilium/ebpf/rlimit in a PID 1 breaks: it probes /proc in its
// package init, before /proc is mounted.)
//
// Decoding the kernel BTF is most of a Load's cost (2-9 s under TCG); pass
// the same [Options.BTFCache] to every Load in one boot to pay it once.
//
// Environment variables: none are read by the package. Its guest test
// (TestGuest) reads SCXVM_TEST_KERNELS, a list of kernel images separated by
// the OS path list separator, to boot in QEMU; without it the test looks for
// the prebuilt kernels under SCXVM_KERNEL_SEED and the kernels in the scxvm
// cache.
package builtin
