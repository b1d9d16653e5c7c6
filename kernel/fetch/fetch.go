package fetch

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
	"pault.ag/go/debian/control"

	"github.com/scxvm/scxvm/internal/debarchive"
	"github.com/scxvm/scxvm/kernel"
)

// Names of the kernels Fetch knows.
const (
	Debian   = kernel.Debian   // Debian's sched_ext kernel (trixie-backports)
	Stock612 = kernel.Stock612 // Debian 12's stock 6.12 kernel, without sched_ext
)

// Names returns the kernels Fetch knows, default first.
func Names() []string { return []string{Debian, Stock612} }

// ErrUnknownKernel is returned for a name Fetch does not know.
var ErrUnknownKernel = errors.New("unknown kernel")

// Defaults of the "debian" kernel.
const (
	DefaultSuite = "trixie-backports"
	DefaultABI   = "7.3.4+deb13-amd64"
)

// vsockModules are the modules the guest needs for the vsock transport
// (their dependencies are added).
var vsockModules = []string{"vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport", "vsock_loopback"}

// ninePModules are the modules a virtio-9p share needs (their
// dependencies, 9pnet and netfs, are added); vmtest loads them only into
// guests with shares.
var ninePModules = []string{"9pnet_virtio", "9p"}

// guestModules are every module Fetch takes, in load order of the roots.
func guestModules() []string { return append(slices.Clone(vsockModules), ninePModules...) }

// hasModules reports whether dir/modules holds every module Fetch takes:
// a cache entry of an scxvm that took fewer is fetched again.
func hasModules(dir string) bool {
	for _, m := range guestModules() {
		if !isFile(filepath.Join(dir, "modules", modName(m)+".ko")) {
			return false
		}
	}
	return true
}

// Options configure Fetch. The zero value fetches into
// kernel.DefaultCacheDir from the mirrors of the environment or the
// system's apt sources.
type Options struct {
	// CacheDir is the cache root; "" means kernel.DefaultCacheDir().
	CacheDir string
	// Mirror is the Debian archive's URI; "" means $SCXVM_DEBIAN_MIRROR,
	// else the system's apt sources.
	Mirror string
	// SecurityMirror is Debian's security archive (stock-6.12 only); ""
	// means $SCXVM_DEBIAN_SECURITY_MIRROR, else the system's apt sources,
	// else Mirror with its final /debian replaced by /debian-security.
	SecurityMirror string
	// Refresh looks for the archive's newest version even when the kernel
	// is cached.
	Refresh bool
	// AptEtc is where the apt sources are read from; "" means "/etc".
	AptEtc string
	// Client reads the archive; nil means one with the default keyring
	// and its index cache under CacheDir/debian.
	Client *debarchive.Client
	// Log receives one line per step; nil discards them.
	Log io.Writer
	// Progress, when set, is called once per download with the total size
	// and a description; the bytes are written to what it returns, which
	// is closed at the end.
	Progress func(total int64, what string) io.WriteCloser
	// Now is the clock for the origin file; nil means time.Now.
	Now func() time.Time
}

// Result says where a fetched kernel is.
type Result struct {
	Name    string // "debian" or "stock-6.12"
	Dir     string // the resolved cache directory
	Release string // uname -r
	Package string // the image package and its version
	Cached  bool   // it was in the cache already: nothing was downloaded
}

// Fetch puts the kernel name ("" means Debian) into the cache, unless it is
// there already (and opt.Refresh is false), and returns where it is.
func Fetch(ctx context.Context, name string, opt Options) (*Result, error) {
	if name == "" {
		name = Debian
	}
	if !slices.Contains(Names(), name) {
		hint := ""
		if name == kernel.Build612 {
			hint = " (6.12 is built from source: make kernel-build)"
		}
		return nil, fmt.Errorf("%w %q%s; known kernels: %s", ErrUnknownKernel, name, hint, strings.Join(Names(), ", "))
	}
	f := &fetcher{opt: opt, name: name}
	if f.opt.CacheDir == "" {
		f.opt.CacheDir = kernel.DefaultCacheDir()
	}
	f.kernels = filepath.Join(f.opt.CacheDir, "kernels")
	if !opt.Refresh {
		if r, ok := f.cached(); ok {
			return r, nil
		}
	}
	if err := f.setup(); err != nil {
		return nil, err
	}
	var p *plan
	var err error
	switch name {
	case Debian:
		p, err = f.planDebian(ctx)
	case Stock612:
		p, err = f.planStock(ctx)
	}
	if err != nil {
		return nil, err
	}
	return f.run(ctx, p)
}

