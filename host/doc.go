// Package host starts and supervises the QEMU guests scxvm tests run in.
//
// Start boots a kernel and initramfs with direct kernel boot, the CPU and
// NUMA topology asked for, a captured serial console and one transport to
// the guest agent, and kills QEMU when the context ends or the hard
// timeout passes:
//
//	vm, err := host.Start(ctx, host.Config{
//		Kernel:    "bzImage",
//		Initramfs: "initramfs.cpio",
//		Topology:  spec.Topology{NUMANodes: 2, LLCs: 2, CoresPerLLC: 2},
//		Timeout:   2 * time.Minute,
//	})
//	if err != nil { ... }
//	defer vm.Close()
//	stream, err := vm.Accept(ctx) // the agent's byte stream
//	...
//	err = vm.Wait()               // nil, *ExitError, ErrTimeout, ctx error
//	for _, ev := range vm.Incidents() { fmt.Println(ev.Excerpt()) }
//
// Boot: with Config.Boot "auto" (the default) a bzImage whose vmlinux has
// a PVH entry note (CONFIG_PVH) is not booted itself: its ELF vmlinux,
// extracted once into the cache's vmlinux/ area (package kernel's
// ExtractPVH, keyed by the image's SHA-256), goes to QEMU's -kernel and
// QEMU enters it at its PVH entry point, which skips the guest's own
// decompression (about a second under TCG). Without the note the bzImage
// is booted; VM.Boot says which and why. "image" forces the bzImage,
// "pvh" fails rather than fall back. The vmlinux is held in the cache
// (a shared lock that prunes respect) until Close.
//
// Accelerator: "auto" tries KVM for real (a paused QEMU with -accel kvm
// -cpu host, cached per process) and falls back to TCG (-accel
// tcg,thread=single -cpu max; see
// Config.TCGThread) with the reason in VM.AccelReason.
//
// Transport: "auto" uses vsock (vhost-vsock with a guest CID reserved on
// a pre-opened /dev/vhost-vsock, host listening on port 1024, or any free
// port passed as scxvm.vsock_port=N) when /dev/vhost-vsock opens, else
// virtio-serial (port "org.scxvm.0" on a socketpair QEMU inherits). The
// guest learns which from scxvm.transport=vsock on its command line. A
// vsock VM restored from a saved state (Config.State) gets a fresh CID
// too, and no listener: its agent is parked and listens on
// protocol.VsockAgentPort, and VM.Accept dials it.
//
// Topology: NUMA nodes map to sockets (one -numa node each, memory split
// evenly), LLCs to dies (QEMU reports L3 per die in CPUID leaf 4), then
// cores and threads. Under TCG the CPU vendor is set to GenuineIntel so
// that Linux reads the LLC from leaf 4. The machine is q35 (or pc);
// microvm is not offered (no dies or NUMA in QEMU 7.2, and TCG guests can
// hang calibrating its TSC).
//
// Lifecycle: QEMU runs in its own process group with PR_SET_PDEATHSIG,
// and Kill, a cancelled context and the timeout all SIGKILL the group.
// The console (a socketpair QEMU inherits) is drained continuously into
// the log file, a ring buffer (ConsoleTail) and the failure detectors of
// package console (Events, Incidents). Nothing is created on disk except
// the console log, which is kept for the user, and the extracted vmlinux
// in the cache.
//
// Args and KernelCmdline are pure functions of a Config and a Plan, so
// the QEMU command line can be inspected and tested without QEMU.
//
// The package reads environment variables only through the defaults of
// Config.CacheDir (SCXVM_CACHE_DIR, XDG_CACHE_HOME, HOME: see package
// kernel) and Config.CacheMax (SCXVM_CACHE_MAX); its tests read
// SCXVM_TEST_KERNEL (kernel for the boot tests, default the cache's 6.12
// kernel or a prebuilt one in $SCXVM_KERNEL_SEED: internal/testkernel)
// and CI (missing prerequisites fail instead of skipping).
package host
