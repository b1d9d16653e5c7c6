package kernel

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// ErrNotSupported is wrapped by every error that says a kernel cannot run
// sched_ext schedulers: errors.Is(err, ErrNotSupported).
var ErrNotSupported = errors.New("sched_ext not supported")

// Config sources reported in Info.ConfigSource.
const (
	SourceIKConfig = "ikconfig" // CONFIG_IKCONFIG blob inside the image
	SourceFile     = "file:"    // prefix of "file:<path>", a config file next to the image
	SourceBTF      = "btf"      // no config found: sched_ext deduced from the image's BTF
	SourceNone     = "none"     // neither a config nor BTF was found
)

// Option is a kernel configuration option scxvm checks, with the reason it
// matters.
type Option struct {
	Name   string // with the CONFIG_ prefix
	Reason string
	// ModuleOK means =m is good enough (the module ships with the kernel).
	ModuleOK bool
}

// Required lists the options without which a kernel cannot run sched_ext
// schedulers (REFERENCE.md section 2).
var Required = []Option{
	{Name: "CONFIG_BPF", Reason: "BPF core"},
	{Name: "CONFIG_BPF_SYSCALL", Reason: "bpf(2), needed to load any scheduler"},
	{Name: "CONFIG_BPF_JIT", Reason: "struct_ops programs must be JITed"},
	{Name: "CONFIG_DEBUG_INFO_BTF", Reason: "schedulers are built and loaded against the kernel's BTF"},
	{Name: "CONFIG_SCHED_CLASS_EXT", Reason: "the sched_ext scheduling class itself"},
}

// Recommended lists options whose absence limits what scxvm can test; they
// produce warnings, not failures.
var Recommended = []Option{
	{Name: "CONFIG_BPF_JIT_ALWAYS_ON", Reason: "no interpreter fallback"},
	{Name: "CONFIG_CGROUPS", Reason: "cgroup scenarios"},
	{Name: "CONFIG_CGROUP_SCHED", Reason: "cgroup scenarios"},
	{Name: "CONFIG_EXT_GROUP_SCHED", Reason: "cgroup-aware schedulers such as scx_flatcg"},
	{Name: "CONFIG_CPUSETS", Reason: "cpuset scenarios and isolation checks"},
	{Name: "CONFIG_SCHEDSTATS", Reason: "run_delay in worker reports"},
	{Name: "CONFIG_IKCONFIG_PROC", Reason: "schedulers reading /proc/config.gz"},
	{Name: "CONFIG_VIRTIO_CONSOLE", Reason: "virtio-serial transport"},
	{Name: "CONFIG_VSOCKETS", Reason: "vsock transport", ModuleOK: true},
	{Name: "CONFIG_VIRTIO_VSOCKETS", Reason: "vsock transport", ModuleOK: true},
}

// Info describes a kernel image.
type Info struct {
	Path    string // the image inspected
	Format  string // "bzImage" or "elf"
	Release string // uname -r, e.g. "7.3.4+deb13-amd64"
	// Compression is the bzImage payload's compression ("gzip", "zstd", ...).
	Compression string
	// Config is the kernel configuration, nil when ConfigSource is
	// SourceBTF or SourceNone.
	Config Config
	// ConfigSource says where Config (or the verdict) came from:
	// "ikconfig", "file:<path>", "btf" or "none".
	ConfigSource string
	// SchedExt reports whether the kernel can run sched_ext schedulers: every
	// Required option is set (or, without a config, BTF has sched_ext_ops).
	SchedExt bool
	// Missing lists the Required options that are not set.
	Missing []string
	// Warnings lists Recommended options that are not set, with the reason.
	Warnings []string
	// Notes records what could not be examined (an unsupported payload
	// compression, for instance).
	Notes []string
}

// UnsupportedError says why a kernel cannot run sched_ext schedulers. It
// wraps ErrNotSupported.
type UnsupportedError struct {
	Path    string
	Release string
	Missing []string
}

func (e *UnsupportedError) Error() string {
	what := e.Release
	if what == "" {
		what = e.Path
	}
	return fmt.Sprintf("kernel %s: %v: missing %s", what, ErrNotSupported, strings.Join(e.Missing, ", "))
}

// Unwrap returns ErrNotSupported.
func (e *UnsupportedError) Unwrap() error { return ErrNotSupported }

