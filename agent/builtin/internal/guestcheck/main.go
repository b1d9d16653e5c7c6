//go:build linux

// Command guestcheck is the /init of the guest that TestGuest in package
// builtin boots: it loads every built-in scheduler in turn, checks what the
// kernel reports (sysfs state, root/ops, kernel log lines) and prints one
// line per scheduler:
//
//	GUESTCHECK RESULT <name> PASS|FAIL <detail>
//
// then "GUESTCHECK DONE" and powers the guest off. Run as any PID other
// than 1 with the argument "spin DURATION" it burns CPU for that long (the
// task the "stall" scheduler starves).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/agent/builtin"
)

const sysExt = "/sys/kernel/sched_ext"

func main() {
	if os.Getpid() != 1 {
		if len(os.Args) == 3 && os.Args[1] == "spin" {
			d, err := time.ParseDuration(os.Args[2])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			for end := time.Now().Add(d); time.Now().Before(end); {
			}
			return
		}
		fmt.Fprintln(os.Stderr, "guestcheck: runs as the init of a test guest")
		os.Exit(2)
	}
	defer poweroff()
	if err := run(); err != nil {
		fmt.Printf("GUESTCHECK ERROR %v\n", err)
	}
	fmt.Println("GUESTCHECK DONE")
}

func poweroff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func run() error {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"bpf", "/sys/fs/bpf", "bpf"},
	} {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	fmt.Printf("GUESTCHECK KERNEL %s\n", unix.ByteSliceToString(uts.Release[:]))
	if _, err := os.Stat(sysExt); err != nil {
		return fmt.Errorf("no sched_ext: %w", err)
	}

	klog, err := openKmsg()
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		fn   func(*kmsg) error
	}{
		{builtin.FIFO, checkFIFO},
		{builtin.Stall, checkStall},
		{builtin.Error, checkError},
		{builtin.Starve, checkStarve},
	} {
		start := time.Now()
		err := c.fn(klog)
		d := time.Since(start).Round(time.Millisecond)
		if err != nil {
			fmt.Printf("GUESTCHECK RESULT %s FAIL %v (%v)\n", c.name, err, d)
		} else {
			fmt.Printf("GUESTCHECK RESULT %s PASS (%v)\n", c.name, d)
		}
		// Leave the kernel clean for the next check whatever happened.
		if err := waitState("disabled", 10*time.Second); err != nil {
			return fmt.Errorf("after %s: %w", c.name, err)
		}
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Printf("GUESTCHECK LOG "+format+"\n", args...)
}

func read(name string) string {
	b, _ := os.ReadFile(sysExt + "/" + name)
	return strings.TrimSpace(string(b))
}

func waitState(want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := read("state")
		if got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("state %q, want %q after %v", got, want, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAttached waits until state is enabled and root/ops names ops.
func waitAttached(ops string) error {
	if err := waitState("enabled", 5*time.Second); err != nil {
		return err
	}
	if got := read("root/ops"); got != ops {
		return fmt.Errorf("root/ops %q, want %q", got, ops)
	}
	return nil
}

// spin starts a user-space CPU burner outside PID 1's thread group.
func spin(ctx context.Context, d time.Duration) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, "/init", "spin", d.String())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd, cmd.Start()
}

func checkFIFO(klog *kmsg) error {
	s, err := builtin.Load(builtin.FIFO, builtin.Options{Logf: logf})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := waitAttached(s.Name()); err != nil {
		return err
	}
	if _, err := klog.wait(`BPF scheduler "scxvm_fifo" enabled`, 5*time.Second); err != nil {
		return err
	}
	// Tasks run under it: two burners finish.
	start := time.Now()
	for range 2 {
		cmd, err := spin(context.Background(), 200*time.Millisecond)
		if err != nil {
			return err
		}
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("spinner under fifo: %w", err)
		}
	}
	logf("fifo: 2 x 200ms spinners took %v", time.Since(start).Round(time.Millisecond))
	if got := read("state"); got != "enabled" {
		return fmt.Errorf("state %q after running tasks", got)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("second close: %w", err)
	}
	if err := waitState("disabled", 5*time.Second); err != nil {
		return err
	}
	line, err := klog.wait(`BPF scheduler "scxvm_fifo" disabled`, 5*time.Second)
	if err != nil {
		return err
	}
	if !strings.Contains(line, "unregistered from user space") {
		return fmt.Errorf("unexpected disable reason: %s", line)
	}
	if got := read("root/ops"); got != "" {
		return fmt.Errorf("root/ops %q after close", got)
	}
	return nil
}

// cache is shared by the stall and error checks, as an agent would; fifo
// runs without one.
var cache = btf.NewCache()

