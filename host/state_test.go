package host

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/cachedir"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

func TestStateKey(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(root, "cache")
	write := func(p string) string {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	qemu := write(filepath.Join(root, "qemu-system-x86_64"))
	vmlinux := write(filepath.Join(cache, cachedir.VMLinux, "vmlinux-0123"))
	image := write(filepath.Join(cache, cachedir.Initramfs, "initramfs-abcd.cpio"))
	bzImage := write(filepath.Join(root, "linux", "bzImage"))
	base := Config{QEMU: qemu, Kernel: vmlinux, Initramfs: image, CacheDir: cache, Accel: AccelTCG}.withDefaults()
	plan := Plan{Accel: AccelTCG, Transport: protocol.TransportVirtioSerial, ConsoleFD: 3, SerialFD: 4, MonitorFD: 5}
	key := func(t *testing.T, c Config, p Plan) string {
		t.Helper()
		k, err := stateKey(c.withDefaults(), p)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key(t, base, plan)

	t.Run("same machine", func(t *testing.T) {
		p := plan
		p.ConsoleFD, p.SerialFD, p.MonitorFD, p.IncomingFD = 7, 9, 8, 10
		if k := key(t, base, p); k != k0 {
			t.Error("descriptor numbers changed the key")
		}
		// Cache files are named by their contents: a new mtime (the
		// cache's LRU clock) is the same file.
		later := time.Now().Add(time.Hour)
		os.Chtimes(image, later, later)
		os.Chtimes(vmlinux, later, later)
		if k := key(t, base, plan); k != k0 {
			t.Error("touching cached files changed the key")
		}
		c := base
		c.Timeout, c.ConsoleLog, c.Logf = time.Minute, "/elsewhere.log", t.Logf
		if k := key(t, c, plan); k != k0 {
			t.Error("settings that are not the machine changed the key")
		}
	})

	t.Run("other machine", func(t *testing.T) {
		for name, tweak := range map[string]func(c *Config, p *Plan){
			"memory": func(c *Config, p *Plan) { c.MemoryMB = 2048 },
			"topology": func(c *Config, p *Plan) {
				c.Topology = spec.Topology{NUMANodes: 1, LLCs: 1, CoresPerLLC: 4, ThreadsPerCore: 1}
			},
			"cmdline": func(c *Config, p *Plan) { c.Cmdline = []string{"scxvm.test=1"} },
			"machine": func(c *Config, p *Plan) { c.Machine = MachinePC },
			"accel":   func(c *Config, p *Plan) { p.Accel = AccelKVM },
			"kernel":  func(c *Config, p *Plan) { c.Kernel = write(filepath.Join(cache, cachedir.VMLinux, "vmlinux-4567")) },
			"image": func(c *Config, p *Plan) {
				c.Initramfs = write(filepath.Join(cache, cachedir.Initramfs, "initramfs-ef.cpio"))
			},
			"bzImage": func(c *Config, p *Plan) { c.Kernel = bzImage },
			"qemu":    func(c *Config, p *Plan) { c.QEMU = write(filepath.Join(root, "bin", "qemu-system-x86_64")) },
		} {
			t.Run(name, func(t *testing.T) {
				c, p := base, plan
				tweak(&c, &p)
				if k := key(t, c, p); k == k0 {
					t.Errorf("%s did not change the key", name)
				}
			})
		}
		// A file outside the cache (QEMU, a kernel) is known by path,
		// size and mtime: an upgrade or a rebuild changes the key.
		later := time.Now().Add(2 * time.Hour)
		os.Chtimes(qemu, later, later)
		if k := key(t, base, plan); k == k0 {
			t.Error("an upgraded QEMU (new mtime) kept the key")
		}
		c := base
		c.Kernel = bzImage
		k1 := key(t, c, plan)
		later = time.Now().Add(3 * time.Hour)
		os.Chtimes(bzImage, later, later)
		if k := key(t, c, plan); k == k1 {
			t.Error("a rebuilt bzImage (new mtime) kept the key")
		}
	})

	t.Run("vsock", func(t *testing.T) {
		p := Plan{Accel: AccelTCG, Transport: protocol.TransportVsock, ConsoleFD: 3, GuestCID: 42, VhostFD: 4, VsockPort: protocol.VsockPort, MonitorFD: 5}
		kv := key(t, base, p)
		if kv == k0 {
			t.Error("a vsock machine has the key of the virtio-serial one")
		}
		// A restored VM gets a fresh CID, and the host listens where it
		// can when it boots: neither is the machine.
		q := p
		q.GuestCID, q.VhostFD, q.VsockPort, q.MonitorFD, q.IncomingFD = 1234567, 6, 40001, 7, 8
		if k := key(t, base, q); k != kv {
			t.Error("the CID, the host's vsock port or descriptor numbers changed the key")
		}
		c := base
		c.MemoryMB = 2048
		if k := key(t, c, p); k == kv {
			t.Error("memory did not change the vsock key")
		}
	})
}

func TestArgsState(t *testing.T) {
	cfg := Config{Kernel: "/k", Initramfs: "/i"}
	plan := Plan{Accel: AccelTCG, Transport: protocol.TransportVirtioSerial, ConsoleFD: 3, SerialFD: 4}
	plain := Args(cfg, plan)
	if slices.Contains(plain, "-mon") || slices.Contains(plain, "-incoming") {
		t.Fatalf("no state asked, but %q", plain)
	}
	plan.MonitorFD, plan.IncomingFD = 5, 6
	a := strings.Join(Args(cfg, plan), " ")
	for _, want := range []string{"-chardev socket,id=mon,fd=5 -mon chardev=mon,mode=control", "-global migration.store-global-state=off", "-incoming fd:6"} {
		if !strings.Contains(a, want) {
			t.Errorf("args lack %q: %s", want, a)
		}
	}
	if !strings.HasSuffix(a, "-incoming fd:6") {
		t.Errorf("-incoming is not last: %s", a)
	}
}

func TestArgsMemoryImage(t *testing.T) {
	cfg := Config{Kernel: "/k", Initramfs: "/i", MemoryMB: 512}
	base := Plan{Accel: AccelTCG, Transport: protocol.TransportVirtioSerial, ConsoleFD: 3, SerialFD: 4, MonitorFD: 5}
	for _, tc := range []struct {
		name       string
		plan       func(Plan) Plan
		want, lack []string
	}{
		{"saving", func(p Plan) Plan { p.RAMFD, p.RAMShared = 6, true; return p },
			[]string{"-machine q35,memory-backend=scxvm-ram", "-m 512 -object memory-backend-file,id=scxvm-ram,size=512M,mem-path=/proc/self/fd/6,share=on"},
			[]string{"-incoming"}},
		{"restoring", func(p Plan) Plan { p.RAMFD, p.IncomingFD = 6, 6; return p },
			[]string{"memory-backend-file,id=scxvm-ram,size=512M,mem-path=/proc/self/fd/6,share=off", "-incoming defer"},
			[]string{"fd:6"}},
		{"anonymous", func(p Plan) Plan { return p },
			nil, []string{"memory-backend", "-incoming"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := strings.Join(Args(cfg, tc.plan(base)), " ")
			for _, w := range tc.want {
				if !strings.Contains(a, w) {
					t.Errorf("args lack %q: %s", w, a)
				}
			}
			for _, l := range tc.lack {
				if strings.Contains(a, l) {
					t.Errorf("args have %q: %s", l, a)
				}
			}
		})
	}
}

// TestStateKeyMemoryImage: the saving VM maps its memory shared, the
// restored one privately; both are the same machine.
func TestStateKeyMemoryImage(t *testing.T) {
	root := t.TempDir()
	qemu := filepath.Join(root, "qemu")
	kernel := filepath.Join(root, "vmlinux")
	for _, p := range []string{qemu, kernel} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{QEMU: qemu, Kernel: kernel, Accel: AccelTCG}.withDefaults()
	plan := Plan{Accel: AccelTCG, Transport: protocol.TransportVirtioSerial, ConsoleFD: 3, SerialFD: 4, MonitorFD: 5}
	saving, restoring := plan, plan
	saving.RAMFD, saving.RAMShared = 6, true
	restoring.RAMFD, restoring.IncomingFD = 7, 7
	ks, err := stateKey(cfg, saving)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := stateKey(cfg, restoring)
	if err != nil {
		t.Fatal(err)
	}
	if ks != kr {
		t.Error("the saving and the restoring VM have different keys")
	}
	numa := cfg
	numa.Topology = spec.Topology{NUMANodes: 2, LLCs: 1, CoresPerLLC: 1, ThreadsPerCore: 1}
	if ramImage(numa) || !ramImage(cfg) {
		t.Errorf("ramImage: numa %v, one node %v; want false, true", ramImage(numa), ramImage(cfg))
	}
}
