//go:build linux

package host

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/u-root/u-root/pkg/cpio"
)

// bootKernel returns the kernel for boot tests, skipping loudly (or
// failing under CI) when QEMU or the kernel is missing.
func bootKernel(tb testing.TB) string {
	tb.Helper()
	missing := func(format string, args ...any) {
		tb.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			tb.Fatalf("CI is set and a boot prerequisite is missing: %s", msg)
		}
		tb.Skipf("SKIPPING BOOT TEST: %s", msg)
	}
	if testing.Short() {
		tb.Skip("SKIPPING BOOT TEST in -short mode")
	}
	if _, err := exec.LookPath(DefaultQEMU); err != nil {
		missing("%v (fix: apt-get install qemu-system-x86)", err)
	}
	k := os.Getenv("SCXVM_TEST_KERNEL")
	if k == "" {
		k = defaultTestKernel
	}
	if _, err := os.Stat(k); err != nil {
		missing("kernel: %v (fix: run make kernel-build, or set SCXVM_TEST_KERNEL to a bzImage)", err)
	}
	return k
}

var (
	imageOnce sync.Once
	imageDir  string // removed by TestMain
	imagePath string
	imageErr  error
)

// helloImage builds testdata/helloinit as a static binary and packs it as
// /init in a newc cpio, once per test process.
func helloImage(tb testing.TB) string {
	tb.Helper()
	imageOnce.Do(func() {
		imageDir, imageErr = os.MkdirTemp("", "scxvm-host-test-")
		if imageErr != nil {
			return
		}
		bin := filepath.Join(imageDir, "init")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/helloinit")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("build helloinit: %v\n%s", err, out)
			return
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			imageErr = err
			return
		}
		imagePath = filepath.Join(imageDir, "hello.cpio")
		f, err := os.Create(imagePath)
		if err != nil {
			imageErr = err
			return
		}
		w := cpio.Newc.Writer(f)
		recs := []cpio.Record{
			cpio.Directory("dev", 0o755),
			cpio.CharDev("dev/console", 0o600, 5, 1),
			cpio.StaticFile("init", string(b), 0o755),
		}
		if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
			imageErr = err
		} else if err := cpio.WriteTrailer(w); err != nil {
			imageErr = err
		}
		if err := f.Close(); imageErr == nil {
			imageErr = err
		}
	})
	if imageErr != nil {
		tb.Fatal(imageErr)
	}
	return imagePath
}

// bootTimes is what one boot of the hello init measured.
type bootTimes struct {
	hello, exit time.Duration
}

// bootHello boots the hello init with cfg, checks that "hello" arrives
// over the transport and that QEMU exits cleanly.
func bootHello(tb testing.TB, cfg Config) (*VM, bootTimes) {
	tb.Helper()
	if cfg.Kernel == "" {
		cfg.Kernel = bootKernel(tb)
	}
	cfg.Initramfs = helloImage(tb)
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.ConsoleLog == "" {
		cfg.ConsoleLog = filepath.Join(tb.TempDir(), "console.log")
	}
	if _, bench := tb.(*testing.B); !bench {
		cfg.Logf = tb.Logf
	}
	ctx := context.Background()
	t0 := time.Now()
	vm, err := Start(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { vm.Close() })
	rw, err := vm.Accept(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	rw.(net.Conn).SetReadDeadline(t0.Add(cfg.Timeout))
	line, err := bufio.NewReader(rw).ReadString('\n')
	var bt bootTimes
	bt.hello = time.Since(t0)
	if err != nil || line != "hello\n" {
		vm.Kill()
		vm.Wait()
		tb.Fatalf("read from guest: %q, %v; console:\n%s", line, err, strings.Join(vm.ConsoleTail(30), "\n"))
	}
	if err := vm.Wait(); err != nil {
		tb.Fatalf("Wait = %v; console:\n%s", err, strings.Join(vm.ConsoleTail(30), "\n"))
	}
	bt.exit = time.Since(t0)
	if inc := vm.Incidents(); len(inc) > 0 {
		tb.Errorf("unexpected console incidents: %v", inc)
	}
	return vm, bt
}

var topoLine = regexp.MustCompile(`^TOPO cpu(\d+) node=(\S+) llc=(\S+)$`)

// guestTopology parses the TOPO lines the hello init prints.
func guestTopology(vm *VM) map[string]string {
	got := map[string]string{}
	for _, l := range vm.ConsoleTail(1000) {
		if m := topoLine.FindStringSubmatch(l); m != nil {
			got["cpu"+m[1]] = "node=" + m[2] + " llc=" + m[3]
		}
	}
	return got
}

func TestBootHello(t *testing.T) {
	vm, bt := bootHello(t, Config{Accel: AccelAuto, Transport: TransportAuto})
	t.Logf("accel %s (%s), transport %s: start→hello %v, start→exit %v",
		vm.Accel(), vm.AccelReason(), vm.Transport(), bt.hello.Round(time.Millisecond), bt.exit.Round(time.Millisecond))
	want := map[string]string{"cpu0": "node=0 llc=0-1", "cpu1": "node=0 llc=0-1"}
	if got := guestTopology(vm); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("guest topology %v, want %v", got, want)
	}
}

