package vmtest

import (
	"context"
	"io"
	"os"
	"time"
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
	g, err := prepareKernel(ctx, &cfg, time.Now())
	if err != nil {
		return err
	}
	defer g.Close()
	var bins []string
	if p, err := resolveSchedulerBinary(g.cacheDir, g.kernel, cfg.Scheduler); err == nil && p != "" {
		bins = []string{p}
	}
	if err := g.buildImage(ctx, &cfg, imageOptions{debug: true, modules: true, binaries: bins}); err != nil {
		return err
	}
	console := cfg.ConsoleLog
	if console == "" {
		console = os.DevNull // the console is the user's terminal
	}
	io.WriteString(stdout, ShellHint)
	vc := g.vmConfig(&cfg, cfg.Transport)
	vc.KernelArgs = append(append([]string{}, cfg.KernelArgs...), ShellKernelArgs...)
	vc.Timeout, vc.ConsoleLog = cfg.Timeout, console
	vc.Interactive, vc.Stdin, vc.Stdout = true, stdin, stdout
	vm, err := startVM(ctx, vc)
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
