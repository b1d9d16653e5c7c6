// Package agent is the guest side of scxvm: the program that runs as PID 1
// (/init) inside the QEMU guest. It mounts the pseudo file systems, loads
// the modules shipped in the initramfs, opens the channel to the host
// (virtio-serial port "org.scxvm.0", or vsock when the kernel command line
// says scxvm.transport=vsock), sends Hello, and then runs the host's Jobs
// one after another: start or keep the scheduler (package supervise), run
// the scenario (package scenario), stream Progress, SchedEvent and
// KernelLog messages, send Reports and a JobResult. On the host's Bye it
// answers Bye and powers the guest off. It never exits while PID 1: a panic
// becomes a fatal Error message, then the guest powers off.
//
// # Processes
//
// PID 1 sets the machine up (mount table, RLIMIT_MEMLOCK, modules from
// /lib/modules/scxvm in lexical order, cgroup controllers, SysRq), opens
// the channel and sends the Hello itself: re-executing the binary costs
// more than everything else under TCG, and the Hello must go out fast. It
// then starts the session (the same binary, re-executed with
// SCXVM_AGENT_SESSION in its environment), hands it the channel as an
// inherited file descriptor, closes its own copy (so there is one writer
// per port at any time), and loops on wait4(-1), reaping every orphan the
// kernel hands it, until the session exits; then it powers off.
//
// The session owns its children (scheduler loader, workers, payloads) and
// waits for them with exec.Cmd and os.Process as usual. PID 1 is not their
// parent, so its wait4(-1) can never steal their exit status; orphans (the
// children of a payload killed mid-run, say) go to PID 1, not to the
// session. If the session process does not report that it started (a
// binary whose main does not dispatch on IsGuest), PID 1 runs the session
// itself and orphans stay zombies until power-off.
//
// The binary's main must therefore call Main when IsGuest reports true:
//
//	func main() {
//		workload.RunWorkerIfChild()
//		if agent.IsGuest() {
//			agent.Main() // never returns
//		}
//		... CLI ...
//	}
//
// # Jobs
//
// A Job's scheduler is kept for the next job when the next job asks for
// the same one and it is still healthy; it is stopped after the job when
// SchedulerSpec.Restart is set (its "detached" event comes before that
// job's JobResult), and replaced at the start of the next job when the spec
// differs or it was ejected or died ("detached" then belongs to the new
// job, before its "attached"). When the host says Bye the scheduler is
// unloaded without an event: the last JobResult already gave its state.
//
// While a job runs (from its scheduler's attach to its last report), the
// guest-wide stall watch (package stallwatch) samples every thread of the
// guest on a SCHED_FIFO thread; a thread runnable without running for
// longer than the scenario's Checks.MaxRunnableWait is sent at once as a
// RunnableWaits, and the longest waits follow in a final RunnableWaits
// before the Reports. Checks.Skip with "no_stalled_task" turns it off.
//
// Each job is bounded by Job.Timeout (the scenario is stopped and what was
// collected is sent with StatusTimedOut) and by Job.Watchdog (the agent
// itself is stuck: it sends a fatal Error and Bye and powers off). Between
// jobs, a host that sends nothing for Config.IdleTimeout (120 s) gets the
// same treatment. A "hang" step silences the agent for good: nothing is
// sent any more and the host must time out.
//
// # Warm starts
//
// Park, PutFile and Resume (package protocol) let the host save the VM
// while the session is parked and restore it later. Over vsock the
// restore resets the guest's connections and gives it a new CID, so a
// parked session listens on protocol.VsockAgentPort (any CID) before it
// sends Parked; when its channel breaks while parked, it accepts the
// host's new connection there (Config.ParkListen, Config.RejoinTimeout),
// sends Parked on it and goes on over it. The listener lives in the
// session process, which owns the channel; a connection it accepts is a
// blocking descriptor like the one PID 1 handed over. A Resume on the
// old channel closes the listener.
//
// Tests drive the session with Serve over an in-memory stream and fake
// sysfs trees; PID 1 set-up is a mount table applied through an interface
// tests fake.
//
// # Environment
//
//   - SCXVM_AGENT_SESSION: set by PID 1 for the session process it starts
//     (its value is the transport name).
//   - SCXVM_AGENT_BOOT_NS, SCXVM_AGENT_START_NS: CLOCK_BOOTTIME and the
//     wall clock (ns) when PID 1 started, for the session's timings.
//
// The session removes these from its environment, so its children do not
// see them.
//
// Kernel command line (/proc/cmdline): scxvm.transport=vsock|virtio-serial
// (default virtio-serial) and scxvm.vsock_port=N (default 1024).
package agent