func checkStall(klog *kmsg) error {
	s, err := builtin.Load(builtin.Stall, builtin.Options{TimeoutMs: 2000, Logf: logf, BTFCache: cache})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := waitAttached(s.Name()); err != nil {
		return err
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd, err := spin(ctx, 20*time.Second)
	if err != nil {
		return err
	}
	defer cmd.Wait()
	defer cancel()
	line, err := klog.wait(`BPF scheduler "scxvm_stall" disabled`, 15*time.Second)
	if err != nil {
		return err
	}
	logf("stall: ejected after %v: %s", time.Since(start).Round(time.Millisecond), line)
	if !strings.Contains(line, "(runnable task stall)") {
		return fmt.Errorf("unexpected disable reason: %s", line)
	}
	detail, err := klog.wait("failed to run for", 5*time.Second)
	if err != nil {
		return err
	}
	logf("stall: %s", detail)
	return waitState("disabled", 5*time.Second)
}

func checkError(klog *kmsg) error {
	s, err := builtin.Load(builtin.Error, builtin.Options{ErrorAfter: 100, Logf: logf, BTFCache: cache})
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	if err := waitState("enabled", 5*time.Second); err != nil {
		// The error may come before we see "enabled"; the log decides.
		logf("error: %v", err)
	}
	// Burners make sure enqueues happen.
	for range 4 {
		if cmd, err := spin(context.Background(), 50*time.Millisecond); err == nil {
			defer cmd.Wait()
		}
	}
	line, err := klog.wait(`BPF scheduler "scxvm_error" disabled`, 15*time.Second)
	if err != nil {
		return err
	}
	logf("error: ejected after %v: %s", time.Since(start).Round(time.Millisecond), line)
	if !strings.Contains(line, "(runtime error)") {
		return fmt.Errorf("unexpected disable reason: %s", line)
	}
	detail, err := klog.wait("non-existent DSQ", 5*time.Second)
	if err != nil {
		return err
	}
	logf("error: %s", detail)
	return waitState("disabled", 5*time.Second)
}

// checkStarve loads the "starve" scheduler: user tasks run under it
// (a burner finishes), the kernel keeps it enabled with its 30 s watchdog
// timeout, and it detaches cleanly. That it starves kernel threads is
// asserted through the agent's stall watch (vmtest TestE2EStallWatch).
func checkStarve(klog *kmsg) error {
	s, err := builtin.Load(builtin.Starve, builtin.Options{Logf: logf, BTFCache: cache})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := waitAttached(s.Name()); err != nil {
		return err
	}
	if _, err := klog.wait(`BPF scheduler "scxvm_starve" enabled`, 5*time.Second); err != nil {
		return err
	}
	start := time.Now()
	cmd, err := spin(context.Background(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("spinner under starve: %w", err)
	}
	logf("starve: a 200ms spinner took %v", time.Since(start).Round(time.Millisecond))
	if got := read("state"); got != "enabled" {
		return fmt.Errorf("state %q after running a user task", got)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	line, err := klog.wait(`BPF scheduler "scxvm_starve" disabled`, 10*time.Second)
	if err != nil {
		return err
	}
	if !strings.Contains(line, "unregistered from user space") {
		return fmt.Errorf("unexpected disable reason: %s", line)
	}
	return waitState("disabled", 5*time.Second)
}

// kmsg follows /dev/kmsg from the end of the log.
type kmsg struct{ lines chan string }

func openKmsg() (*kmsg, error) {
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		return nil, fmt.Errorf("open kmsg: %w", err)
	}
	if _, err := f.Seek(0, 2); err != nil {
		return nil, fmt.Errorf("seek kmsg: %w", err)
	}
	k := &kmsg{lines: make(chan string, 1024)}
	go func() {
		r := bufio.NewReaderSize(f, 8192)
		for {
			// Each read returns one record; a bufio.Reader keeps
			// them apart by their newline.
			line, err := r.ReadString('\n')
			if err != nil {
				if errors.Is(err, unix.EPIPE) {
					continue // overwritten records
				}
				close(k.lines)
				return
			}
			if _, msg, ok := strings.Cut(line, ";"); ok {
				k.lines <- strings.TrimSpace(msg)
			}
		}
	}()
	return k, nil
}

// wait returns the first line containing substr, skipping earlier lines.
func (k *kmsg) wait(substr string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-k.lines:
			if !ok {
				return "", errors.New("kmsg closed")
			}
			if strings.Contains(line, "sched_ext") {
				logf("kmsg: %s", line)
			}
			if strings.Contains(line, substr) {
				return line, nil
			}
		case <-t.C:
			return "", fmt.Errorf("no kernel log line with %q within %v", substr, timeout)
		}
	}
}
