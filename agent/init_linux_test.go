package agent

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/protocol"
)

// fakeSystem records what PID 1 set-up does and fails on request.
type fakeSystem struct {
	mounts []string
	writes []string
	fail   map[string]error // by target or path
}

func (f *fakeSystem) MkdirAll(path string, perm os.FileMode) error { return nil }
func (f *fakeSystem) Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := f.fail[target]; err != nil {
		return err
	}
	f.mounts = append(f.mounts, fstype+" "+target)
	return nil
}
func (f *fakeSystem) WriteFile(path string, data []byte) error {
	if err := f.fail[path+" "+string(data)]; err != nil {
		return err
	}
	f.writes = append(f.writes, path+" "+string(data))
	return nil
}

func TestMountAll(t *testing.T) {
	var logged []string
	logf := func(format string, args ...any) { logged = append(logged, format) }
	sys := &fakeSystem{}
	if err := mountAll(sys, mountTable, logf); err != nil {
		t.Fatalf("mountAll: %v", err)
	}
	want := []string{"proc /proc", "sysfs /sys", "devtmpfs /dev", "tmpfs /tmp", "tmpfs /run", "devpts /dev/pts",
		"tmpfs /dev/shm", "cgroup2 /sys/fs/cgroup", "debugfs /sys/kernel/debug", "tracefs /sys/kernel/tracing", "bpf /sys/fs/bpf"}
	if !reflect.DeepEqual(sys.mounts, want) {
		t.Errorf("mounts = %v\nwant %v", sys.mounts, want)
	}

	// Already mounted is fine; an optional failure is logged; a required
	// one is an error naming the mount.
	sys = &fakeSystem{fail: map[string]error{"/proc": unix.EBUSY, "/sys/fs/bpf": unix.ENODEV, "/sys": unix.EPERM}}
	logged = nil
	err := mountAll(sys, mountTable, logf)
	if err == nil || !strings.Contains(err.Error(), "mount sysfs on /sys") || !errors.Is(err, unix.EPERM) {
		t.Errorf("mountAll err = %v", err)
	}
	if len(logged) != 1 {
		t.Errorf("logged %v, want the bpffs failure", logged)
	}
}

func TestEnableControllers(t *testing.T) {
	sys := &fakeSystem{fail: map[string]error{"/cg/cgroup.subtree_control +cpuset": unix.ENOENT}}
	var logged int
	enableControllers(sys, "/cg", func(string, ...any) { logged++ })
	if !reflect.DeepEqual(sys.writes, []string{"/cg/cgroup.subtree_control +cpu"}) || logged != 1 {
		t.Errorf("writes %v, logged %d", sys.writes, logged)
	}
}

func TestLoadModules(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"20-vsock.ko", "10-vsock_loopback.ko", "30-broken.ko", "README"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
	}
	var order []string
	load := func(f *os.File) error {
		b, _ := os.ReadFile(f.Name())
		order = append(order, string(b))
		if strings.Contains(f.Name(), "broken") {
			return unix.ENOEXEC
		}
		return nil
	}
	var logged []string
	got := loadModules(dir, load, func(format string, args ...any) { logged = append(logged, format) })
	if !reflect.DeepEqual(order, []string{"10-vsock_loopback.ko", "20-vsock.ko", "30-broken.ko"}) {
		t.Errorf("load order = %v", order)
	}
	if !reflect.DeepEqual(got, []string{"10-vsock_loopback", "20-vsock"}) || len(logged) != 1 {
		t.Errorf("loaded %v, logged %v", got, logged)
	}
	if got := loadModules(filepath.Join(dir, "none"), load, nil); len(got) != 0 {
		t.Errorf("missing dir loaded %v", got)
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		cmdline string
		want    transportSpec
		err     bool
	}{
		{"console=ttyS0 quiet", transportSpec{protocol.TransportVirtioSerial, 1024}, false},
		{"console=ttyS0 scxvm.transport=vsock", transportSpec{protocol.TransportVsock, 1024}, false},
		{"scxvm.transport=vsock scxvm.vsock_port=5000 panic=-1", transportSpec{protocol.TransportVsock, 5000}, false},
		{"scxvm.transport=virtio-serial", transportSpec{protocol.TransportVirtioSerial, 1024}, false},
		{"scxvm.transport=pigeon", transportSpec{protocol.TransportVirtioSerial, 1024}, true},
		{"scxvm.vsock_port=x", transportSpec{protocol.TransportVirtioSerial, 1024}, true},
	}
	for _, tt := range tests {
		got, err := parseCmdline(tt.cmdline)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("parseCmdline(%q) = %+v, %v; want %+v, err %v", tt.cmdline, got, err, tt.want, tt.err)
		}
	}
}

func TestFindPort(t *testing.T) {
	root := t.TempDir()
	for port, name := range map[string]string{"vport1p1": "org.qemu.guest_agent.0\n", "vport2p1": "org.scxvm.0\n", "vport2p2": ""} {
		d := filepath.Join(root, "sys/class/virtio-ports", port)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "name"), []byte(name), 0o644)
	}
	got, err := findPort(root, "org.scxvm.0")
	if err != nil || got != "/dev/vport2p1" {
		t.Errorf("findPort = %q, %v", got, err)
	}
	if _, err := findPort(root, "org.other"); err == nil || !strings.Contains(err.Error(), "virtserialport") {
		t.Errorf("findPort(missing) = %v, want an error saying how to add the port", err)
	}
}

func TestIsGuest(t *testing.T) {
	if IsGuest() {
		t.Fatal("IsGuest in a test process")
	}
	t.Setenv(envSession, "1")
	if !IsGuest() {
		t.Error("IsGuest false with the session marker")
	}
}
