package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/protocol"
)

func TestMountShares(t *testing.T) {
	cmdline := strings.Join([]string{
		"console=ttyS0",
		protocol.FormatShareArg("scxvm0", "/src", false),
		protocol.FormatShareArg("scxvm1", "/out dir", true),
		protocol.FormatShareArg("scxvm2", "/missing", false),
		"scxvm.share=bad",
	}, " ")
	sys := &fakeSystem{fail: map[string]error{"/missing": unix.ENODEV}}
	errs := mountShares(sys, cmdline, func(string, ...any) {})
	if want := []string{"9p /src", "9p /out dir"}; !slices.Equal(sys.mounts, want) {
		t.Errorf("mounted %q, want %q", sys.mounts, want)
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "scxvm.share=\"bad\"") || !strings.Contains(errs[1], "/missing") || !strings.Contains(errs[1], "CONFIG_9P_FS") {
		t.Errorf("errors %q, want the malformed argument and the failed mount naming CONFIG_9P_FS", errs)
	}
	if errs := mountShares(sys, "console=ttyS0 quiet", func(string, ...any) {}); errs != nil {
		t.Errorf("no shares: errors %q", errs)
	}
}

func TestShareMountPoint(t *testing.T) {
	ro := shareMountPoint(shareMount{tag: "scxvm0", dir: "/src"})
	rw := shareMountPoint(shareMount{tag: "scxvm1", dir: "/out", writable: true})
	if ro.Flags&unix.MS_RDONLY == 0 || rw.Flags&unix.MS_RDONLY != 0 {
		t.Errorf("read-only flags: ro %#x, rw %#x", ro.Flags, rw.Flags)
	}
	for _, m := range []mountPoint{ro, rw} {
		if m.FSType != "9p" || !strings.Contains(m.Data, "trans=virtio") || m.Flags&(unix.MS_NOSUID|unix.MS_NODEV) != unix.MS_NOSUID|unix.MS_NODEV {
			t.Errorf("mount %+v: want 9p over virtio, nosuid, nodev", m)
		}
	}
}

func TestShellEnv(t *testing.T) {
	got := shellEnv([]string{"PATH=/bin", "TERM=linux", "SCXVM_AGENT_SESSION=x", "HOME=/root"}, "xterm")
	if want := []string{"PATH=/bin", "HOME=/root", "TERM=xterm"}; !slices.Equal(got, want) {
		t.Errorf("shellEnv = %q, want %q", got, want)
	}
	got = shellEnv([]string{"PATH=/bin"}, "vt100")
	if want := []string{"PATH=/bin", "HOME=/", "TERM=vt100"}; !slices.Equal(got, want) {
		t.Errorf("shellEnv without HOME = %q, want %q", got, want)
	}
}

func TestConsoleDevice(t *testing.T) {
	root := t.TempDir()
	if _, err := consoleDevice(root); err == nil {
		t.Error("consoleDevice without sysfs succeeded")
	}
	dir := filepath.Join(root, "sys/class/tty/console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for content, want := range map[string]string{"ttyS0\n": "/dev/ttyS0", "tty0 ttyS1\n": "/dev/ttyS1", "\n": ""} {
		if err := os.WriteFile(filepath.Join(dir, "active"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := consoleDevice(root)
		if want == "" {
			if err == nil {
				t.Errorf("consoleDevice(%q) = %q, want an error", content, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("consoleDevice(%q) = %q, %v; want %q", content, got, err, want)
		}
	}
}
