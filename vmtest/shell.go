package vmtest

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/scxvm/scxvm/initramfs"
	"github.com/scxvm/scxvm/kernel"
)

// ShellKernelArgs make the kernel run the debug image's shell as init
// instead of the agent (rdinit= picks the initramfs's init program), so the
// shell works with any agent. The shell is PID 1: leaving it ends the
// guest (the kernel panics on init's exit and, with panic=-1 and
// -no-reboot, QEMU exits).
var ShellKernelArgs = []string{"rdinit=/bin/sh"}

// ShellHint is printed before a shell boots.
const ShellHint = `scxvm shell: the guest's init is /bin/sh; nothing is mounted yet. Try:
  mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
  cat /sys/kernel/sched_ext/state; ls /sched
Leave the shell (exit) to power the guest off.
`

// Shell boots cfg's kernel with the debug image (a shell and core tools)
// and connects the serial console to stdin and stdout until the guest
// exits. Scenarios are ignored; a scheduler binary (by Path or from the
// cache) is copied to /sched so it can be started by hand.
func Shell(ctx context.Context, cfg Config, stdin io.Reader, stdout io.Writer) error {
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		cacheDir = kernel.DefaultCacheDir()
	}
	k, err := lookupKernel(ctx, &cfg, cacheDir, time.Now()) // kernel.go: fetched when missing
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &InfraError{Op: "find kernel", Err: err}
	}
	if _, err := kernel.Inspect(k.Image); errors.Is(err, ErrBadKernel) {
		return &InfraError{Op: "inspect kernel", Err: err}
	}
	agent, err := resolveAgent(cfg.Agent)
	if err != nil {
		return err
	}
	icfg := initramfs.Config{Agent: agent, Modules: k.Modules, Debug: true}
	if p, err := resolveSchedulerBinary(cacheDir, k, cfg.Scheduler); err == nil && p != "" {
		icfg.Binaries = []string{p}
	}
	if k.Config != "" && k.Release != "" {
		icfg.KernelConfig, icfg.KernelRelease = k.Config, k.Release
	}
	for guest, host := range cfg.ExtraFiles {
		icfg.Files = append(icfg.Files, initramfs.File{Src: host, Dst: guest})
	}
	image, err := initramfs.Build(ctx, icfg)
	if err != nil {
		return &InfraError{Op: "build debug initramfs", Err: err}
	}
	io.WriteString(stdout, ShellHint)
	vm, err := startVM(ctx, vmConfig{
		QEMU:        cfg.QEMU,
		Kernel:      k.Image,
		Initramfs:   image,
		KernelArgs:  append(append([]string{}, cfg.KernelArgs...), ShellKernelArgs...),
		Topology:    cfg.Topology.WithDefaults(),
		MemoryMB:    cfg.memoryMB(),
		Accel:       cfg.Accel,
		Transport:   cfg.Transport,
		Timeout:     cfg.Timeout,
		ConsoleLog:  cfg.ConsoleLog,
		Interactive: true,
		Stdin:       stdin,
		Stdout:      stdout,
		Logf:        cfg.Logf,
	})
	if err != nil {
		return &InfraError{Op: "start qemu", Err: err}
	}
	defer vm.Close()
	done := make(chan error, 1)
	go func() { done <- vm.Wait() }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		vm.Kill()
		<-done
		return ctx.Err()
	}
}
