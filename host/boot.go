package host

import (
	"errors"
	"fmt"
	"io"

	"github.com/scxvm/scxvm/kernel"
)

// Boot methods accepted by Config.Boot.
const (
	// BootAuto boots an ELF vmlinux through its PVH entry point when the
	// kernel has one (extracted from a bzImage into the cache), else the
	// image as given.
	BootAuto = "auto"
	// BootPVH insists on PVH: Start fails when the kernel has no PVH entry.
	BootPVH = "pvh"
	// BootImage boots Config.Kernel as given: a bzImage through the x86
	// boot protocol (its own decompressor runs in the guest).
	BootImage = "image"
)

// BootInfo says how a VM's kernel was booted.
type BootInfo struct {
	// Method is FormatPVH (QEMU loaded an ELF vmlinux and entered it at
	// its PVH entry point) or FormatBzImage (the compressed image
	// decompressed itself in the guest); FormatUnknown for a file QEMU was
	// left to make sense of.
	Method string `json:"method"`
	// Kernel is the file given to QEMU's -kernel: Config.Kernel, or the
	// vmlinux extracted from it.
	Kernel string `json:"kernel"`
	// Image is Config.Kernel.
	Image string `json:"image"`
	// Reason says why this method: where the vmlinux came from, or why
	// the image was booted instead.
	Reason string `json:"reason,omitempty"`
}

// resolveBoot chooses the file QEMU boots for cfg (defaults applied). The
// closer releases an extracted vmlinux once QEMU has exited.
func resolveBoot(cfg Config) (BootInfo, io.Closer, error) {
	format, err := KernelFormat(cfg.Kernel)
	if err != nil {
		return BootInfo{}, nil, err
	}
	bi := BootInfo{Method: format, Kernel: cfg.Kernel, Image: cfg.Kernel}
	switch {
	case format == FormatPVH:
		bi.Reason = "ELF vmlinux with a PVH entry note"
		return bi, nil, nil
	case format != FormatBzImage:
		if cfg.Boot == BootPVH {
			return bi, nil, fmt.Errorf("pvh boot of %s: neither a bzImage nor an ELF vmlinux", cfg.Kernel)
		}
		bi.Reason = "unknown format, left to QEMU"
		return bi, nil, nil
	case cfg.Boot == BootImage:
		bi.Reason = "image boot asked for"
		return bi, nil, nil
	}
	p, err := kernel.ExtractPVH(cfg.cacheDir(), cfg.Kernel, cfg.CacheMax)
	if err != nil {
		if cfg.Boot == BootPVH {
			return bi, nil, fmt.Errorf("pvh boot: %w", err)
		}
		bi.Reason = err.Error()
		if !errors.Is(err, kernel.ErrNoPVH) {
			bi.Reason = "no PVH boot, the cache failed: " + bi.Reason
		}
		return bi, nil, nil
	}
	bi.Method, bi.Kernel = FormatPVH, p.Path
	bi.Reason = "vmlinux cached from the bzImage"
	if p.Extracted {
		bi.Reason = "vmlinux extracted from the bzImage"
		if n := len(p.Pruned); n > 0 {
			bi.Reason += fmt.Sprintf(" (cache bound: %d least recently used files removed)", n)
		}
	}
	return bi, p, nil
}

// cacheDir returns Config.CacheDir or the default cache root.
func (c Config) cacheDir() string {
	if c.CacheDir != "" {
		return c.CacheDir
	}
	return kernel.DefaultCacheDir()
}
