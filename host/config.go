package host

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// Accelerators and transports accepted by Config.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"

	// TCG threading modes (Config.TCGThread).
	TCGSingle = "single"
	TCGMulti  = "multi"

	// TransportAuto picks vsock when the host has vhost-vsock, else
	// virtio-serial; the transports themselves are protocol's
	// (protocol.TransportVsock, protocol.TransportVirtioSerial).
	TransportAuto = "auto"

	MachineQ35 = "q35"
	MachinePC  = "pc"
)

// Defaults used for zero Config fields.
const (
	DefaultQEMU     = "qemu-system-x86_64"
	DefaultMemoryMB = 1024
	DefaultMachine  = MachineQ35
)

// MaxCmdline is the x86 kernel command line limit, including the
// terminating NUL.
const MaxCmdline = 2048

// Config describes a VM. The zero value plus Kernel and Initramfs is a
// valid configuration.
type Config struct {
	// QEMU is the emulator binary (default qemu-system-x86_64 from PATH).
	QEMU string
	// Kernel is a bzImage/vmlinuz, or an uncompressed ELF vmlinux with a
	// PVH note (booted directly, skipping decompression).
	Kernel string
	// Boot is how the kernel boots: "auto" (default) boots a bzImage's
	// ELF vmlinux through its PVH entry point when it has one (extracted
	// once into CacheDir's vmlinux/ area), else the bzImage; "pvh" insists
	// on PVH; "image" boots Kernel as given. VM.Boot says which was used.
	Boot string
	// CacheDir is the scxvm cache root holding extracted vmlinux files;
	// empty means kernel.DefaultCacheDir() ($SCXVM_CACHE_DIR, ...).
	CacheDir string
	// CacheMax bounds the cache's derived files (see internal/cachedir);
	// zero means $SCXVM_CACHE_MAX, else 2 GiB.
	CacheMax int64
	// Initramfs is the cpio archive passed with -initrd (optional).
	Initramfs string
	// Cmdline holds extra kernel arguments appended to the base line,
	// BaseCmdline.
	Cmdline []string
	// Topology is the guest CPU layout.
	Topology spec.Topology
	// MemoryMB is the guest memory (default 1024); it must divide evenly
	// across NUMA nodes.
	MemoryMB int
	// Machine is the QEMU machine type: "q35" (default) or "pc".
	// (microvm is not offered: QEMU 7.2 gives it neither dies nor NUMA,
	// and under TCG its guest can hang calibrating the TSC.)
	Machine string
	// Accel is "auto" (default: kvm when it works, else tcg), "kvm" or
	// "tcg".
	Accel string
	// TCGThread is QEMU's TCG threading when TCG is used: "single"
	// (default) runs all vcpus on one host thread, "multi" gives each its
	// own. Under multi-threaded TCG (QEMU 7.2) a vcpu can execute a stale
	// int3 of a static-key patch (text_poke_bp) after the patch completed,
	// so switching sched_ext on or off oopses with "Oops: int3" in
	// __schedule in a good share of boots; single-threaded TCG never did
	// in our runs. The kernel's behaviour, not the emulator's, is under
	// test, so the deterministic mode is the default.
	TCGThread string
	// Transport is "auto" (default: vsock when /dev/vhost-vsock is
	// usable, else virtio-serial), "vsock" or "virtio-serial".
	Transport string
	// Timeout kills the VM after this long; 0 means no timeout (the
	// context given to Start still applies).
	Timeout time.Duration
	// ConsoleLog is the file receiving the full serial console. Empty
	// means a new file scxvm-console-*.log in os.TempDir(), which is
	// kept after Close (see VM.ConsolePath).
	ConsoleLog string
	// Interactive connects the serial console to Stdin and Stdout (for a
	// shell in the guest); the console is still logged and watched.
	Interactive bool
	// Stdin and Stdout are the user's terminal when Interactive.
	Stdin  io.Reader
	Stdout io.Writer
	// Shares are host directories shared into the guest with virtio-9p
	// (HostDir and GuestDir absolute); the agent mounts them at boot, as
	// the kernel command line tells it (protocol.ShareArg).
	Shares []spec.Share
	// State says whether the VM may start from a saved state instead of
	// booting: StateOff (default), StateSave (boot; VM.SaveState saves the
	// state into CacheDir's snapshot/ area) or StateAuto (restore the
	// state saved for this exact machine when there is one, else as
	// StateSave). VM.Start says how the VM came up. Both transports are
	// restored; a restored vsock VM has a fresh CID and its agent is
	// reached by VM.Accept dialling it.
	State string
	// Logf receives diagnostics such as the reason for an accelerator
	// fallback. Nil discards them.
	Logf func(format string, args ...any)
}

// withDefaults returns c with defaults filled in (Accel and Transport
// stay "auto" until probed).
func (c Config) withDefaults() Config {
	if c.QEMU == "" {
		c.QEMU = DefaultQEMU
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = DefaultMemoryMB
	}
	if c.Machine == "" {
		c.Machine = DefaultMachine
	}
	if c.Accel == "" {
		c.Accel = AccelAuto
	}
	if c.TCGThread == "" {
		c.TCGThread = TCGSingle
	}
	if c.Transport == "" {
		c.Transport = TransportAuto
	}
	if c.Boot == "" {
		c.Boot = BootAuto
	}
	c.Topology = c.Topology.WithDefaults()
	return c
}

// Validate checks c without touching the file system (Start also checks
// that the kernel and initramfs exist).
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Kernel == "" {
		return errors.New("config: no kernel")
	}
	if err := c.Topology.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.MemoryMB < 0 {
		return fmt.Errorf("config: memory %d MB is negative", c.MemoryMB)
	}
	if n := c.Topology.NUMANodes; c.MemoryMB%n != 0 {
		return fmt.Errorf("config: memory %d MB does not divide across %d NUMA nodes", c.MemoryMB, n)
	}
	switch c.Machine {
	case MachineQ35, MachinePC:
	default:
		return fmt.Errorf("config: unknown machine %q (want q35 or pc)", c.Machine)
	}
	switch c.Accel {
	case AccelAuto, AccelKVM, AccelTCG:
	default:
		return fmt.Errorf("config: unknown accel %q (want auto, kvm or tcg)", c.Accel)
	}
	switch c.TCGThread {
	case TCGSingle, TCGMulti:
	default:
		return fmt.Errorf("config: unknown tcg threading %q (want single or multi)", c.TCGThread)
	}
	switch c.Transport {
	case TransportAuto, protocol.TransportVsock, protocol.TransportVirtioSerial:
	default:
		return fmt.Errorf("config: unknown transport %q (want auto, vsock or virtio-serial)", c.Transport)
	}
	switch c.Boot {
	case BootAuto, BootPVH, BootImage:
	default:
		return fmt.Errorf("config: unknown boot %q (want auto, pvh or image)", c.Boot)
	}
	if err := validateShares(c.Shares); err != nil {
		return err
	}
	switch c.State {
	case StateOff, StateSave, StateAuto:
	default:
		return fmt.Errorf("config: unknown state %q (want \"\", save or auto)", c.State)
	}
	if c.Interactive && (c.Stdin == nil || c.Stdout == nil) {
		return errors.New("config: interactive needs Stdin and Stdout")
	}
	return nil
}

func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}
