package kernel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
)

func osRelease(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckTools(t *testing.T) {
	include := t.TempDir()
	if err := os.MkdirAll(filepath.Join(include, "openssl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"gelf.h", "openssl/opensslv.h"} {
		if err := os.WriteFile(filepath.Join(include, h), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noHeaders := t.TempDir()
	tests := []struct {
		name      string
		missing   []string // commands not on PATH
		include   string
		osRelease string
		want      []string // in the error; nil: no error
	}{
		{name: "all there", include: include, osRelease: "ID=debian\n"},
		{name: "debian", missing: []string{"flex", "pahole"}, include: include, osRelease: "ID=debian\n",
			want: []string{"missing flex (package flex), pahole (package dwarves)", "install with: apt-get install dwarves flex"}},
		{name: "ubuntu headers", include: noHeaders, osRelease: "ID=ubuntu\nID_LIKE=debian\n",
			want: []string{"libelf headers (gelf.h) (package libelf-dev)", "OpenSSL headers (openssl/opensslv.h) (package libssl-dev)", "apt-get install libelf-dev libssl-dev"}},
		{name: "fedora", missing: []string{"bison"}, include: noHeaders, osRelease: `ID="fedora"` + "\n",
			want: []string{"bison (package bison)", "elfutils-libelf-devel", "dnf install bison elfutils-libelf-devel openssl-devel"}},
		{name: "rocky", missing: []string{"bc"}, include: include, osRelease: "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
			want: []string{"dnf install bc"}},
		{name: "arch", missing: []string{"pahole", "make"}, include: include, osRelease: "ID=arch\n",
			want: []string{"make (package make), pahole (package pahole)", "pacman -S make pahole"}},
		{name: "unknown distribution", missing: []string{"pahole"}, include: include, osRelease: "ID=nixos\n",
			want: []string{"missing pahole;", "pahole: Debian/Ubuntu dwarves, Fedora dwarves, Arch pahole"}},
		{name: "no os-release", missing: []string{"gcc"}, include: include, osRelease: "/nonexistent",
			want: []string{"missing gcc;", "gcc: Debian/Ubuntu gcc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := tt.osRelease
			if !strings.HasPrefix(rel, "/") {
				rel = osRelease(t, rel)
			}
			env := toolEnv{
				lookPath: func(name string) (string, error) {
					for _, m := range tt.missing {
						if m == name {
							return "", exec.ErrNotFound
						}
					}
					return "/usr/bin/" + name, nil
				},
				includeDir: tt.include,
				osRelease:  rel,
			}
			err := checkTools(env)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("checkTools = %v, want nil", err)
				}
				return
			}
			var mt *MissingToolsError
			if !errors.As(err, &mt) {
				t.Fatalf("checkTools = %v, want *MissingToolsError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestMissingInLog(t *testing.T) {
	deb := osRelease(t, "ID=debian\n")
	tests := []struct {
		lines []string
		want  string
	}{
		{[]string{"  LEX     scripts/kconfig/lexer.lex.c", "/bin/sh: 1: flex: not found", "make[2]: *** [scripts/Makefile.host:9] Error 127"},
			"missing flex: install it with apt-get install flex"},
		{[]string{"bash: line 1: bison: command not found"}, "missing bison: install it with apt-get install bison"},
		{[]string{"tools/objtool/include/objtool/elf.h:10:10: fatal error: gelf.h: No such file or directory"},
			"missing libelf headers (gelf.h): install it with apt-get install libelf-dev"},
		{[]string{"x.c:1:10: fatal error: zstd.h: No such file or directory"}, "missing the header zstd.h"},
		{[]string{"kernel/sched/core.c:12:1: error: expected ';'"}, ""},
	}
	for _, tt := range tests {
		got := missingInLog(tt.lines, deb)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("missingInLog(%q) = %q, want %q", tt.lines, got, tt.want)
		}
	}
}

func TestKbuildLine(t *testing.T) {
	for in, want := range map[string]string{
		"  CC      kernel/sched/core.o":       "CC kernel/sched/core.o",
		"  LD [M]  net/vmw_vsock/vsock.ko":    "LD net/vmw_vsock/vsock.ko",
		"  HOSTCC  scripts/basic/fixdep":      "HOSTCC scripts/basic/fixdep",
		"make[1]: Entering directory '/x'":    "",
		"  123 |   int x;":                    "",
		"  | ^~~~":                            "",
		"kernel/fork.c:1: warning: something": "",
	} {
		if got := kbuildLine(in); got != want {
			t.Errorf("kbuildLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFragmentEmbedded(t *testing.T) {
	file, err := os.ReadFile("fragment.config")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Fragment(), file) {
		t.Error("Fragment() differs from fragment.config")
	}
	f := Fragment()
	f[0] = 'X'
	if Fragment()[0] == 'X' {
		t.Error("Fragment returns the embedded slice itself")
	}
}

// scriptTree makes a fake kernel source tree whose Makefile has the given
// recipes (target -> shell lines).
func scriptTree(t *testing.T, recipes map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Prereq(t, "make not found (apt-get install make)")
	}
	dir := fakeTree(t, map[string]string{})
	var mk strings.Builder
	for target, lines := range recipes {
		mk.WriteString(target + ":\n")
		for _, l := range strings.Split(lines, "\n") {
			mk.WriteString("\t" + l + "\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(mk.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scripts/kconfig/merge_config.sh"), []byte("#!/bin/sh\necho merged \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// allTools is a toolEnv in which nothing is missing.
func allTools(t *testing.T) toolEnv {
	env := hostToolEnv()
	env.lookPath = func(string) (string, error) { return "/bin/true", nil }
	inc := t.TempDir()
	os.MkdirAll(filepath.Join(inc, "openssl"), 0o755)
	os.WriteFile(filepath.Join(inc, "gelf.h"), nil, 0o644)
	os.WriteFile(filepath.Join(inc, "openssl/opensslv.h"), nil, 0o644)
	env.includeDir = inc
	env.osRelease = osRelease(t, "ID=debian\n")
	return env
}

func TestBuildSteps(t *testing.T) {
	fullConfig := "\t@printf 'CONFIG_BPF=y\\nCONFIG_BPF_SYSCALL=y\\nCONFIG_BPF_JIT=y\\nCONFIG_DEBUG_INFO_BTF=y\\nCONFIG_SCHED_CLASS_EXT=y\\n' > .config"
	t.Run("failure names the missing tool", func(t *testing.T) {
		dir := scriptTree(t, map[string]string{"defconfig": "@echo '  HOSTCC  scripts/basic/fixdep'\n@echo '/bin/sh: 1: bison: not found'\n@exit 127"})
		_, err := build(context.Background(), BuildOptions{Source: dir}, allTools(t))
		var be *BuildError
		if !errors.As(err, &be) {
			t.Fatalf("build = %v, want *BuildError", err)
		}
		for _, w := range []string{"make defconfig", "missing bison: install it with apt-get install bison", "last lines of " + filepath.Join(dir, "scxvm-build.log"), "/bin/sh: 1: bison: not found"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	})
	t.Run("a tree without sched_ext", func(t *testing.T) {
		dir := scriptTree(t, map[string]string{
			"defconfig":        "@printf 'CONFIG_BPF=y\\n' > .config",
			"kvm_guest.config": "@true",
			"olddefconfig":     "@true",
			"bzImage":          "@echo must not run; exit 1",
		})
		_, err := build(context.Background(), BuildOptions{Source: dir}, allTools(t))
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "CONFIG_SCHED_CLASS_EXT") || !strings.Contains(err.Error(), "6.12") {
			t.Fatalf("build = %v, want ErrNotSupported naming CONFIG_SCHED_CLASS_EXT", err)
		}
	})
	t.Run("steps and progress", func(t *testing.T) {
		dir := scriptTree(t, map[string]string{
			"defconfig":        "@echo must not run; exit 1",
			"kvm_guest.config": "@echo '  GEN     Makefile'",
			"olddefconfig":     "@true",
			"bzImage":          "@echo '  CC      kernel/fork.o'\n@echo '  AS      arch/x86/entry/entry_64.o'\n@echo '  LD      vmlinux'\n@mkdir -p arch/x86/boot && cp " + requireKernel(t, Build612).Image + " arch/x86/boot/bzImage",
		})
		// An existing .config is kept: no defconfig.
		if err := os.WriteFile(filepath.Join(dir, ".config"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		mk := filepath.Join(dir, "Makefile")
		b, _ := os.ReadFile(mk)
		os.WriteFile(mk, bytes.Replace(b, []byte("olddefconfig:\n"), []byte("olddefconfig:\n"+fullConfig+"\n"), 1), 0o644)
		var events []BuildEvent
		tr, err := build(context.Background(), BuildOptions{Source: dir, Jobs: 3, Progress: func(e BuildEvent) { events = append(events, e) }}, allTools(t))
		if err != nil {
			t.Fatal(err)
		}
		if tr.Image != filepath.Join(dir, "arch/x86/boot/bzImage") {
			t.Errorf("Image = %s", tr.Image)
		}
		var names []string
		last := BuildEvent{}
		for _, e := range events {
			if e.Done {
				names = append(names, e.Name)
				last = e
			}
		}
		want := []string{"make kvm_guest.config", "merge scxvm's fragment", "make olddefconfig", "make -j3 bzImage"}
		if strings.Join(names, "|") != strings.Join(want, "|") {
			t.Errorf("steps %q, want %q", names, want)
		}
		if last.Objects != 2 || last.Step != 4 || last.Steps != 4 {
			t.Errorf("last event %+v, want 2 objects in step 4 of 4", last)
		}
		log, _ := os.ReadFile(filepath.Join(dir, "scxvm-build.log"))
		if !bytes.Contains(log, []byte("merged -m -O "+dir+" "+filepath.Join(dir, ".config"))) || !bytes.Contains(log, []byte("CC      kernel/fork.o")) {
			t.Errorf("log lacks the merge and the compile:\n%s", log)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		dir := scriptTree(t, map[string]string{"defconfig": "@sleep 30 & sleep 30"})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := build(ctx, BuildOptions{Source: dir}, allTools(t))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
			t.Fatalf("build = %v after %v, want the context's error at once", err, time.Since(start))
		}
	})
	t.Run("not a tree", func(t *testing.T) {
		_, err := build(context.Background(), BuildOptions{Source: t.TempDir()}, allTools(t))
		if !errors.Is(err, ErrNotTree) || !strings.Contains(err.Error(), "looked for Makefile, Kconfig, scripts/kconfig") {
			t.Fatalf("build = %v, want ErrNotTree saying what it looked for", err)
		}
	})
	t.Run("missing tools first", func(t *testing.T) {
		env := allTools(t)
		env.lookPath = func(name string) (string, error) {
			if name == "flex" {
				return "", exec.ErrNotFound
			}
			return "/bin/true", nil
		}
		dir := scriptTree(t, map[string]string{"defconfig": "@touch ran"})
		_, err := build(context.Background(), BuildOptions{Source: dir}, env)
		var mt *MissingToolsError
		if !errors.As(err, &mt) || !strings.Contains(err.Error(), "apt-get install flex") {
			t.Fatalf("build = %v, want *MissingToolsError for flex", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
			t.Error("make ran although a tool is missing")
		}
	})
}

// TestBuildConfigReal configures the cached linux-source-6.12 tree (make
// kernel-build unpacks it) out of tree, as `scxvm kernel build -O DIR
// -config-only` does, and compares the result with the config of the
// cached 6.12 kernel, which kernel/build-kernel made with the same recipe.
func TestBuildConfigReal(t *testing.T) {
	if testing.Short() {
		t.Skip("configures a real kernel tree (about 30 s); skipped with -short")
	}
	k := requireKernel(t, Build612)
	srcs, _ := filepath.Glob(filepath.Join(DefaultCacheDir(), "src", "linux-source-6.12-*"))
	if len(srcs) == 0 {
		testenv.Prereq(t, "no linux-source-6.12 tree in %s/src (make kernel-build unpacks it)", DefaultCacheDir())
	}
	if err := CheckBuildTools(); err != nil {
		testenv.Prereq(t, "%v (make deps)", err)
	}
	out := t.TempDir()
	tr, err := Build(context.Background(), BuildOptions{Source: srcs[0], Output: out, ConfigOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readConfigFile(tr.Config)
	if err != nil {
		t.Fatal(err)
	}
	want, err := readConfigFile(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s=%q, the cached 6.12 kernel has %q", name, got[name], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d options set, the cached 6.12 kernel has %d", len(got), len(want))
	}
	if _, err := os.Stat(filepath.Join(srcs[0], ".config")); err == nil {
		t.Errorf("the source tree %s got a .config", srcs[0])
	}
}