// fetcher is one Fetch call.
type fetcher struct {
	opt     Options
	name    string
	kernels string
	client  *debarchive.Client
}

// cached returns the cache entry of the kernel when it is complete (and,
// for Debian, of the ABI asked for).
func (f *fetcher) cached() (*Result, bool) {
	dir, err := filepath.EvalSymlinks(filepath.Join(f.kernels, f.name))
	if err != nil || !isFile(filepath.Join(dir, ".complete")) {
		return nil, false
	}
	rel := readLine(filepath.Join(dir, "release"))
	if f.name == Debian && (rel != envOr("SCXVM_DEBIAN_ABI", DefaultABI) || !hasModules(dir)) {
		return nil, false
	}
	return &Result{Name: f.name, Dir: dir, Release: rel, Package: readLine(filepath.Join(dir, "package")), Cached: true}, true
}

func (f *fetcher) setup() error {
	f.client = f.opt.Client
	if f.client == nil {
		f.client = &debarchive.Client{CacheDir: filepath.Join(f.opt.CacheDir, "debian")}
	}
	return os.MkdirAll(f.kernels, 0o755)
}

func (f *fetcher) logf(format string, args ...any) {
	if f.opt.Log != nil {
		fmt.Fprintf(f.opt.Log, format+"\n", args...)
	}
}

// mirrors returns the archive and security mirrors to use.
func (f *fetcher) mirrors(security bool) (archive, sec string, err error) {
	archive = firstNonEmpty(f.opt.Mirror, os.Getenv("SCXVM_DEBIAN_MIRROR"))
	sec = firstNonEmpty(f.opt.SecurityMirror, os.Getenv("SCXVM_DEBIAN_SECURITY_MIRROR"))
	if archive == "" || (security && sec == "") {
		etc := firstNonEmpty(f.opt.AptEtc, "/etc")
		m, err := debarchive.FindMirrors(etc)
		if err != nil && archive == "" {
			return "", "", fmt.Errorf("%w: set one with --mirror URL or SCXVM_DEBIAN_MIRROR=URL (a Debian archive, e.g. the one in your distribution's documentation): %v", debarchive.ErrNoMirror, err)
		}
		archive = firstNonEmpty(archive, m.Archive)
		sec = firstNonEmpty(sec, m.Security)
	}
	archive = strings.TrimRight(archive, "/")
	if security && sec == "" {
		if base, ok := strings.CutSuffix(archive, "/debian"); ok {
			sec = base + "/debian-security"
		} else {
			return "", "", fmt.Errorf("%w: no security archive for %s: set --security-mirror URL or SCXVM_DEBIAN_SECURITY_MIRROR=URL", debarchive.ErrNoMirror, archive)
		}
	}
	return archive, strings.TrimRight(sec, "/"), nil
}

// deb is one package to download, and what to take from it.
type deb struct {
	rel     *debarchive.Release
	pkg     *control.BinaryIndex
	image   bool // take vmlinuz and config of the release
	modules bool // take the guest modules (vsock, 9p)
}

// modules reports whether the plan takes modules.
func (p *plan) modules() bool {
	for _, d := range p.debs {
		if d.modules {
			return true
		}
	}
	return false
}

// plan is what to fetch for one kernel.
type plan struct {
	key     string // directory name under kernels/
	release string // uname -r
	image   *control.BinaryIndex
	debs    []deb
}

