package kernel

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
)

// fakeSelftestsCache makes a cache with kernel dir kernels/test-1 whose
// schedulers' status names a source tree, and that tree with the
// selftests Makefile given (a recipe for $(OUTPUT)/runner).
func fakeSelftestsCache(t *testing.T, makefile string) (cache string, k *Kernel, src string) {
	t.Helper()
	cache = t.TempDir()
	kdir := filepath.Join(cache, "kernels", "test-1")
	src = filepath.Join(cache, "src", "linux-source-9.9-9.9.1-1_bpo13+1")
	for _, d := range []string{kdir, filepath.Join(cache, "schedulers", "test-1"), filepath.Join(src, SelftestsDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(kdir, "vmlinux"):                         "BTF",
		filepath.Join(cache, "schedulers", "test-1", "status"): "kernel 9.9.1\nsource linux-source-9.9 9.9.1-1~bpo13+1\nbuilt scx_simple\n",
		filepath.Join(src, ".complete"):                        "",
		filepath.Join(src, SelftestsDir, "Makefile"):           makefile,
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cache, &Kernel{Name: "test", Dir: kdir, Release: "9.9.1", VMLinux: filepath.Join(kdir, "vmlinux")}, src
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"7.3.4-1~bpo13+1": "7.3.4-1_bpo13+1", "6.12.117-1~deb12u1": "6.12.117-1_deb12u1", "a:b c": "a_b_c"} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q (kernel/lib.sh safe_name)", in, got, want)
		}
	}
}

func TestBuildSelftestsCached(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Prereq(t, "make not in PATH")
	}
	const mk = "all:\n\t@echo building\n\t@printf '%s\\n' '$(VMLINUX_BTF)' '$(CLANG)' > $(OUTPUT)/runner\n"
	cache, k, src := fakeSelftestsCache(t, mk)
	if _, err := CachedSelftests(cache, k); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("CachedSelftests before a build = %v, want ErrNotExist", err)
	}
	var said []string
	opt := SelftestsOptions{CacheDir: cache, Clang: "true", Progress: func(s string) { said = append(said, s) }}
	st, err := BuildSelftests(context.Background(), k, opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "selftests", "test-1", "runner"); st.Runner != want || !st.Built {
		t.Errorf("runner %s built %v, want %s built", st.Runner, st.Built, want)
	}
	b, err := os.ReadFile(st.Runner)
	if err != nil || string(b) != k.VMLinux+"\ntrue\n" {
		t.Errorf("runner = %q, %v: want it built against %s with the given compiler", b, err, k.VMLinux)
	}
	if st.Source != src || st.VMLinux != k.VMLinux {
		t.Errorf("source %q vmlinux %q, want %q %q", st.Source, st.VMLinux, src, k.VMLinux)
	}
	if len(said) != 2 || !strings.Contains(said[0], "building") {
		t.Errorf("progress = %q", said)
	}
	// The source tree holds nothing of the build.
	entries, _ := os.ReadDir(filepath.Join(src, SelftestsDir))
	if len(entries) != 1 {
		t.Errorf("the build wrote into the source tree: %v", entries)
	}
	// Cached: no make.
	os.WriteFile(filepath.Join(src, SelftestsDir, "Makefile"), []byte("all:\n\texit 1\n"), 0o644)
	again, err := BuildSelftests(context.Background(), k, opt)
	if err != nil || again.Built || again.Runner != st.Runner {
		t.Errorf("second build = %+v, %v; want the cached runner", again, err)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "selftests", ".tmp.*")); len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}

func TestBuildSelftestsFails(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Prereq(t, "make not in PATH")
	}
	cache, k, _ := fakeSelftestsCache(t, "all:\n\t@echo 'runner.c:1: error: no such struct'\n\t@exit 2\n")
	_, err := BuildSelftests(context.Background(), k, SelftestsOptions{CacheDir: cache, Clang: "true"})
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BuildError", err)
	}
	if !strings.Contains(err.Error(), "no such struct") || be.Log != filepath.Join(cache, "selftests", "test-1.build.log") {
		t.Errorf("err = %v (log %s): want make's last line and the kept log", err, be.Log)
	}
	if _, serr := os.Stat(be.Log); serr != nil {
		t.Errorf("log not kept: %v", serr)
	}
}

func TestSelftestsSourceMissing(t *testing.T) {
	cache, k, src := fakeSelftestsCache(t, "")
	os.Remove(filepath.Join(src, ".complete"))
	if _, _, err := SelftestsSource(cache, k); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "make schedulers") {
		t.Errorf("unpacked tree missing: %v, want ErrNotExist naming make schedulers", err)
	}
	if _, _, err := SelftestsSource(cache, &Kernel{Name: "./bzImage", Image: "/x/bzImage"}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "--kernel DIR") {
		t.Errorf("image alone: %v, want ErrNotExist suggesting a tree", err)
	}
	os.Remove(filepath.Join(cache, "schedulers", "test-1", "status"))
	if _, _, err := SelftestsSource(cache, k); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no schedulers status: %v, want ErrNotExist", err)
	}
}
