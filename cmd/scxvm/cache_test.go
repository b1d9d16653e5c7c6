package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCacheCommand(t *testing.T) {
	root := t.TempDir()
	put := func(rel string, size int, age time.Duration) string {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{1}, size), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		os.Chtimes(p, at, at)
		return p
	}
	old := put("initramfs/initramfs-old.cpio", 64<<10, 2*time.Hour)
	young := put("vmlinux/vmlinux-young", 64<<10, time.Hour)
	kernelImg := put("kernels/debian/vmlinuz", 64<<10, 3*time.Hour)
	t.Setenv("SCXVM_CACHE_MAX", "")

	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"cache"}, args...), &out, &out)
		return out.String(), err
	}
	out, err := cmd("du", "--cache", root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"initramfs/  1", "vmlinux/    1", "total       2", "bound 2.0 GiB (default)"} {
		if !strings.Contains(out, want) {
			t.Errorf("du output lacks %q:\n%s", want, out)
		}
	}
	out, err = cmd("du", "-v", "--cache", root, "--cache-max", "1G")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vmlinux/vmlinux-young", "initramfs/initramfs-old.cpio", "kernels/", "bound 1.0 GiB (--cache-max)"} {
		if !strings.Contains(out, want) {
			t.Errorf("du -v output lacks %q:\n%s", want, out)
		}
	}

	// A bound that holds one file: the least recently used goes.
	t.Setenv("SCXVM_CACHE_MAX", "100K")
	out, err = cmd("prune", "--cache", root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "removed "+old) || !strings.Contains(out, "removed 1 files") {
		t.Errorf("prune output:\n%s", out)
	}
	for p, want := range map[string]bool{old: false, young: true, kernelImg: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
	if _, err := cmd("prune", "--all", "--cache", root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(young); err == nil {
		t.Error("prune --all kept an unused file")
	}
	if _, err := os.Stat(kernelImg); err != nil {
		t.Errorf("prune touched the kernels: %v", err)
	}
}

func TestCacheUsage(t *testing.T) {
	t.Setenv("SCXVM_CACHE_MAX", "")
	for _, tc := range []struct {
		args []string
		env  string
		out  string
	}{
		{[]string{"cache"}, "", "want du or prune"},
		{[]string{"cache", "frob"}, "", `unknown subcommand "frob"`},
		{[]string{"cache", "du", "extra"}, "", "takes no arguments"},
		{[]string{"cache", "prune", "--cache-max", "0"}, "", "out of range"},
		{[]string{"cache", "du"}, "lots", "SCXVM_CACHE_MAX"},
		{[]string{"run", "--cache-max", "lots"}, "", "flag -cache-max"},
		{[]string{"run"}, "lots", "SCXVM_CACHE_MAX"},
		{[]string{"run", "--boot", "bzImage"}, "", `boot: unknown value "bzImage"`},
	} {
		t.Run(strings.Join(tc.args, " ")+" "+tc.env, func(t *testing.T) {
			t.Setenv("SCXVM_CACHE_MAX", tc.env)
			var out bytes.Buffer
			err := run(context.Background(), tc.args, &out, &out)
			if got := exitCode(err); got != exitUsage {
				t.Errorf("exit %d (%v), want %d", got, err, exitUsage)
			}
			if all := out.String() + errString(err); !strings.Contains(all, tc.out) {
				t.Errorf("output %q lacks %q", all, tc.out)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
