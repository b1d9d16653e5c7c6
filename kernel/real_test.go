package kernel

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
)

// These tests use the kernels and schedulers the Makefile puts in the cache
// (`make kernel kernel-build kernel-stock schedulers`, all run by
// `make test`). Without them they skip, loudly; under CI they fail.

func requireKernel(t *testing.T, name string) *Kernel {
	t.Helper()
	k, err := Lookup(DefaultCacheDir(), name)
	if err != nil {
		testenv.Prereq(t, "%v", err)
	}
	return k
}

func TestRealKernels(t *testing.T) {
	tests := []struct {
		name     string
		schedExt bool
		source   string // prefix of ConfigSource
		missing  []string
	}{
		{name: Debian, schedExt: true, source: SourceFile},
		{name: Build612, schedExt: true, source: SourceFile},
		{name: Stock612, schedExt: false, source: SourceFile, missing: []string{"CONFIG_SCHED_CLASS_EXT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := requireKernel(t, tt.name)
			var out bytes.Buffer
			err := Check(&out, k.Image)
			t.Logf("kernel check %s:\n%s", k.Image, out.String())
			if tt.schedExt && err != nil {
				t.Fatalf("Check = %v, want supported", err)
			}
			if !tt.schedExt && !errors.Is(err, ErrNotSupported) {
				t.Fatalf("Check = %v, want ErrNotSupported", err)
			}
			info, err := Inspect(k.Image)
			if err != nil {
				t.Fatal(err)
			}
			if info.Release == "" || info.Release != k.Release {
				t.Errorf("Release = %q, cache says %q", info.Release, k.Release)
			}
			if !strings.HasPrefix(info.ConfigSource, tt.source) {
				t.Errorf("ConfigSource = %q, want %s...", info.ConfigSource, tt.source)
			}
			if !slices.Equal(info.Missing, tt.missing) {
				t.Errorf("Missing = %q, want %q", info.Missing, tt.missing)
			}
			if tt.name == Debian {
				// The Debian kernel has vsock as modules; the cache must
				// hold all four, plain, in dependency order.
				var names []string
				for _, m := range k.Modules {
					names = append(names, filepath.Base(m))
					b, err := os.ReadFile(m)
					if err != nil || !bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
						t.Errorf("module %s is not a plain ELF .ko (%v)", m, err)
					}
				}
				for _, want := range []string{"vsock.ko", "vmw_vsock_virtio_transport_common.ko", "vmw_vsock_virtio_transport.ko", "vsock_loopback.ko"} {
					if !slices.Contains(names, want) {
						t.Errorf("modules %q lack %s", names, want)
					}
				}
				if i, j := slices.Index(names, "vsock.ko"), slices.Index(names, "vmw_vsock_virtio_transport.ko"); i < 0 || j < i {
					t.Errorf("modules %q: vsock.ko must load before the transport", names)
				}
			}
		})
	}
}

// TestRealBTFFallback inspects the real images without a config next to
// them: the verdict must then come from their BTF.
func TestRealBTFFallback(t *testing.T) {
	for _, tt := range []struct {
		name     string
		schedExt bool
	}{{Debian, true}, {Stock612, false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each decompresses and parses a whole kernel
			k := requireKernel(t, tt.name)
			alone := filepath.Join(t.TempDir(), "vmlinuz")
			if err := os.Symlink(k.Image, alone); err != nil {
				t.Fatal(err)
			}
			info, err := Inspect(alone)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat("/boot/config-" + info.Release); err != nil && info.ConfigSource != SourceBTF {
				t.Errorf("ConfigSource = %q, want %q (notes %q)", info.ConfigSource, SourceBTF, info.Notes)
			}
			if info.SchedExt != tt.schedExt {
				t.Errorf("SchedExt = %v, want %v (missing %q)", info.SchedExt, tt.schedExt, info.Missing)
			}
		})
	}
}

