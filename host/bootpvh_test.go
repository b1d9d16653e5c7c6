//go:build linux

package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootMethods boots the hello init from the test bzImage three ways:
// auto (the vmlinux extracted for PVH), image (the bzImage itself), and
// auto on a copy whose setup header hides the payload, which cannot be
// extracted and so falls back to booting the bzImage.
func TestBootMethods(t *testing.T) {
	kernel := bootKernel(t)
	b, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	// payload_length = 0: nothing in the kernel or QEMU reads it, only
	// tools that extract the vmlinux.
	clear(b[0x24c:0x250])
	hidden := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(hidden, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kernel, boot, method, reason string
	}{
		{"auto", kernel, BootAuto, FormatPVH, "vmlinux"},
		{"image", kernel, BootImage, FormatBzImage, "image boot asked for"},
		{"fallback", hidden, BootAuto, FormatBzImage, "no PVH entry point: payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm, bt := bootHello(t, Config{Kernel: tc.kernel, Boot: tc.boot})
			bi := vm.Boot()
			t.Logf("%s boot (%s): start→hello %v", bi.Method, bi.Reason, bt.hello.Round(time.Millisecond))
			if bi.Method != tc.method || !strings.Contains(bi.Reason, tc.reason) || bi.Image != tc.kernel {
				t.Errorf("Boot() = %+v; want method %s, reason with %q", bi, tc.method, tc.reason)
			}
			if tc.method == FormatPVH && bi.Kernel == tc.kernel {
				t.Errorf("PVH boot of %s booted the bzImage itself", bi.Kernel)
			}
		})
	}
}