func TestBootTopology(t *testing.T) {
	topo := spec.Topology{NUMANodes: 2, LLCs: 2, CoresPerLLC: 2, ThreadsPerCore: 1}
	vm, bt := bootHello(t, Config{Topology: topo, MemoryMB: 1024})
	t.Logf("%v: start→hello %v, start→exit %v", topo, bt.hello.Round(time.Millisecond), bt.exit.Round(time.Millisecond))
	want := map[string]string{}
	for cpu := range topo.CPUs() {
		first := cpu / 2 * 2
		want[fmt.Sprintf("cpu%d", cpu)] = fmt.Sprintf("node=%d llc=%d-%d", cpu/4, first, first+1)
	}
	if got := guestTopology(vm); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("guest topology\n got %v\nwant %v", got, want)
	}
}

// rawBoot runs QEMU by hand with the flags of the seed kernel's README
// (default machine, serial on stdio, no virtio devices) from exec to
// exit: the baseline for BenchmarkBoot. The init finds no transport, says
// so and powers off.
func rawBoot(b *testing.B, kernel, initrd string) time.Duration {
	t0 := time.Now()
	cmd := exec.Command(DefaultQEMU, "-accel", "tcg,thread=single", "-cpu", "max", "-smp", "2", "-m", "1024",
		"-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "TOPO cpu1") {
		b.Fatalf("raw qemu: %v\n%s", err, out)
	}
	return time.Since(t0)
}

// BenchmarkBoot measures Start → "hello" → QEMU exit for the minimal
// init on q35 (the default), and for comparison, interleaved in every
// iteration so that a changing host load hits all alike: the same with
// the uncompressed vmlinux booted via PVH, the pc machine, and QEMU run
// by hand without package host (rawBoot).
func BenchmarkBoot(b *testing.B) {
	kernel, initrd := bootKernel(b), helloImage(b)
	vmlinux := extractVmlinux(b, kernel)
	sum := map[string]time.Duration{}
	n := 0
	for b.Loop() {
		sum["raw-exit"] += rawBoot(b, kernel, initrd)
		for _, v := range []struct{ name, machine, kernel string }{
			{"q35", MachineQ35, kernel},
			{"pvh", MachineQ35, vmlinux},
			{"pc", MachinePC, kernel},
		} {
			_, bt := bootHello(b, Config{Machine: v.machine, Kernel: v.kernel})
			sum[v.name+"-hello"] += bt.hello
			sum[v.name+"-exit"] += bt.exit
		}
		n++
	}
	for k, d := range sum {
		b.ReportMetric(float64(d.Milliseconds())/float64(n), "ms-"+k)
	}
	b.ReportMetric(float64(sum["q35-exit"])/float64(sum["raw-exit"]), "q35/raw")
}