// TestRealSchedulers checks the example schedulers `make schedulers` built:
// x86-64 executables that embed a BPF object, built against the BTF of the
// kernel they are filed under.
func TestRealSchedulers(t *testing.T) {
	for _, name := range []string{Debian, Build612} {
		t.Run(name, func(t *testing.T) {
			cache := DefaultCacheDir()
			k := requireKernel(t, name)
			scheds, err := Schedulers(cache, k)
			if err != nil {
				testenv.Prereq(t, "%v", err)
			}
			if _, ok := scheds["scx_simple"]; !ok {
				t.Errorf("scx_simple not built for %s: %v", name, scheds)
			}
			for s, path := range scheds {
				checkSchedulerELF(t, s, path)
			}

			status := readStatus(t, filepath.Join(cache, "schedulers", filepath.Base(k.Dir), "status"))
			if status["kernel"] != k.Release {
				t.Errorf("schedulers built for kernel %q, want %q", status["kernel"], k.Release)
			}
			if k.VMLinux == "" {
				t.Fatalf("kernel %s has no vmlinux although schedulers were built for it", name)
			}
			if got := sha256File(t, k.VMLinux); status["vmlinux_sha256"] != got {
				t.Errorf("schedulers built against vmlinux %s, kernel's is %s", status["vmlinux_sha256"], got)
			}
			vmlinux, err := os.ReadFile(k.VMLinux)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := btfHasSchedExt(vmlinux); err != nil || !ok {
				t.Errorf("vmlinux %s: sched_ext_ops in BTF = %v, %v", k.VMLinux, ok, err)
			}
		})
	}
}

func checkSchedulerELF(t *testing.T, name, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("%s: machine %v, want x86-64", name, f.Machine)
	}
	switch f.Type {
	case elf.ET_EXEC:
	case elf.ET_DYN:
		// A PIE needs an interpreter unless it is static-pie (no DT_NEEDED).
		hasInterp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		libs, _ := f.ImportedLibraries()
		if !hasInterp && len(libs) > 0 {
			t.Errorf("%s: shared object needing %v without an interpreter: not an executable", name, libs)
		}
	default:
		t.Errorf("%s: ELF type %v, want an executable", name, f.Type)
	}
	// The skeleton embeds the BPF object: an ELF with e_machine EM_BPF.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for off := 1; !found; {
		i := bytes.Index(raw[off:], []byte(elf.ELFMAG))
		if i < 0 {
			break
		}
		off += i
		if obj, err := elf.NewFile(bytes.NewReader(raw[off:])); err == nil && obj.Machine == elf.EM_BPF {
			found = true
		}
		off++
	}
	if !found {
		t.Errorf("%s: no embedded BPF object", name)
	}
}

func readStatus(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		if k == "built" || k == "failed" {
			m[k+" "+v] = k
			continue
		}
		m[k] = v
	}
	return m
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestCacheHitsDoNoWork runs each script again on a filled cache: it must
// finish in well under a second and print nothing (any download or build
// prints a progress line on stderr and takes far longer).
func TestCacheHitsDoNoWork(t *testing.T) {
	cache := DefaultCacheDir()
	tests := []struct {
		script string
		args   []string
		needs  []string // cache entries that must be present
		scheds bool
	}{
		{script: "build-kernel", needs: []string{Build612}},
		{script: "build-schedulers", needs: []string{Debian, Build612}, scheds: true},
		{script: "deps"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.script}, tt.args...), " "), func(t *testing.T) {
			for _, n := range tt.needs {
				k := requireKernel(t, n)
				if tt.scheds {
					if _, err := Schedulers(cache, k); err != nil {
						testenv.Prereq(t, "%v", err)
					}
				}
			}
			if tt.script == "deps" {
				// deps would install with apt-get; only check it is quiet
				// when everything is installed.
				if out, err := exec.Command("dpkg-query", "-W", "clang-19", "qemu-system-x86").CombinedOutput(); err != nil {
					testenv.Prereq(t, "packages missing (run `make deps`): %s", out)
				}
			}
			cmd := exec.Command("./"+tt.script, tt.args...)
			cmd.Env = append(os.Environ(), "SCXVM_CACHE_DIR="+cache)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err != nil {
				t.Fatalf("%s: %v\n%s", tt.script, err, out)
			}
			if len(out) != 0 {
				t.Errorf("cached %s printed output (did work?):\n%s", tt.script, out)
			}
			t.Logf("cached %s: %v", tt.script, took)
		})
	}
}