// SupportError returns nil when the kernel supports sched_ext and an
// *UnsupportedError naming what is missing otherwise.
func (i *Info) SupportError() error {
	if i.SchedExt {
		return nil
	}
	return &UnsupportedError{Path: i.Path, Release: i.Release, Missing: i.Missing}
}

// Inspect examines a kernel image: a bzImage/vmlinuz or an ELF vmlinux.
//
// The release comes from the bzImage setup header or the "Linux version"
// banner. The configuration comes, in this order, from a file next to the
// image (config-RELEASE beside vmlinuz-RELEASE as in /boot, config-RELEASE,
// config, .config, or the tree's .config for arch/x86/boot/bzImage), which
// needs no decompression; from the image itself (CONFIG_IKCONFIG); from
// /boot/config-RELEASE. Without any, sched_ext support is deduced from the
// image's BTF (struct sched_ext_ops).
//
// The file is read as a kernel first: one that is no x86-64 Linux kernel,
// or is truncated or corrupt (sizes that contradict its boot or ELF
// headers, a payload that does not decompress to the recorded size), gives
// a *BadImageError, which matches ErrBadImage. A bzImage is therefore
// always decompressed (a fraction of a second).
func Inspect(path string) (*Info, error) {
	return inspect(path, "")
}

// InspectCached is Inspect for a run that boots the kernel: when the
// cache at cacheDir holds the vmlinux ExtractPVH extracted from this
// bzImage (same SHA-256), the image decompressed whole once already, so it
// is not decompressed again; the cached vmlinux stands in for the payload
// when the embedded config or BTF is needed. Otherwise it is Inspect.
func InspectCached(cacheDir, path string) (*Info, error) {
	return inspect(path, cacheDir)
}

