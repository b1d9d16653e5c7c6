package initramfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/scxvm/scxvm/internal/testenv"
)

func TestDebugBusybox(t *testing.T) {
	bb := ""
	for _, p := range busyboxPaths {
		if interp, isELF, err := elfInterp(p); err == nil && isELF && interp == "" {
			bb = p
		}
	}
	if bb == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no static busybox in CI: make deps installs busybox-static")
		}
		t.Skip("skipping: no static busybox (apt-get install busybox-static)")
	}
	t.Setenv("SCXVM_BUSYBOX", "")
	p, err := Build(context.Background(), Config{Agent: agentBin, Debug: true, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	recs := readArchive(t, p)
	if r, ok := recs["bin/busybox"]; !ok || r.Mode != cpio.S_IFREG|0o755 {
		t.Fatalf("bin/busybox: %v %v", ok, r.Info)
	}
	for _, applet := range []string{"sh", "ls", "cat", "dmesg", "mount"} {
		r, ok := recs["bin/"+applet]
		if !ok || r.Mode&cpio.S_IFMT != cpio.S_IFLNK || string(content(t, r)) != "busybox" {
			t.Errorf("bin/%s: %v %v", applet, ok, r.Info)
		}
	}
}

func TestDebugURoot(t *testing.T) {
	if os.Getenv("SCXVM_TEST_UROOT_BUILD") == "" && !testenv.InCI() {
		t.Skip("skipping: compiles u-root commands (about 3 minutes cold on 2 busy cores); set SCXVM_TEST_UROOT_BUILD=1 to run (CI always runs it)")
	}
	t.Setenv("SCXVM_BUSYBOX", filepath.Join(t.TempDir(), "no-busybox"))
	dir := t.TempDir()
	start := time.Now()
	p, err := Build(context.Background(), Config{Agent: agentBin, Debug: true, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cold debug build with u-root commands: %v", time.Since(start))
	recs := readArchive(t, p)
	for _, c := range uRootCommands {
		if r, ok := recs["bin/"+c]; !ok || r.FileSize == 0 {
			t.Errorf("bin/%s missing", c)
		}
	}
	if r := recs["bin/sh"]; string(content(t, r)) != "gosh" {
		t.Errorf("bin/sh -> %q", content(t, r))
	}
	start = time.Now()
	if p2, err := Build(context.Background(), Config{Agent: agentBin, Debug: true, CacheDir: dir}); err != nil || p2 != p {
		t.Fatalf("cached debug build: %s, %v", p2, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cached debug build took %v", d)
	}
}
