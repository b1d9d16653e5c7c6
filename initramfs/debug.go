package initramfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
)

// debugTool is one file of the debug tool set: a binary at dst copied from
// src, or a symlink at dst pointing to target.
type debugTool struct {
	src, dst, target string
}

// busyboxPaths are where a static busybox (Debian's busybox-static) is
// looked for; SCXVM_BUSYBOX overrides them.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// uRootCommands are the u-root commands built when no static busybox is
// available: a shell and what one needs to look around a guest.
var uRootCommands = []string{
	"gosh", "ls", "cat", "cp", "mv", "rm", "mkdir", "echo", "grep", "ps",
	"kill", "dmesg", "mount", "umount", "sleep", "poweroff", "find", "tail",
	"head", "lsmod", "insmod",
}

// debugTools returns the debug tool set: a static busybox with a link per
// applet when the host has one, else u-root commands built with the Go
// toolchain (once, cached in cacheDir). /bin/sh is the shell either way.
func debugTools(ctx context.Context, cacheDir string) ([]debugTool, error) {
	cands := busyboxPaths
	if p := os.Getenv("SCXVM_BUSYBOX"); p != "" {
		cands = []string{p}
	}
	for _, bb := range cands {
		interp, isELF, err := elfInterp(bb)
		if err != nil || !isELF || interp != "" {
			continue
		}
		return busyboxTools(bb, fileCache{dir: cacheDir})
	}
	return uRootTools(ctx, cacheDir)
}

func busyboxTools(bb string, c fileCache) ([]debugTool, error) {
	fi, err := os.Stat(bb)
	if err != nil {
		return nil, err
	}
	k := statOf(bb, fi)
	var applets []string
	if !c.load("applets", k, &applets) {
		out, err := exec.Command(bb, "--list").Output()
		if err != nil {
			return nil, fmt.Errorf("debug image: list busybox applets of %s: %w", bb, err)
		}
		for _, a := range strings.Fields(string(out)) {
			if !strings.Contains(a, "/") && a != "busybox" {
				applets = append(applets, a)
			}
		}
		slices.Sort(applets)
		if err := c.store("applets", k, applets); err != nil {
			return nil, fmt.Errorf("debug image: %w", err)
		}
	}
	tools := []debugTool{{src: bb, dst: "/bin/busybox"}}
	for _, a := range applets {
		tools = append(tools, debugTool{dst: "/bin/" + a, target: "busybox"})
	}
	if !slices.Contains(applets, "sh") {
		return nil, fmt.Errorf("debug image: busybox %s has no sh applet", bb)
	}
	return tools, nil
}

// uRootTools builds uRootCommands at the u-root version this binary was
// built with, in a throwaway module, into cacheDir/debug/u-root-VERSION.
func uRootTools(ctx context.Context, cacheDir string) ([]debugTool, error) {
	version := "v0.16.0"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/u-root/u-root" {
				version = m.Version
			}
		}
	}
	out := filepath.Join(cacheDir, "debug", "u-root-"+version)
	tools := func() []debugTool {
		var ts []debugTool
		for _, c := range uRootCommands {
			ts = append(ts, debugTool{src: filepath.Join(out, c), dst: "/bin/" + c})
		}
		return append(ts, debugTool{dst: "/bin/sh", target: "gosh"})
	}
	if _, err := os.Stat(filepath.Join(out, ".complete")); err == nil {
		return tools(), nil
	}
	mod, err := os.MkdirTemp(cacheDir, ".tmp-debugmod-")
	if err != nil {
		return nil, fmt.Errorf("debug image: %w", err)
	}
	defer os.RemoveAll(mod)
	gomod := fmt.Sprintf("module scxvm.local/debugtools\n\ngo 1.24\n\nrequire github.com/u-root/u-root %s\n", version)
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, fmt.Errorf("debug image: %w", err)
	}
	build := filepath.Join(mod, "bin")
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", build + "/"}
	for _, c := range uRootCommands {
		args = append(args, "github.com/u-root/u-root/cmds/core/"+c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("debug image: no static busybox (apt-get install busybox-static) and building u-root %s commands failed: %w\n%s", version, err, stderr.Bytes())
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("debug image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(build, ".complete"), nil, 0o644); err != nil {
		return nil, fmt.Errorf("debug image: %w", err)
	}
	if err := os.Rename(build, out); err != nil && !isExist(err) {
		return nil, fmt.Errorf("debug image: %w", err)
	}
	return tools(), nil
}

// isExist reports whether a rename failed because another build put the
// directory in place first.
func isExist(err error) bool {
	return errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY)
}