// run carries a plan out: download, verify and unpack into a temporary
// directory, then publish it and point the kernel's name at it.
func (f *fetcher) run(ctx context.Context, p *plan) (*Result, error) {
	final := filepath.Join(f.kernels, p.key)
	res := &Result{Name: f.name, Dir: final, Release: p.release, Package: p.image.Package + " " + p.image.Version.String()}
	complete := func() bool {
		return isFile(filepath.Join(final, ".complete")) && (!p.modules() || hasModules(final))
	}
	if complete() {
		res.Cached = true
		return res, f.link(p.key)
	}
	unlock, err := lockFile(ctx, filepath.Join(f.kernels, ".fetch-"+f.name+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if complete() { // another fetch finished it
		res.Cached = true
		return res, f.link(p.key)
	}
	// Leftovers of an interrupted fetch of this kernel (we hold its lock).
	if old, _ := filepath.Glob(filepath.Join(f.kernels, ".tmp-"+f.name+"-*")); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	tmp, err := os.MkdirTemp(f.kernels, ".tmp-"+f.name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op once published
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}

	var total int64
	var names []string
	for _, d := range p.debs {
		total += int64(d.pkg.Size)
		names = append(names, d.pkg.Package)
	}
	f.logf("fetching %s %s (%s, %.0f MB)", p.image.Package, p.image.Version, strings.Join(names, ", "), float64(total)/1e6)
	var progress io.Writer
	if f.opt.Progress != nil {
		bar := f.opt.Progress(total, "kernel "+f.name)
		defer bar.Close()
		progress = &lockedWriter{w: bar}
	}
	img := &imageFiles{release: p.release, dir: tmp}
	g, gctx := errgroup.WithContext(ctx)
	for _, d := range p.debs {
		var mods *moduleCollector
		if d.modules {
			mods = newModuleCollector(p.release, guestModules(), filepath.Join(tmp, "modules"))
		}
		g.Go(func() error {
			err := f.client.Deb(gctx, d.rel, d.pkg, tmp, progress, func(h *tar.Header, r io.Reader) (bool, error) {
				doneImg := true
				if d.image {
					var err error
					if doneImg, err = img.visit(h, r); err != nil {
						return false, err
					}
				}
				if mods != nil {
					done, err := mods.visit(h, r)
					return done && doneImg, err
				}
				return doneImg, nil
			})
			if err != nil {
				return err
			}
			if mods != nil {
				if err := mods.finish(); err != nil {
					return fmt.Errorf("%s: %w", d.pkg.Package, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := img.check(p.image.Package); err != nil {
		return nil, err
	}
	if err := f.writeMeta(tmp, p); err != nil {
		return nil, err
	}
	if err := publish(tmp, final); err != nil {
		return nil, err
	}
	if err := f.link(p.key); err != nil {
		return nil, err
	}
	f.logf("kernel %s in %s", p.release, final)
	return res, nil
}

// writeMeta writes release, package, origin and, last, .complete.
func (f *fetcher) writeMeta(dir string, p *plan) error {
	now := time.Now
	if f.opt.Now != nil {
		now = f.opt.Now
	}
	var o strings.Builder
	fmt.Fprintf(&o, "fetch %s\n", f.name)
	rel := p.debs[0].rel
	fmt.Fprintf(&o, "mirror %s\nsuite %s\nsigner %s\n", rel.Mirror, rel.Suite, rel.Signer)
	for _, d := range p.debs {
		if d.rel != rel {
			fmt.Fprintf(&o, "mirror %s\nsuite %s\n", d.rel.Mirror, d.rel.Suite)
		}
		fmt.Fprintf(&o, "deb %s %s %s sha256:%s\n", d.pkg.Package, d.pkg.Version, d.pkg.Filename, d.pkg.SHA256)
	}
	fmt.Fprintf(&o, "time %s\n", now().UTC().Format(time.RFC3339))
	files := []struct{ name, content string }{
		{"release", p.release + "\n"},
		{"package", p.image.Package + " " + p.image.Version.String() + "\n"},
		{"origin", o.String()},
		{".complete", ""},
	}
	for _, fl := range files {
		if err := os.WriteFile(filepath.Join(dir, fl.name), []byte(fl.content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// publish moves the finished directory tmp to final, replacing an
// incomplete one.
func publish(tmp, final string) error {
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}

// link points kernels/<name> at kernels/<key>, atomically.
func (f *fetcher) link(key string) error {
	link := filepath.Join(f.kernels, f.name)
	if cur, err := os.Readlink(link); err == nil && cur == key {
		return nil
	}
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(key, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// lockFile takes an exclusive lock on path, waiting for another fetch of
// the same kernel to finish.
func lockFile(ctx context.Context, path string) (func(), error) {
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(fd.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { fd.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			fd.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			fd.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lockedWriter serialises writes of concurrent downloads to one progress
// bar.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// safeName maps a package version to a directory-name friendly string
// (the rule of kernel/lib.sh's safe_name).
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".+_-", r):
			return r
		}
		return '_'
	}, s)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func readLine(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
