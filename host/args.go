package host

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/scxvm/scxvm/protocol"
)

// BaseCmdline is the kernel command line every guest gets, before
// scxvm.transport, scxvm.vsock_port and Config.Cmdline (which can
// override any of it: the last occurrence of a parameter wins).
//
// transparent_hugepage=madvise: with Debian's default (always) the first
// touch of a Go process's heap and bss clears a 2 MiB huge page, which
// under TCG made every worker start 5-15 ms slower (measured in the same
// guest: 33-48 ms per exec of scxvm-agent without, 38-60 ms with).
// Kernels without THP ignore it.
//
// no_timer_check: the kernel's boot check that the IO-APIC timer ticks
// counts ticks over a busy-wait; a TCG guest on a loaded host loses that
// race and panicked ("IO-APIC + timer doesn't work!"), seen here with
// load average above 10. Guests of a hypervisor need no such check.
var BaseCmdline = []string{
	"console=ttyS0", "panic=-1", "nokaslr", "mitigations=off",
	"transparent_hugepage=madvise", "sysctl.kernel.sched_schedstats=1", "no_timer_check", "quiet",
}

// Plan holds the decisions Start makes before building the QEMU command
// line: probed accelerator and transport, and the file descriptor
// numbers QEMU inherits.
type Plan struct {
	Accel     string // AccelKVM or AccelTCG
	Transport string // protocol.TransportVsock or protocol.TransportVirtioSerial
	ConsoleFD int    // QEMU's fd of the connected serial console socket
	SerialFD  int    // QEMU's fd of the connected virtio-serial socket (virtio-serial)
	GuestCID  uint32 // guest vsock CID (vsock)
	VhostFD   int    // QEMU's fd of an opened /dev/vhost-vsock holding GuestCID; 0: QEMU opens it
	VsockPort uint32 // host port the guest dials; 0 means protocol.VsockPort (and a restored VM, which the host dials)
	// ShareModel is the fsdev security model of Config.Shares (ShareModel);
	// empty means ShareModelNone.
	ShareModel string
	// MonitorFD is QEMU's fd of the connected QMP monitor socket; 0: none.
	MonitorFD int
	// IncomingFD is QEMU's fd of a saved state to restore instead of
	// booting; 0: boot. With RAMFD it is the same file, positioned after
	// the memory image, and QEMU waits (-incoming defer) for the monitor
	// to start the restore (VM.watchRestore); otherwise -incoming fd:N.
	IncomingFD int
	// RAMFD is QEMU's fd of the file that backs guest memory (a memory
	// image, see ramImage); 0: anonymous memory.
	RAMFD int
	// RAMShared maps RAMFD shared, so that a save can copy the guest's
	// memory from it (a VM that may be saved); otherwise privately, so
	// that the guest's writes never reach the file (a restore).
	RAMShared bool
}

// ramBackend is the id of the memory backend of a RAMFD guest.
const ramBackend = "scxvm-ram"

// KernelCmdline returns the guest kernel command line for cfg and plan,
// or an error if it exceeds MaxCmdline.
func KernelCmdline(cfg Config, plan Plan) (string, error) {
	args := append([]string(nil), BaseCmdline...)
	if plan.Transport == protocol.TransportVsock {
		args = append(args, "scxvm.transport=vsock")
		if plan.VsockPort != 0 && plan.VsockPort != protocol.VsockPort {
			args = append(args, "scxvm.vsock_port="+strconv.FormatUint(uint64(plan.VsockPort), 10))
		}
	}
	args = append(args, shareCmdline(cfg.Shares)...)
	for _, a := range cfg.Cmdline {
		if a = strings.TrimSpace(a); a != "" {
			args = append(args, a)
		}
	}
	s := strings.Join(args, " ")
	if len(s) >= MaxCmdline {
		return "", fmt.Errorf("kernel command line is %d bytes, the limit is %d (pass configuration over the channel instead)", len(s), MaxCmdline-1)
	}
	return s, nil
}

