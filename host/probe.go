package host

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/scxvm/scxvm/protocol"
)

// ErrUnavailable is wrapped by probe errors: the accelerator or transport
// cannot be used on this host.
var ErrUnavailable = errors.New("unavailable")

// kvmProbeTimeout bounds the trial QEMU run of ProbeKVM. A kernel under
// working KVM boots to its end in a second or two.
const kvmProbeTimeout = 10 * time.Second

type kvmKey struct{ qemu, machine, kernel string }

// kvmProbes caches ProbeKVM results for the life of the process: the
// answer does not change while we run, and a probe costs a QEMU start.
var kvmProbes sync.Map // kvmKey -> func() error (sync.OnceValue)

// ProbeKVM reports whether QEMU can run a KVM guest of the given machine
// type here. It opens /dev/kvm and then starts qemu with -accel kvm -cpu
// host. Given a kernel image, it boots it without a root file system and
// waits for the kernel's end-of-boot panic on the serial port: on some
// nested-virtualisation hosts vCPUs start and run firmware but a kernel
// hangs (in its decompressor, or after its first lines when entered
// through PVH), and only a real boot shows it. Without a kernel it starts the VM paused
// and asks it to quit over QMP, which catches hosts where vCPU setup
// fails. The result is cached per process; the error wraps
// ErrUnavailable and says why.
func ProbeKVM(qemu, machine, kernel string) error {
	if machine == "" {
		machine = DefaultMachine
	}
	f, _ := kvmProbes.LoadOrStore(kvmKey{qemu, machine, kernel}, sync.OnceValue(func() error {
		return probeKVM(qemu, machine, kernel)
	}))
	return f.(func() error)()
}

func probeKVM(qemu, machine, kernel string) error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: /dev/kvm is missing (no hardware virtualisation, or try: modprobe kvm_intel / kvm_amd)", ErrUnavailable)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: /dev/kvm: permission denied (try: add your user to the kvm group)", ErrUnavailable)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), kvmProbeTimeout)
	defer cancel()
	if kernel != "" {
		return probeKVMBoot(ctx, qemu, machine, kernel)
	}
	cmd := exec.CommandContext(ctx, qemu,
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", machine, "-accel", "kvm", "-cpu", "host", "-m", "64",
		"-S", "-qmp", "stdio")
	cmd.Stdin = strings.NewReader(`{"execute":"qmp_capabilities"}` + "\n" + `{"execute":"quit"}` + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return fmt.Errorf("probe kvm: %w", err)
		}
		return fmt.Errorf("%w: qemu -accel kvm failed (%v): %s", ErrUnavailable, err, lastLines(stderr.String(), 2))
	}
	return nil
}

// bootEnd is how the probe's boot ends on a working host: with no
// root file system the kernel panics at the end of its boot.
const bootEnd = "Kernel panic"

// probeKVMBoot boots kernel under KVM without an initramfs and reports
// whether it gets to the end of its boot (the panic for the missing root
// file system) before ctx ends. Seeing the first lines is not enough: on
// some nested hosts a kernel entered through PVH prints them and then
// hangs.
func probeKVMBoot(ctx context.Context, qemu, machine, kernel string) error {
	cmd := exec.CommandContext(ctx, qemu,
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", machine, "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1",
		"-serial", "stdio")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("probe kvm: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("probe kvm: %w", err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	ended := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), bootEnd) {
				ended <- true
				return
			}
		}
		ended <- false
	}()
	select {
	case ok := <-ended:
		if ok {
			return nil
		}
		// stderr is complete, and no longer written, once Wait returns.
		cmd.Wait()
		waited = true
		return fmt.Errorf("%w: qemu -accel kvm exited before the kernel finished booting: %s", ErrUnavailable, lastLines(stderr.String(), 2))
	case <-ctx.Done():
		return fmt.Errorf("%w: a kernel under kvm did not finish booting in %v (nested virtualisation that runs firmware but not a kernel?)", ErrUnavailable, kvmProbeTimeout)
	}
}

// ProbeVsock reports whether /dev/vhost-vsock can be opened, which the
// vsock transport needs. The error wraps ErrUnavailable and says what to
// do.
func ProbeVsock() error {
	f, err := os.OpenFile("/dev/vhost-vsock", os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: /dev/vhost-vsock is missing (try: modprobe vhost_vsock)", ErrUnavailable)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: /dev/vhost-vsock: permission denied (try: run as root or grant access to the device)", ErrUnavailable)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return f.Close()
}

// resolveAccel turns cfg.Accel into "kvm" or "tcg" and a human-readable
// reason.
func resolveAccel(cfg Config) (accel, reason string, err error) {
	switch cfg.Accel {
	case AccelTCG:
		return AccelTCG, "tcg requested", nil
	case AccelKVM:
		if err := ProbeKVM(cfg.QEMU, cfg.Machine, cfg.Kernel); err != nil {
			return "", "", fmt.Errorf("kvm requested but %w", err)
		}
		return AccelKVM, "kvm requested and usable", nil
	}
	if err := ProbeKVM(cfg.QEMU, cfg.Machine, cfg.Kernel); err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return "", "", err
		}
		return AccelTCG, fmt.Sprintf("kvm not usable, falling back to tcg: %v", err), nil
	}
	return AccelKVM, "kvm usable", nil
}

// resolveTransport turns cfg.Transport into "vsock" or "virtio-serial"
// and a reason.
func resolveTransport(cfg Config) (transport, reason string, err error) {
	switch cfg.Transport {
	case protocol.TransportVirtioSerial:
		return protocol.TransportVirtioSerial, "virtio-serial requested", nil
	case protocol.TransportVsock:
		if err := ProbeVsock(); err != nil {
			return "", "", fmt.Errorf("vsock requested but %w", err)
		}
		return protocol.TransportVsock, "vsock requested and usable", nil
	}
	if err := ProbeVsock(); err != nil {
		return protocol.TransportVirtioSerial, fmt.Sprintf("vsock not usable, using virtio-serial: %v", err), nil
	}
	return protocol.TransportVsock, "vsock usable", nil
}

// lastLines returns the last n non-empty lines of s joined by " | ".
func lastLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, " | ")
}
