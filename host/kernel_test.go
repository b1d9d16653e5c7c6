package host

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/scxvm/scxvm/internal/cacheroot"
)

// defaultTestKernel is the 6.12 kernel `make kernel-build` puts in the
// cache.
var defaultTestKernel = filepath.Join(cacheroot.Dir(), "kernels", "6.12", "bzImage")

var (
	vmlinuxOnce sync.Once
	vmlinuxPath string
	vmlinuxErr  error
)

// extractVmlinux gunzips the ELF vmlinux embedded in a gzip-compressed
// bzImage (what scripts/extract-vmlinux does), once per test process.
func extractVmlinux(tb testing.TB, bzImage string) string {
	tb.Helper()
	vmlinuxOnce.Do(func() {
		b, err := os.ReadFile(bzImage)
		if err != nil {
			vmlinuxErr = err
			return
		}
		for off := 0; ; {
			i := bytes.Index(b[off:], []byte{0x1f, 0x8b, 0x08})
			if i < 0 {
				vmlinuxErr = io.ErrUnexpectedEOF
				return
			}
			off += i
			zr, err := gzip.NewReader(bytes.NewReader(b[off:]))
			if err == nil {
				zr.Multistream(false)
				var out bytes.Buffer
				if _, err := io.Copy(&out, zr); (err == nil || out.Len() > 1<<20) && bytes.HasPrefix(out.Bytes(), []byte("\x7fELF")) {
					dir, err := os.MkdirTemp("", "scxvm-host-vmlinux-")
					if err != nil {
						vmlinuxErr = err
						return
					}
					vmlinuxPath = filepath.Join(dir, "vmlinux")
					vmlinuxErr = os.WriteFile(vmlinuxPath, out.Bytes(), 0o644)
					return
				}
			}
			off++
		}
	})
	if vmlinuxErr != nil {
		tb.Fatalf("extract vmlinux from %s: %v", bzImage, vmlinuxErr)
	}
	return vmlinuxPath
}

func TestKernelFormat(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello"), 0o644)
	self, err := os.Executable() // an ELF without a PVH note
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, want, err string
	}{
		{junk, FormatUnknown, ""},
		{self, "", "without a PVH entry note"},
		{filepath.Join(dir, "missing"), "", "no such file"},
	} {
		got, err := KernelFormat(tt.path)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("KernelFormat(%s) = %q, %v; want %q, %q", tt.path, got, err, tt.want, tt.err)
		}
	}
	if _, err := os.Stat(defaultTestKernel); err != nil {
		t.Skipf("SKIPPING the bzImage/PVH cases: %v (make kernel-build)", err)
	}
	if got, err := KernelFormat(defaultTestKernel); got != FormatBzImage || err != nil {
		t.Errorf("KernelFormat(bzImage) = %q, %v", got, err)
	}
	if got, err := KernelFormat(extractVmlinux(t, defaultTestKernel)); got != FormatPVH || err != nil {
		t.Errorf("KernelFormat(vmlinux) = %q, %v", got, err)
	}
}