// Args returns QEMU's argv (without the program name) for cfg and plan.
// It is a pure function of its inputs. It assumes cfg.Validate() passed;
// an over-long kernel command line is passed through unchanged (Start
// rejects it first).
func Args(cfg Config, plan Plan) []string {
	cfg = cfg.withDefaults()
	t := cfg.Topology

	machine := cfg.Machine
	if plan.RAMFD > 0 {
		machine += ",memory-backend=" + ramBackend
	}
	a := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", machine,
	}
	switch plan.Accel {
	case AccelKVM:
		a = append(a, "-accel", "kvm", "-cpu", "host")
	default:
		// vendor=GenuineIntel: Linux derives the LLC from CPUID leaf 4,
		// which QEMU reports per die; with TCG's default AMD vendor an
		// old-family guest CPU gets one LLC per socket instead.
		a = append(a, "-accel", "tcg,thread="+cfg.TCGThread, "-cpu", "max,vendor=GenuineIntel")
	}

	smp := fmt.Sprintf("cpus=%d,sockets=%d,dies=%d,cores=%d,threads=%d",
		t.CPUs(), t.NUMANodes, t.LLCs, t.CoresPerLLC, t.ThreadsPerCore)
	a = append(a, "-smp", smp, "-m", strconv.Itoa(cfg.MemoryMB))
	if plan.RAMFD > 0 {
		share := "off"
		if plan.RAMShared {
			share = "on"
		}
		// QEMU opens the path itself: /proc/self/fd/N names the inherited
		// file whatever it is called (a memfd has no other name).
		a = append(a, "-object", fmt.Sprintf("memory-backend-file,id=%s,size=%dM,mem-path=/proc/self/fd/%d,share=%s",
			ramBackend, cfg.MemoryMB, plan.RAMFD, share))
	}

	if t.NUMANodes > 1 {
		per := cfg.MemoryMB / t.NUMANodes
		for n := range t.NUMANodes {
			a = append(a,
				"-object", fmt.Sprintf("memory-backend-ram,id=mem%d,size=%dM", n, per),
				"-numa", fmt.Sprintf("node,nodeid=%d,memdev=mem%d", n, n))
		}
		for n := range t.NUMANodes {
			a = append(a, "-numa", fmt.Sprintf("cpu,node-id=%d,socket-id=%d", n, n))
		}
	}

	cmdline, _ := KernelCmdline(cfg, plan)
	a = append(a, "-kernel", cfg.Kernel)
	if cfg.Initramfs != "" {
		a = append(a, "-initrd", cfg.Initramfs)
	}
	a = append(a, "-append", cmdline)

	a = append(a,
		"-chardev", fmt.Sprintf("socket,id=con,fd=%d", plan.ConsoleFD),
		"-serial", "chardev:con")

	if plan.MonitorFD > 0 {
		a = append(a,
			"-chardev", fmt.Sprintf("socket,id=mon,fd=%d", plan.MonitorFD),
			"-mon", "chardev=mon,mode=control",
			// The state is saved while the guest is paused; without this
			// the restored VM would stay paused too (QEMU restores the
			// source's run state) and wait for a "cont".
			"-global", "migration.store-global-state=off")
	}

	switch plan.Transport {
	case protocol.TransportVsock:
		dev := fmt.Sprintf("vhost-vsock-pci,guest-cid=%d", plan.GuestCID)
		if plan.VhostFD > 0 {
			dev += fmt.Sprintf(",vhostfd=%d", plan.VhostFD)
		}
		a = append(a, "-device", dev)
	default:
		a = append(a,
			"-device", "virtio-serial-pci,id=vser",
			"-chardev", fmt.Sprintf("socket,id=agent,fd=%d", plan.SerialFD),
			"-device", "virtserialport,bus=vser.0,chardev=agent,name="+protocol.VirtioPortName)
	}
	a = append(a, shareArgs(cfg, plan)...)
	switch {
	case plan.IncomingFD > 0 && plan.RAMFD > 0:
		// The restore needs the x-ignore-shared capability, which only
		// the monitor can set.
		a = append(a, "-incoming", "defer")
	case plan.IncomingFD > 0:
		a = append(a, "-incoming", fmt.Sprintf("fd:%d", plan.IncomingFD))
	}
	return a
}
