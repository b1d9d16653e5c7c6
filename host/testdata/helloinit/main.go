// Command helloinit is a minimal static init used by the host package's
// boot tests: it mounts devtmpfs, sysfs and proc, prints the CPU topology
// the guest sees to the console, writes "hello" to the scxvm transport
// (virtio-serial port org.scxvm.0, or vsock CID 2 when the kernel command
// line says scxvm.transport=vsock) and powers off.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mdlayher/vsock"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "helloinit: %v\n", err)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func run() error {
	for _, m := range []struct{ src, dst, fstype string }{
		{"devtmpfs", "/dev", "devtmpfs"},
		{"sysfs", "/sys", "sysfs"},
		{"proc", "/proc", "proc"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	printTopology()
	cmdline, _ := os.ReadFile("/proc/cmdline")
	w, err := openTransport(strings.Fields(string(cmdline)))
	if err != nil {
		return err
	}
	defer w.Close()
	_, err = io.WriteString(w, "hello\n")
	return err
}

// printTopology prints one line per CPU: its NUMA node and the CPUs that
// share its last-level cache.
func printTopology() {
	cpus, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*")
	for _, c := range cpus {
		llc, _ := os.ReadFile(filepath.Join(c, "cache/index3/shared_cpu_list"))
		node := "?"
		if m, _ := filepath.Glob(filepath.Join(c, "node[0-9]*")); len(m) > 0 {
			node = strings.TrimPrefix(filepath.Base(m[0]), "node")
		}
		fmt.Printf("TOPO %s node=%s llc=%s\n", filepath.Base(c), node, strings.TrimSpace(string(llc)))
	}
}

func openTransport(args []string) (io.WriteCloser, error) {
	for _, a := range args {
		if a == "scxvm.transport=vsock" {
			return vsock.Dial(vsock.Host, 1024, nil)
		}
	}
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	for _, n := range names {
		b, _ := os.ReadFile(n)
		if strings.TrimSpace(string(b)) == "org.scxvm.0" {
			return os.OpenFile("/dev/"+filepath.Base(filepath.Dir(n)), os.O_WRONLY, 0)
		}
	}
	return nil, fmt.Errorf("no virtio port named org.scxvm.0 among %q", names)
}