func inspect(path, cacheDir string) (*Info, error) {
	img, err := readImage(path)
	if errors.Is(err, ErrBadImage) {
		return nil, err // it names the file
	}
	if err != nil {
		return nil, fmt.Errorf("inspect kernel: %w", err)
	}
	if cacheDir != "" && img.format == "bzImage" {
		img.useCachedVMLinux(cacheDir)
	}
	if err := img.decompress(); err != nil && !errors.Is(err, errUnsupportedCompression) {
		return nil, &BadImageError{Path: path, Reason: "corrupt compressed kernel", Err: err}
	}
	info := &Info{Path: path, Format: img.format, Release: img.release}
	note := func() {
		if img.decompErr != nil {
			info.Notes = append(info.Notes, fmt.Sprintf("cannot decompress the image (%v): embedded config and BTF not examined", img.decompErr))
		}
		info.Compression = img.compression
	}

	cfg, source, err := findConfig(path, img)
	if errors.Is(err, errBadIKConfig) {
		return nil, &BadImageError{Path: path, Reason: "corrupt", Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("inspect kernel: %w", err)
	}
	info.Release = img.release
	note()
	if cfg != nil {
		info.Config, info.ConfigSource = cfg, source
		info.evaluate()
		return info, nil
	}
	if img.payloadBytes() == nil {
		info.ConfigSource = SourceNone
		info.Missing = []string{"kernel config (no config file next to the image, no embedded config, image not decompressible)"}
		return info, nil
	}
	has, err := btfHasSchedExt(img.payloadBytes())
	switch {
	case errors.Is(err, errNoBTF):
		info.ConfigSource = SourceNone
		info.Missing = []string{"CONFIG_DEBUG_INFO_BTF"}
		info.Notes = append(info.Notes, "no config found and the image has no BTF")
	case err != nil:
		return nil, &BadImageError{Path: path, Reason: "corrupt", Err: err}
	default:
		info.ConfigSource = SourceBTF
		info.SchedExt = has
		if !has {
			info.Missing = []string{"CONFIG_SCHED_CLASS_EXT"}
		}
		info.Notes = append(info.Notes, "no config found: verdict from BTF (struct sched_ext_ops), recommended options not checked")
	}
	return info, nil
}

// findConfig returns the kernel configuration of the image at path and its
// source, or a nil Config when there is none.
func findConfig(path string, img *image) (Config, string, error) {
	if file := configNextTo(path, img.release); file != "" {
		cfg, err := readConfigFile(file)
		return cfg, SourceFile + file, err
	}
	if img.decompress() == nil && img.payloadBytes() != nil {
		cfg, err := ikconfig(img.payloadBytes())
		if err != nil {
			return nil, "", err
		}
		if cfg != nil {
			return cfg, SourceIKConfig, nil
		}
	}
	if img.release != "" {
		if file := "/boot/config-" + img.release; isFile(file) && filepath.Dir(path) != "/boot" {
			cfg, err := readConfigFile(file)
			return cfg, SourceFile + file, err
		}
	}
	return nil, "", nil
}

func readConfigFile(file string) (Config, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return cfg, nil
}

// evaluate fills SchedExt, Missing and Warnings from Config.
func (i *Info) evaluate() {
	i.Missing, i.Warnings = nil, nil
	for _, o := range Required {
		if !i.Config.Builtin(o.Name) {
			i.Missing = append(i.Missing, o.Name)
		}
	}
	for _, o := range Recommended {
		ok := i.Config.Builtin(o.Name) || (o.ModuleOK && i.Config.Enabled(o.Name))
		if !ok {
			i.Warnings = append(i.Warnings, fmt.Sprintf("%s not set (%s)", o.Name, o.Reason))
		}
	}
	i.SchedExt = len(i.Missing) == 0
}

// configNextTo returns the config file that sits next to image path, or "".
func configNextTo(path, release string) string {
	dir, base := filepath.Split(path)
	var candidates []string
	for _, prefix := range []string{"vmlinuz-", "bzImage-", "vmlinux-"} {
		if rel, ok := strings.CutPrefix(base, prefix); ok {
			candidates = append(candidates, filepath.Join(dir, "config-"+rel))
		}
	}
	if release != "" {
		candidates = append(candidates, filepath.Join(dir, "config-"+release))
	}
	candidates = append(candidates, filepath.Join(dir, "config"), filepath.Join(dir, ".config"))
	// A kernel build tree: arch/x86/boot/bzImage next to the tree's .config.
	if clean := filepath.Clean(path); strings.HasSuffix(clean, filepath.Join("arch", "x86", "boot", "bzImage")) {
		candidates = append(candidates, filepath.Join(filepath.Dir(clean), "..", "..", "..", ".config"))
	}
	for _, c := range candidates {
		if isFile(c) {
			return filepath.Clean(c)
		}
	}
	return ""
}

// errNoBTF says an ELF vmlinux has no .BTF section.
var errNoBTF = errors.New("no .BTF section")

// btfHasSchedExt reports whether the BTF of an ELF vmlinux describes struct
// sched_ext_ops. It returns errNoBTF when the ELF has no .BTF section. The
// section is parsed as raw BTF: a vmlinux recovered from a bzImage is
// stripped of the symbol table that loading BTF from an ELF object wants.
func btfHasSchedExt(vmlinux []byte) (bool, error) {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return false, fmt.Errorf("read vmlinux ELF: %w", err)
	}
	sec := f.Section(".BTF")
	if sec == nil {
		return false, errNoBTF
	}
	raw, err := sec.Data()
	if err != nil {
		return false, fmt.Errorf("read .BTF: %w", err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return false, fmt.Errorf("load BTF: %w", err)
	}
	var s *btf.Struct
	err = spec.TypeByName("sched_ext_ops", &s)
	if errors.Is(err, btf.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up sched_ext_ops: %w", err)
	}
	return true, nil
}

// Format writes a human-readable report of info to w.
func Format(w io.Writer, info *Info) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel:    %s\n", info.Path)
	release := info.Release
	if release == "" {
		release = "(unknown)"
	}
	fmt.Fprintf(&b, "release:   %s\n", release)
	format := info.Format
	if info.Compression != "" {
		format += ", " + info.Compression + " payload"
	}
	fmt.Fprintf(&b, "format:    %s\n", format)
	fmt.Fprintf(&b, "config:    %s\n", info.ConfigSource)
	if info.SchedExt {
		fmt.Fprintf(&b, "sched_ext: supported\n")
	} else {
		fmt.Fprintf(&b, "sched_ext: NOT supported\n")
		for _, m := range info.Missing {
			fmt.Fprintf(&b, "  missing: %s\n", m)
		}
	}
	for _, warn := range info.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", warn)
	}
	for _, n := range info.Notes {
		fmt.Fprintf(&b, "  note:    %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Check inspects the kernel image at path, prints the report to w, and
// returns an error wrapping ErrNotSupported when the kernel cannot run
// sched_ext schedulers, or a *BadImageError, with no report, when the file
// is no usable kernel image. It backs `scxvm kernel check PATH`.
func Check(w io.Writer, path string) error {
	info, err := Inspect(path)
	if err != nil {
		return err
	}
	if err := Format(w, info); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return info.SupportError()
}
