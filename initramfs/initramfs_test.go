package initramfs

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/scxvm/scxvm/internal/leakcheck"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/ulikunitz/xz"
)

// agentBin is a small static Go binary standing in for the agent, built
// once by TestMain.
var agentBin string

func TestMain(m *testing.M) {
	if cfg := os.Getenv("SCXVM_INITRAMFS_TEST_BUILD"); cfg != "" {
		// Child process of TestConcurrentProcesses: build and print the path.
		var c Config
		if err := json.Unmarshal([]byte(cfg), &c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		p, err := Build(context.Background(), c)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(p)
		os.Exit(0)
	}
	os.Exit(leakcheck.Main(leakcheck.Func(func() int {
		dir, err := os.MkdirTemp("", "initramfs-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		if agentBin, err = buildStatic(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	})))
}

func buildStatic(dir string) (string, error) {
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"agent\") }\n"), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "agent")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test agent: %v\n%s", err, b)
	}
	return out, nil
}

// dynamicBin returns a dynamically linked executable of this host.
func dynamicBin(t testing.TB) string {
	for _, p := range []string{"/usr/bin/stress-ng", "/bin/ls", "/usr/bin/ls"} {
		if interp, _, err := elfInterp(p); err == nil && interp != "" {
			return p
		}
	}
	t.Skip("skipping: no dynamically linked executable found on this host (install coreutils)")
	return ""
}

func readArchive(t testing.TB, p string) map[string]cpio.Record {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	out := map[string]cpio.Record{}
	for i, r := range recs {
		if _, dup := out[r.Name]; dup {
			t.Errorf("%s twice in archive", r.Name)
		}
		out[r.Name] = r
		// Parents come before children, and every parent is a directory.
		if r.Name == cpio.Trailer {
			continue
		}
		if r.MTime != 0 || r.UID != 0 || r.GID != 0 || r.Major != 0 || r.Minor != 0 {
			t.Errorf("%s: not reproducible: %v", r.Name, r.Info)
		}
		if d := path.Dir(r.Name); d != "." {
			parent, ok := out[d]
			if !ok {
				t.Errorf("record %d %s: parent %s missing or after it", i, r.Name, d)
			} else if parent.Mode&cpio.S_IFMT != cpio.S_IFDIR {
				t.Errorf("%s: parent %s is not a directory", r.Name, d)
			}
		}
	}
	return out
}

func content(t testing.TB, r cpio.Record) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, p string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func compressed(t testing.TB, kind string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch kind {
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zst":
		w, err = zstd.NewWriter(&buf)
	case "gz":
		w = gzip.NewWriter(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBuildLayout(t *testing.T) {
	in := t.TempDir()
	mod := bytes.Repeat([]byte("\x7fELF module "), 1000)
	cfg := Config{
		Agent: agentBin,
		Files: []File{
			{Src: writeFile(t, filepath.Join(in, "data"), []byte("scenario"), 0o600), Dst: "/etc/scxvm/scenario.yaml"},
			{Src: writeFile(t, filepath.Join(in, "tool"), []byte("#!/bin/sh\n"), 0o755), Dst: "/usr/local/bin/tool", Mode: 0o700},
		},
		KernelConfig:  writeFile(t, filepath.Join(in, "config"), []byte("CONFIG_SCHED_CLASS_EXT=y\n"), 0o644),
		KernelRelease: "7.3.4+deb13-amd64",
		Modules: []string{
			writeFile(t, filepath.Join(in, "vsock.ko.xz"), compressed(t, "xz", mod), 0o644),
			writeFile(t, filepath.Join(in, "b.ko.zst"), compressed(t, "zst", mod), 0o644),
			writeFile(t, filepath.Join(in, "c.ko.gz"), compressed(t, "gz", mod), 0o644),
			writeFile(t, filepath.Join(in, "d.ko"), mod, 0o644),
		},
		CacheDir: t.TempDir(),
	}
	p, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := readArchive(t, p)
	agent, _ := os.ReadFile(agentBin)
	checks := []struct {
		name string
		mode uint64
		data []byte // nil: not checked
	}{
		{"init", cpio.S_IFREG | 0o755, agent},
		{"dev", cpio.S_IFDIR | 0o755, nil},
		{"proc", cpio.S_IFDIR | 0o755, nil},
		{"sys", cpio.S_IFDIR | 0o755, nil},
		{"run", cpio.S_IFDIR | 0o755, nil},
		{"tmp", cpio.S_IFDIR | 0o1777, nil},
		{"etc/scxvm/scenario.yaml", cpio.S_IFREG | 0o600, []byte("scenario")},
		{"usr/local/bin/tool", cpio.S_IFREG | 0o700, []byte("#!/bin/sh\n")},
		{"boot/config-7.3.4+deb13-amd64", cpio.S_IFREG | 0o644, []byte("CONFIG_SCHED_CLASS_EXT=y\n")},
		{"lib/modules/scxvm/00-vsock.ko", cpio.S_IFREG | 0o644, mod},
		{"lib/modules/scxvm/01-b.ko", cpio.S_IFREG | 0o644, mod},
		{"lib/modules/scxvm/02-c.ko", cpio.S_IFREG | 0o644, mod},
		{"lib/modules/scxvm/03-d.ko", cpio.S_IFREG | 0o644, mod},
		{"dev/console", cpio.S_IFCHR | 0o600, nil},
	}
	for _, c := range checks {
		r, ok := recs[c.name]
		if !ok {
			t.Errorf("%s missing", c.name)
			continue
		}
		if r.Mode != c.mode {
			t.Errorf("%s: mode %o, want %o", c.name, r.Mode, c.mode)
		}
		if c.data != nil && !bytes.Equal(content(t, r), c.data) {
			t.Errorf("%s: contents differ (%d bytes, want %d)", c.name, r.FileSize, len(c.data))
		}
	}
	if c := recs["dev/console"]; c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("dev/console is %d:%d, want 5:1", c.Rmajor, c.Rminor)
	}
	raw, _ := os.ReadFile(p)
	if !bytes.Contains(raw[max(0, len(raw)-512):], []byte(cpio.Trailer)) {
		t.Error("no trailer at the end of the archive")
	}
}

// TestDynamicAgent: an agent built with cgo (a plain `go install`) is
// /init with its interpreter and libraries beside it.
func TestDynamicAgent(t *testing.T) {
	bin := dynamicBin(t)
	p, err := Build(context.Background(), Config{Agent: bin, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	recs := readArchive(t, p)
	interp, _, err := elfInterp(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recs["init"]; !ok {
		t.Error("no /init")
	}
	if _, ok := recs[strings.TrimPrefix(interp, "/")]; !ok {
		var names []string
		for n := range recs {
			names = append(names, n)
		}
		t.Errorf("interpreter %s not in the image: %v", interp, names)
	}
}

func TestDynamicBinary(t *testing.T) {
	bin := dynamicBin(t)
	cfg := Config{Agent: agentBin, Binaries: []string{bin}, CacheDir: t.TempDir()}
	p, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := readArchive(t, p)
	base := filepath.Base(bin)
	if _, ok := recs["sched/"+base]; !ok {
		t.Fatalf("sched/%s missing", base)
	}

	// Every DT_NEEDED of every ELF file in the archive resolves to a file in
	// a library directory of the archive, and the interpreter is there.
	root := t.TempDir()
	for _, r := range recs {
		if r.Name == cpio.Trailer {
			continue
		}
		if err := cpio.CreateFileInRoot(r, root, false); err != nil {
			t.Fatalf("extract %s: %v", r.Name, err)
		}
	}
	interp, _, err := elfInterp(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, interp)); err != nil {
		t.Errorf("interpreter %s not in the archive: %v", interp, err)
	}
	checkNeeded(t, root, filepath.Join(root, "sched", base), map[string]bool{})

	// A dynamic executable given as an extra file brings its libraries too.
	p2, err := Build(context.Background(), Config{Agent: agentBin, Files: []File{{Src: bin, Dst: "/usr/bin/payload"}}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	recs2 := readArchive(t, p2)
	for name, r := range recs {
		if strings.HasPrefix(name, "sched") {
			continue
		}
		if r2, ok := recs2[name]; !ok || r2.Mode != r.Mode {
			t.Errorf("extra-file build lacks %s", name)
		}
	}

	// Run it in the extracted tree, as the guest would.
	if os.Geteuid() != 0 {
		t.Log("not root: skipping the chroot run (the DT_NEEDED check above still ran)")
		return
	}
	cmd := exec.Command("/sched/"+base, "--version")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run %s in chroot: %v\n%s", base, err, out)
	}
	t.Logf("chroot run: %s", bytes.SplitN(out, []byte("\n"), 2)[0])
}

// libDirs are where the tests look for sonames inside the extracted tree.
var libDirs = []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib", "usr/lib64", "usr/local/lib"}

func checkNeeded(t *testing.T, root, file string, seen map[string]bool) {
	t.Helper()
	if seen[file] {
		return
	}
	seen[file] = true
	f, err := elf.Open(file)
	if err != nil {
		t.Errorf("open %s: %v", file, err)
		return
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	f.Close()
	if err != nil {
		t.Errorf("%s: %v", file, err)
		return
	}
	for _, so := range needed {
		found := ""
		for _, d := range libDirs {
			if _, err := os.Stat(filepath.Join(root, d, so)); err == nil {
				found = filepath.Join(root, d, so)
				break
			}
		}
		if found == "" {
			t.Errorf("%s needs %s, which is not in the archive", strings.TrimPrefix(file, root), so)
			continue
		}
		real, err := filepath.EvalSymlinks(found)
		if err != nil {
			t.Errorf("%s: %v", found, err)
			continue
		}
		if !strings.HasPrefix(real, root) {
			t.Errorf("%s resolves outside the archive to %s", found, real)
			continue
		}
		checkNeeded(t, root, real, seen)
	}
}

func TestReproducible(t *testing.T) {
	in := t.TempDir()
	data := writeFile(t, filepath.Join(in, "data"), []byte("hello"), 0o644)
	cfg := func() Config {
		return Config{Agent: agentBin, Files: []File{{Src: data, Dst: "/a/b/c/data"}}, CacheDir: t.TempDir()}
	}
	p1, err := Build(context.Background(), cfg())
	if err != nil {
		t.Fatal(err)
	}
	// A new mtime on an input must not change the image.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(data, later, later); err != nil {
		t.Fatal(err)
	}
	p2, err := Build(context.Background(), cfg())
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) || filepath.Base(p1) != filepath.Base(p2) {
		t.Fatalf("two builds differ: %s (%d bytes) vs %s (%d bytes)", p1, len(b1), p2, len(b2))
	}
	recs := readArchive(t, p1)
	for _, d := range []string{"a", "a/b", "a/b/c"} {
		if r, ok := recs[d]; !ok || r.Mode != cpio.S_IFDIR|0o755 {
			t.Errorf("parent %s: %v %v", d, ok, r.Info)
		}
	}
}

func TestCache(t *testing.T) {
	in := t.TempDir()
	data := writeFile(t, filepath.Join(in, "data"), []byte("one"), 0o644)
	cfg := Config{Agent: agentBin, Files: []File{{Src: data, Dst: "/data"}}, CacheDir: t.TempDir()}
	p1, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(p1)
	p2, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(p2)
	// (Its mtime moves: a use marks it recently used for the cache bound.)
	if p1 != p2 || !os.SameFile(fi1, fi2) {
		t.Fatalf("cached build rewrote the image: %s -> %s", p1, p2)
	}

	// New contents: a new image, even with the same size and mtime (the
	// inode changes on rename).
	tmp := writeFile(t, filepath.Join(in, "data.new"), []byte("two"), 0o644)
	os.Chtimes(tmp, fi1.ModTime(), fi1.ModTime())
	if err := os.Rename(tmp, data); err != nil {
		t.Fatal(err)
	}
	p3, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p1 {
		t.Fatal("changed input reused the cached image")
	}
	if got := content(t, readArchive(t, p3)["data"]); string(got) != "two" {
		t.Fatalf("data = %q", got)
	}
	// Other destination or mode: other image.
	cfg.Files[0].Mode = 0o600
	p4, err := Build(context.Background(), cfg)
	if err != nil || p4 == p3 {
		t.Fatalf("mode change: %s, %v", p4, err)
	}
}

// checkCacheDir checks that only complete images are left in dir.
func checkCacheDir(t *testing.T, dir string, want string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
		if strings.HasSuffix(e.Name(), ".cpio") && e.Name() != filepath.Base(want) {
			t.Errorf("unexpected image %s", e.Name())
		}
	}
	readArchive(t, want)
}

func TestConcurrentBuilds(t *testing.T) {
	bin := dynamicBin(t)
	cfg := Config{Agent: agentBin, Binaries: []string{bin}, CacheDir: t.TempDir()}
	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { paths[i], errs[i] = Build(context.Background(), cfg) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if paths[i] != paths[0] {
			t.Fatalf("builds disagree: %s vs %s", paths[i], paths[0])
		}
	}
	checkCacheDir(t, filepath.Join(cfg.CacheDir, "initramfs"), paths[0])
}

func TestConcurrentProcesses(t *testing.T) {
	bin := dynamicBin(t)
	cfg := Config{Agent: agentBin, Binaries: []string{bin}, CacheDir: t.TempDir()}
	js, _ := json.Marshal(cfg)
	const n = 3
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range n {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), "SCXVM_INITRAMFS_TEST_BUILD="+string(js))
		outs[i] = new(bytes.Buffer)
		cmds[i].Stdout = outs[i]
		cmds[i].Stderr = outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := cmds[i].Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
	}
	want, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if got := strings.TrimSpace(outs[i].String()); got != want {
			t.Errorf("child %d built %q, want %q", i, got, want)
		}
	}
	checkCacheDir(t, filepath.Join(cfg.CacheDir, "initramfs"), want)
}

func TestBuildErrors(t *testing.T) {
	in := t.TempDir()
	data := writeFile(t, filepath.Join(in, "data"), []byte("x"), 0o644)
	other := writeFile(t, filepath.Join(in, "other"), []byte("y"), 0o644)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		cfg  Config
		want string
	}{
		{"no agent", nil, Config{}, "no agent binary"},
		{"missing agent", nil, Config{Agent: filepath.Join(in, "nope")}, "no such file"},
		{"agent not ELF", nil, Config{Agent: data}, "not an ELF executable"},
		{"relative dst", nil, Config{Agent: agentBin, Files: []File{{Src: data, Dst: "etc/x"}}}, "not an absolute path"},
		{"dir as file", nil, Config{Agent: agentBin, Files: []File{{Src: in, Dst: "/x"}}}, "not a regular file"},
		{"conflict", nil, Config{Agent: agentBin, Files: []File{{Src: data, Dst: "/x"}, {Src: other, Dst: "/x"}}}, "given twice"},
		{"config without release", nil, Config{Agent: agentBin, KernelConfig: data}, "kernel release"},
		{"missing module", nil, Config{Agent: agentBin, Modules: []string{filepath.Join(in, "m.ko")}}, "module"},
		{"cancelled", cancelled, Config{Agent: agentBin, Files: []File{{Src: data, Dst: "/x"}}}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			tt.cfg.CacheDir = t.TempDir()
			p, err := Build(ctx, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build = %q, %v; want error containing %q", p, err, tt.want)
			}
		})
	}
	// Identical duplicates are fine.
	if _, err := Build(context.Background(), Config{Agent: agentBin, Files: []File{{Src: data, Dst: "/x"}, {Src: data, Dst: "//x"}}, CacheDir: t.TempDir()}); err != nil {
		t.Errorf("identical duplicate: %v", err)
	}
	if !errors.Is(cancelled.Err(), context.Canceled) {
		t.Fatal("unreachable")
	}
}

func TestModuleName(t *testing.T) {
	for _, tt := range []struct{ in, name, comp string }{
		{"/x/vsock.ko", "vsock", ""},
		{"vsock.ko.xz", "vsock", "xz"},
		{"a/vmw_vsock_virtio_transport.ko.zst", "vmw_vsock_virtio_transport", "zst"},
		{"z.ko.gz", "z", "gz"},
	} {
		if n, c := moduleName(tt.in); n != tt.name || c != tt.comp {
			t.Errorf("moduleName(%q) = %q, %q; want %q, %q", tt.in, n, c, tt.name, tt.comp)
		}
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "initramfs")
	os.MkdirAll(dir, 0o755)
	old := writeFile(t, filepath.Join(dir, ".tmp-dead.cpio"), []byte("partial"), 0o600)
	fresh := writeFile(t, filepath.Join(dir, ".tmp-running.cpio"), []byte("partial"), 0o600)
	past := time.Now().Add(-2 * staleAge)
	os.Chtimes(old, past, past)
	if _, err := Build(context.Background(), Config{Agent: agentBin, CacheDir: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a running build's temp file was removed: %v", err)
	}
}
