package host

import (
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
)

// ErrUnavailable is wrapped by probe errors: the accelerator or transport
// cannot be used on this host.
var ErrUnavailable = errors.New("unavailable")

// kvmProbeTimeout bounds the trial QEMU run of ProbeKVM.
const kvmProbeTimeout = 15 * time.Second

type kvmKey struct{ qemu, machine string }

// kvmProbes caches ProbeKVM results for the life of the process: the
// answer does not change while we run, and a probe costs a QEMU start.
var kvmProbes sync.Map // kvmKey -> func() error (sync.OnceValue)

// ProbeKVM reports whether QEMU can run a KVM guest of the given machine
// type here. It opens /dev/kvm and then starts qemu with -accel kvm -cpu
// host, paused, and asks it to quit over QMP: this catches hosts where
// /dev/kvm exists but vCPU setup fails (for example nested
// virtualisation without the needed MSRs). The result is cached per
// process; the error wraps ErrUnavailable and says why.
func ProbeKVM(qemu, machine string) error {
	if machine == "" {
		machine = DefaultMachine
	}
	f, _ := kvmProbes.LoadOrStore(kvmKey{qemu, machine}, sync.OnceValue(func() error {
		return probeKVM(qemu, machine)
	}))
	return f.(func() error)()
}

func probeKVM(qemu, machine string) error {
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
		if err := ProbeKVM(cfg.QEMU, cfg.Machine); err != nil {
			return "", "", fmt.Errorf("kvm requested but %w", err)
		}
		return AccelKVM, "kvm requested and usable", nil
	}
	if err := ProbeKVM(cfg.QEMU, cfg.Machine); err != nil {
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
	case TransportVirtioSerial:
		return TransportVirtioSerial, "virtio-serial requested", nil
	case TransportVsock:
		if err := ProbeVsock(); err != nil {
			return "", "", fmt.Errorf("vsock requested but %w", err)
		}
		return TransportVsock, "vsock requested and usable", nil
	}
	if err := ProbeVsock(); err != nil {
		return TransportVirtioSerial, fmt.Sprintf("vsock not usable, using virtio-serial: %v", err), nil
	}
	return TransportVsock, "vsock usable", nil
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
