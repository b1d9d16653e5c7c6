package builtin_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/scxvm/scxvm/agent/builtin"
	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
)

// TestGuest boots each test kernel in QEMU with internal/guestcheck as
// /init, which loads every built-in scheduler and checks what the kernel
// reports: fifo attaches and detaches, stall and error get ejected with the
// expected reasons.
func TestGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping guest boots in -short mode")
	}
	kernels := testKernels(t)
	if len(kernels) == 0 {
		testenv.Prereq(t, "no test kernel found: set SCXVM_TEST_KERNELS=/path/to/bzImage, or put one in $SCXVM_KERNEL_SEED/*/bzImage or $SCXVM_CACHE_DIR/kernels/*/ (make kernel-build)")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		testenv.Prereq(t, "qemu-system-x86_64 not in PATH (try: apt-get install qemu-system-x86)")
	}
	initrd := buildInitrd(t)

	for _, kernel := range kernels {
		t.Run(filepath.Base(filepath.Dir(kernel)), func(t *testing.T) {
			out := boot(t, qemu, kernel, initrd)
			results := map[string]string{}
			for _, m := range resultRE.FindAllStringSubmatch(out, -1) {
				results[m[1]] = m[2]
			}
			if !strings.Contains(out, "GUESTCHECK DONE") {
				t.Fatalf("guest did not finish; console:\n%s", out)
			}
			if m := regexp.MustCompile(`GUESTCHECK ERROR (.*)`).FindStringSubmatch(out); m != nil {
				t.Fatalf("guest: %s; console:\n%s", m[1], out)
			}
			for _, name := range builtin.Names() {
				got, ok := results[name]
				switch {
				case !ok:
					t.Errorf("%s: no result; console:\n%s", name, out)
				case !strings.HasPrefix(got, "PASS"):
					t.Errorf("%s: %s", name, got)
				default:
					t.Logf("%s: %s", name, got)
				}
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "GUESTCHECK LOG") || strings.HasPrefix(l, "GUESTCHECK KERNEL") {
					t.Log(strings.TrimSpace(l))
				}
			}
		})
	}
}

var resultRE = regexp.MustCompile(`GUESTCHECK RESULT (\S+) (.*)`)

// testKernels lists the kernels to boot: $SCXVM_TEST_KERNELS, else the
// prebuilt kernels under $SCXVM_KERNEL_SEED and the kernels in the scxvm
// cache.
func testKernels(t *testing.T) []string {
	if env := os.Getenv("SCXVM_TEST_KERNELS"); env != "" {
		return filepath.SplitList(env)
	}
	var patterns []string
	if seed := os.Getenv("SCXVM_KERNEL_SEED"); seed != "" {
		patterns = append(patterns, filepath.Join(seed, "*", "bzImage"))
	}
	if cache, err := cacheDir(); err == nil {
		patterns = append(patterns,
			filepath.Join(cache, "kernels", "*", "bzImage"),
			filepath.Join(cache, "kernels", "*", "vmlinuz*"))
	}
	var kernels []string
	seen := map[string]bool{}
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		for _, k := range m {
			real, err := filepath.EvalSymlinks(k)
			if err != nil || seen[real] {
				continue
			}
			seen[real] = true
			// The cache also holds kernels kept as negative examples
			// (Debian's stock 6.12): they cannot load any scheduler.
			if info, err := kernel.Inspect(k); err == nil && !info.SchedExt {
				t.Logf("not a test kernel (no sched_ext): %s", k)
				continue
			}
			kernels = append(kernels, k)
		}
	}
	t.Logf("test kernels: %v", kernels)
	return kernels
}

func cacheDir() (string, error) {
	if d := os.Getenv("SCXVM_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "scxvm"), nil
}

// buildInitrd builds internal/guestcheck statically and packs it as /init.
func buildInitrd(t *testing.T) string {
	dir := t.TempDir()
	bin := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/guestcheck")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build guestcheck: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("tmp", 0o1777),
		cpio.StaticRecord(data, cpio.Info{Name: "init", Mode: 0o755 | cpio.S_IFREG}),
	}
	cpio.MakeAllReproducible(recs)
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "initrd.cpio")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// boot runs the guest and returns its console output.
func boot(t *testing.T, qemu, kernel, initrd string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// TCG: KVM on this kind of host (nested) fails in odd ways, and
	// these checks need no speed.
	accel := []string{"-accel", "tcg,thread=single", "-cpu", "max"}
	args := append(accel,
		"-smp", "2", "-m", "1024", "-nodefaults", "-no-reboot", "-nographic",
		"-serial", "stdio", "-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 nokaslr quiet")
	cmd := exec.CommandContext(ctx, qemu, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s: guest ran %v (%s)", kernel, time.Since(start).Round(time.Millisecond), accel[1])
	if err != nil {
		t.Fatalf("qemu: %v; console:\n%s", err, out.String())
	}
	// Drop the noise of terminal escape codes QEMU may emit.
	var clean strings.Builder
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(&clean, strings.TrimRight(sc.Text(), "\r"))
	}
	return clean.String()
}
