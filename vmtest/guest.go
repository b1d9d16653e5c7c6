package vmtest

import (
	"context"
	"time"

	"github.com/scxvm/scxvm/initramfs"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/protocol"
)

// guest is what Run and Shell prepare the same way before QEMU starts:
// the cache, the kernel (read as a kernel), the agent and the image.
type guest struct {
	cacheDir string
	kernel   *kernel.Kernel
	info     *kernel.Info
	agent    string
	image    *initramfs.Image // held in the cache until Close
}

// Close releases the image.
func (g *guest) Close() error {
	if g.image == nil {
		return nil
	}
	return g.image.Close()
}

// imageOptions are what differs between the images of Run and Shell.
type imageOptions struct {
	// debug adds a shell and core tools (Shell).
	debug bool
	// modules puts the kernel's vsock modules in the image; a
	// virtio-serial guest does not need them.
	modules bool
	// binaries are scheduler binaries for /sched.
	binaries []string
	// shares puts the kernel's 9p modules in the image (share.go).
	shares bool
	// base leaves the binaries and Config.ExtraFiles out of the image:
	// they go over the channel (warm starts).
	base bool
}

// prepareKernel finds cfg's kernel in the cache (fetching a known one
// that is missing; start dates its progress events) and reads it as a
// kernel: a file that is none is an error wrapping ErrBadKernel.
func prepareKernel(ctx context.Context, cfg *Config, start time.Time) (*guest, error) {
	g := &guest{cacheDir: cfg.CacheDir}
	if g.cacheDir == "" {
		g.cacheDir = kernel.DefaultCacheDir()
	}
	k, err := lookupKernel(ctx, cfg, g.cacheDir, start)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &InfraError{Op: "find kernel", Err: err}
	}
	info, err := kernel.InspectCached(g.cacheDir, k.Image)
	if err != nil {
		return nil, &InfraError{Op: "inspect kernel", Err: err}
	}
	g.kernel, g.info = k, info
	return g, nil
}

// release is the kernel's release as the cache or the image says.
func (g *guest) release() string {
	if g.kernel.Release != "" {
		return g.kernel.Release
	}
	return g.info.Release
}

// buildImage finds the agent and builds (or reuses) the image, held until
// Close.
func (g *guest) buildImage(ctx context.Context, cfg *Config, opt imageOptions) error {
	agent, err := resolveAgent(cfg.Agent)
	if err != nil {
		return err
	}
	g.agent = agent
	icfg := initramfs.Config{Agent: agent, Debug: opt.debug, CacheDir: g.cacheDir, CacheMax: cfg.CacheMax}
	if !opt.base {
		icfg.Binaries = opt.binaries
	}
	icfg.Modules = selectModules(g.kernel.Modules, opt.modules, opt.shares)
	if g.kernel.Config != "" && g.release() != "" {
		icfg.KernelConfig, icfg.KernelRelease = g.kernel.Config, g.release()
	}
	if !opt.base {
		icfg.Files = extraFiles(cfg)
	}
	im, err := initramfs.Open(ctx, icfg)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &InfraError{Op: "build initramfs", Err: err}
	}
	g.image = im
	cfg.logf("initramfs %s", im.Path)
	return nil
}

// extraFiles returns Config.ExtraFiles for package initramfs.
func extraFiles(cfg *Config) []initramfs.File {
	var fs []initramfs.File
	for guestPath, hostPath := range cfg.ExtraFiles {
		fs = append(fs, initramfs.File{Src: hostPath, Dst: guestPath})
	}
	return fs
}

// vmConfig returns the VM settings both share; the caller adds its own.
func (g *guest) vmConfig(cfg *Config, transport string) vmConfig {
	return vmConfig{
		QEMU:       cfg.QEMU,
		Kernel:     g.kernel.Image,
		Initramfs:  g.image.Path,
		KernelArgs: cfg.KernelArgs,
		Topology:   cfg.Topology.WithDefaults(),
		MemoryMB:   cfg.memoryMB(),
		Accel:      cfg.Accel,
		Transport:  transport,
		Boot:       cfg.Boot,
		CacheDir:   g.cacheDir,
		CacheMax:   cfg.CacheMax,
		Shares:     cfg.resolvedShares(),
		Logf:       cfg.Logf,
	}
}

// needsModules reports whether a guest on transport needs the kernel's
// vsock modules in its image.
func needsModules(transport string) bool { return transport != protocol.TransportVirtioSerial }
