package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// mountPoint is one entry of PID 1's mount table.
type mountPoint struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	// Required mounts stop the boot when they fail; the others only log.
	Required bool
}

const (
	nosuidNodev       = unix.MS_NOSUID | unix.MS_NODEV
	nosuidNodevNoexec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// mountTable is what the guest mounts, in order (parents first).
var mountTable = []mountPoint{
	{Source: "proc", Target: "/proc", FSType: "proc", Flags: nosuidNodevNoexec, Required: true},
	{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nosuidNodevNoexec, Required: true},
	{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755", Required: true},
	{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: nosuidNodev, Data: "mode=1777", Required: true},
	{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: nosuidNodev, Data: "mode=0755"},
	{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "mode=0620,ptmxmode=0666"},
	{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: nosuidNodev, Data: "mode=1777"},
	{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: nosuidNodevNoexec, Data: "nsdelegate"},
	{Source: "debugfs", Target: "/sys/kernel/debug", FSType: "debugfs", Flags: nosuidNodevNoexec},
	{Source: "tracefs", Target: "/sys/kernel/tracing", FSType: "tracefs", Flags: nosuidNodevNoexec},
	{Source: "bpf", Target: "/sys/fs/bpf", FSType: "bpf", Flags: nosuidNodevNoexec, Data: "mode=0700"},
}

// system is what PID 1 set-up does to the machine; tests fake it.
type system interface {
	MkdirAll(path string, perm os.FileMode) error
	Mount(source, target, fstype string, flags uintptr, data string) error
	WriteFile(path string, data []byte) error
}

// realSystem is the running kernel.
type realSystem struct{}

func (realSystem) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (realSystem) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}
func (realSystem) WriteFile(path string, data []byte) error {
	return os.WriteFile(path, data, 0o644)
}

// mountAll applies table. A mount point that is already mounted (EBUSY)
// counts as done. It returns the errors of required mounts; the others
// are logged.
func mountAll(sys system, table []mountPoint, logf func(string, ...any)) error {
	var errs []error
	for _, m := range table {
		err := sys.MkdirAll(m.Target, 0o755)
		if err == nil {
			err = sys.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
			if errors.Is(err, unix.EBUSY) {
				err = nil
			}
		}
		if err == nil {
			continue
		}
		err = fmt.Errorf("mount %s on %s: %w", m.FSType, m.Target, err)
		if m.Required {
			errs = append(errs, err)
		} else {
			logf("%v (continuing)", err)
		}
	}
	return errors.Join(errs...)
}

// enableControllers turns on the cpuset and cpu controllers for the
// cgroups below root, one at a time so that a missing one does not stop
// the other.
func enableControllers(sys system, root string, logf func(string, ...any)) {
	for _, c := range []string{"+cpuset", "+cpu"} {
		if err := sys.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte(c)); err != nil {
			logf("enable cgroup controller %s: %v", c[1:], err)
		}
	}
}

// moduleLoader loads one kernel module file.
type moduleLoader func(f *os.File) error

// finitModule loads f with finit_module(2).
func finitModule(f *os.File) error {
	err := unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// loadModules loads dir/*.ko in lexical order (the initramfs names them
// NN-name.ko in dependency order). A missing dir means no modules. It
// returns the names loaded; failures are logged and skipped.
func loadModules(dir string, load moduleLoader, logf func(string, ...any)) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.ko"))
	sort.Strings(paths)
	var loaded []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err == nil {
			err = load(f)
			f.Close()
		}
		if err != nil {
			logf("load module %s: %v", filepath.Base(p), err)
			continue
		}
		loaded = append(loaded, strings.TrimSuffix(filepath.Base(p), ".ko"))
	}
	return loaded
}

// setupConsole makes fds 0-2 the console when the kernel could not open
// one (an initramfs without /dev/console): after devtmpfs is mounted,
// /dev/console exists.
func setupConsole() {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil && unix.Fstat(2, &st) == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		unix.Dup3(fd, i, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// powerOff syncs and powers the machine off. If the kernel refuses, it
// exits, which panics the kernel; with panic=-1 and QEMU's -no-reboot
// that ends the VM too.
func powerOff(logf func(string, ...any)) {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	logf("power off: %v; exiting PID 1 instead", err)
	os.Exit(1)
}
