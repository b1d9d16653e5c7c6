package fetch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/scxvm/scxvm/internal/debarchive"
	dt "github.com/scxvm/scxvm/internal/debarchive/debarchivetest"
	"github.com/scxvm/scxvm/kernel"
)

const testABI = "7.3.4+deb13-amd64"

// module builds a minimal ELF relocatable object whose .modinfo says
// depends=deps, like a kernel module.
func module(deps string) []byte {
	modinfo := []byte("license=GPL\x00depends=" + deps + "\x00name=x\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	le := binary.LittleEndian
	var b bytes.Buffer
	shoff := 64 + len(modinfo) + len(shstr)
	shoff = (shoff + 7) &^ 7
	hdr := make([]byte, 64)
	copy(hdr, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le.PutUint16(hdr[16:], 1)  // ET_REL
	le.PutUint16(hdr[18:], 62) // x86-64
	le.PutUint32(hdr[20:], 1)
	le.PutUint64(hdr[40:], uint64(shoff))
	le.PutUint16(hdr[52:], 64)
	le.PutUint16(hdr[58:], 64)
	le.PutUint16(hdr[60:], 3)
	le.PutUint16(hdr[62:], 2)
	b.Write(hdr)
	b.Write(modinfo)
	b.Write(shstr)
	b.Write(make([]byte, shoff-b.Len()))
	sh := func(name, typ uint32, off, size int) {
		s := make([]byte, 64)
		le.PutUint32(s[0:], name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
		b.Write(s)
	}
	sh(0, 0, 0, 0)
	sh(1, 1, 64, len(modinfo))
	sh(10, 3, 64+len(modinfo), len(shstr))
	return b.Bytes()
}

// xzData compresses b as xz (a compressed .ko).
func xzData(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := xzWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// debianArchive is a fake trixie-backports with the packages of the
// "debian" kernel. The modules have a dependency chain in which a
// dependency comes before its user in the package (aaa_dep, taken from
// memory) and one after it (zzz_dep).
func debianArchive(t *testing.T, byHash bool) (*dt.Archive, map[string][]byte) {
	t.Helper()
	a := dt.New(t)
	a.ByHash = byHash
	mods := map[string][]byte{
		"vsock":                             module(""),
		"vmw_vsock_virtio_transport_common": module("vsock,aaa-dep"),
		"vmw_vsock_virtio_transport":        module("vsock,vmw_vsock_virtio_transport_common,zzz_dep"),
		"vsock_loopback":                    module("vmw_vsock_virtio_transport_common,vsock"),
		"aaa_dep":                           module(""),
		"zzz_dep":                           module(""),
		"unrelated":                         module(""),
		"netfs":                             module(""),
		"9pnet":                             module(""),
		"9pnet_virtio":                      module("9pnet"),
		"9p":                                module("9pnet,netfs"),
	}
	dir := "usr/lib/modules/" + testABI + "/kernel/"
	var files []dt.File
	for name, ko := range mods {
		sub := "net/vmw_vsock/"
		switch name {
		case "aaa_dep":
			sub = "aaa/"
		case "zzz_dep":
			sub = "zzz/"
		case "netfs", "9p":
			sub = "fs/"
		case "9pnet", "9pnet_virtio":
			sub = "net/9p/"
		}
		file := strings.ReplaceAll(name, "_", "-")
		if name == "vsock" || strings.HasPrefix(name, "vmw") {
			file = name
		}
		files = append(files, dt.File{Name: dir + sub + file + ".ko.xz", Data: xzData(t, ko)})
	}
	a.AddSuite("trixie-backports", "trixie", ".xz",
		dt.Package{Name: "linux-image-" + testABI, Version: "7.3.4-1~bpo13+1", Depends: "linux-binary-" + testABI},
		dt.Package{Name: "linux-binary-" + testABI, Version: "7.3.4-1~bpo13+1", Files: []dt.File{
			{Name: "usr/lib/modules/" + testABI + "/vmlinuz", Data: []byte("the 7.3 image")},
			{Name: "usr/share/doc/x/copyright", Data: []byte("doc")},
		}},
		dt.Package{Name: "linux-binary-" + testABI, Version: "7.3.3-1~bpo13+1", Files: []dt.File{
			{Name: "usr/lib/modules/" + testABI + "/vmlinuz", Data: []byte("an older image")},
		}},
		dt.Package{Name: "linux-base-" + testABI, Version: "7.3.4-1~bpo13+1", Compression: "gz", Files: []dt.File{
			{Name: "usr/lib/modules/" + testABI + "/config", Data: []byte("CONFIG_SCHED_CLASS_EXT=y\n")},
		}},
		dt.Package{Name: "linux-modules-" + testABI, Version: "7.3.4-1~bpo13+1", Files: files},
	)
	return a, mods
}

func testOptions(t *testing.T, mirror string, a *dt.Archive) Options {
	t.Setenv("SCXVM_DEBIAN_MIRROR", "")
	t.Setenv("SCXVM_DEBIAN_SECURITY_MIRROR", "")
	t.Setenv("SCXVM_DEBIAN_ABI", "")
	t.Setenv("SCXVM_DEBIAN_SUITE", "")
	cache := t.TempDir()
	return Options{
		CacheDir: cache,
		Mirror:   mirror,
		AptEtc:   t.TempDir(), // no apt sources
		Client:   &debarchive.Client{Keyring: a.Keyring, CacheDir: filepath.Join(cache, "debian")},
	}
}

func TestFetchDebian(t *testing.T) {
	for _, byHash := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "by-hash"}[byHash], func(t *testing.T) {
			a, mods := debianArchive(t, byHash)
			mirror := a.Start()
			opt := testOptions(t, mirror, a)
			var log bytes.Buffer
			opt.Log = &log
			res, err := Fetch(context.Background(), "", opt)
			if err != nil {
				t.Fatalf("Fetch: %v\nlog:\n%s", err, log.String())
			}
			if res.Cached || res.Name != Debian || filepath.Base(res.Dir) != "debian-7.3.4-1_bpo13+1" {
				t.Errorf("Fetch = %+v", res)
			}
			k, err := kernel.Lookup(opt.CacheDir, kernel.Debian)
			if err != nil {
				t.Fatal(err)
			}
			for file, want := range map[string]string{
				"vmlinuz": "the 7.3 image",
				"config":  "CONFIG_SCHED_CLASS_EXT=y\n",
				"release": testABI + "\n",
				"package": "linux-binary-" + testABI + " 7.3.4-1~bpo13+1\n",
			} {
				if got, _ := os.ReadFile(filepath.Join(k.Dir, file)); string(got) != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
			var order []string
			for _, m := range k.Modules {
				name := strings.TrimSuffix(filepath.Base(m), ".ko")
				order = append(order, name)
				if got, _ := os.ReadFile(m); !bytes.Equal(got, mods[name]) {
					t.Errorf("module %s is not the decompressed original", name)
				}
			}
			want := []string{"vsock", "aaa_dep", "vmw_vsock_virtio_transport_common", "zzz_dep", "vmw_vsock_virtio_transport", "vsock_loopback", "9pnet", "9pnet_virtio", "netfs", "9p"}
			if !slices.Equal(order, want) {
				t.Errorf("module order %q, want %q", order, want)
			}
			origin, _ := os.ReadFile(filepath.Join(k.Dir, "origin"))
			for _, w := range []string{"fetch debian\n", "mirror " + mirror + "\n", "suite trixie-backports\n", "deb linux-modules-" + testABI + " 7.3.4-1~bpo13+1 "} {
				if !strings.Contains(string(origin), w) {
					t.Errorf("origin lacks %q:\n%s", w, origin)
				}
			}
			leftovers(t, opt.CacheDir)

			// Cached: no network needed.
			a.Close()
			res, err = Fetch(context.Background(), Debian, opt)
			if err != nil || !res.Cached || res.Dir != k.Dir {
				t.Errorf("cached Fetch = %+v, %v; want the same entry, no download", res, err)
			}
		})
	}
}

// leftovers fails when a fetch left temporary files in the cache.
func leftovers(t *testing.T, cache string) {
	t.Helper()
	filepath.Walk(cache, func(p string, fi os.FileInfo, err error) error {
		if err == nil && (strings.Contains(fi.Name(), ".tmp") || strings.HasPrefix(fi.Name(), ".deb-")) {
			t.Errorf("leftover %s", p)
		}
		return nil
	})
}

func TestFetchStock(t *testing.T) {
	a := dt.New(t)
	img := func(ver, content string) dt.Package {
		return dt.Package{Name: "linux-image-6.12.9+deb12-amd64", Version: ver, Files: []dt.File{
			{Name: "boot/config-6.12.9+deb12-amd64", Data: []byte("# CONFIG_SCHED_CLASS_EXT is not set\n")},
			{Name: "boot/vmlinuz-6.12.9+deb12-amd64", Data: []byte(content)},
			{Name: "lib/modules/6.12.9+deb12-amd64/kernel/x.ko", Data: []byte("not needed")},
		}}
	}
	meta := func(ver string) dt.Package {
		return dt.Package{Name: stockMeta, Version: ver, Depends: "linux-image-6.12.9+deb12-amd64 (= " + ver + ")"}
	}
	a.AddSuite("bookworm", "bookworm", ".gz", meta("6.12.9-1~deb12u1"), img("6.12.9-1~deb12u1", "old"))
	a.AddSuite("bookworm-updates", "bookworm", "")
	mirror := a.Start()
	// The security archive is a sibling of /debian, as on Debian's mirrors.
	secPkgs := []dt.Package{meta("6.12.9-1~deb12u2"), img("6.12.9-1~deb12u2", "new")}
	sec := dt.New(t)
	sec.Key, sec.Keyring = a.Key, a.Keyring
	sec.AddSuite("bookworm-security", "bookworm", ".xz", secPkgs...)
	for _, p := range []string{"dists/bookworm-security/InRelease", "dists/bookworm-security/main/binary-amd64/Packages.xz", dt.DebPath(secPkgs[0]), dt.DebPath(secPkgs[1])} {
		a.Set("../debian-security/"+p, sec.Get(p))
	}
	a.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/debian-security/"); ok {
			w.Write(sec.Get(rest))
			return true
		}
		return false
	})
	opt := testOptions(t, mirror, a)
	res, err := Fetch(context.Background(), Stock612, opt)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kernel.Lookup(opt.CacheDir, kernel.Stock612)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(k.Image); string(got) != "new" || k.Release != "6.12.9+deb12-amd64" || filepath.Base(res.Dir) != "stock-6.12.9-1_deb12u2" {
		t.Errorf("stock kernel %+v: image %q, want the security update", k, got)
	}
	if len(k.Modules) != 0 {
		t.Errorf("stock kernel has modules %q", k.Modules)
	}
	leftovers(t, opt.CacheDir)
}

// TestFetchRefused: a bad signature, a bad checksum, an expired InRelease
// and an unreachable mirror each fail naming the file or URL, and leave
// nothing in the cache.
func TestFetchRefused(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(a *dt.Archive) string // returns the mirror
		wantErr error
		wantMsg []string
	}{
		{
			name: "signed by an unknown key",
			setup: func(a *dt.Archive) string {
				rel := a.Get("dists/trixie-backports/InRelease")
				other := dt.NewKey(t, "somebody else")
				text := rel[bytes.Index(rel, []byte("Origin:")):bytes.Index(rel, []byte("-----BEGIN PGP SIGNATURE"))]
				a.Set("dists/trixie-backports/InRelease", dt.Sign(t, other, bytes.TrimSuffix(text, []byte("\n"))))
				return a.Start()
			},
			wantErr: debarchive.ErrBadSignature,
			wantMsg: []string{"refusing", "/dists/trixie-backports/InRelease"},
		},
		{
			name: "tampered InRelease",
			setup: func(a *dt.Archive) string {
				rel := a.Get("dists/trixie-backports/InRelease")
				a.Set("dists/trixie-backports/InRelease", bytes.Replace(rel, []byte("Codename: trixie"), []byte("Codename: trixiE"), 1))
				return a.Start()
			},
			wantErr: debarchive.ErrBadSignature,
			wantMsg: []string{"refusing", "InRelease"},
		},
		{
			name: "tampered .deb",
			setup: func(a *dt.Archive) string {
				p := "pool/main/l/linux-modules-" + testABI + "/linux-modules-" + testABI + "_7.3.4-1~bpo13+1_amd64.deb"
				d := bytes.Clone(a.Get(p))
				d[len(d)-1] ^= 1
				a.Set(p, d)
				return a.Start()
			},
			wantErr: debarchive.ErrChecksum,
			wantMsg: []string{"refusing", "linux-modules-" + testABI + "_7.3.4-1~bpo13+1_amd64.deb", "SHA256"},
		},
		{
			name: "tampered index",
			setup: func(a *dt.Archive) string {
				p := "dists/trixie-backports/main/binary-amd64/Packages.xz"
				d := bytes.Clone(a.Get(p))
				d[len(d)/2] ^= 1
				a.Set(p, d)
				return a.Start()
			},
			wantErr: debarchive.ErrChecksum,
			wantMsg: []string{"refusing", "Packages.xz"},
		},
		{
			name: "expired InRelease",
			setup: func(a *dt.Archive) string {
				a.ValidUntil = time.Now().Add(-time.Hour)
				a.AddSuite("trixie-backports", "trixie", ".xz")
				return a.Start()
			},
			wantErr: debarchive.ErrExpired,
			wantMsg: []string{"refusing", "InRelease", "valid until"},
		},
		{
			name: "unreachable mirror",
			setup: func(a *dt.Archive) string {
				m := a.Start()
				a.Close()
				return m
			},
			wantMsg: []string{"download InRelease", "/debian/dists/trixie-backports/InRelease"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := debianArchive(t, false)
			mirror := tt.setup(a)
			opt := testOptions(t, mirror, a)
			_, err := Fetch(context.Background(), Debian, opt)
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Fetch = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				var fe *debarchive.FetchError
				if !errors.As(err, &fe) {
					t.Errorf("Fetch = %v (%T), want a *FetchError", err, err)
				}
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if _, err := kernel.Lookup(opt.CacheDir, kernel.Debian); err == nil {
				t.Error("a refused fetch left a kernel in the cache")
			}
			leftovers(t, opt.CacheDir)
		})
	}
}

// TestFetchInterrupted cancels a fetch in the middle of a download: nothing
// is published, nothing is left, and the next fetch works.
func TestFetchInterrupted(t *testing.T) {
	a, _ := debianArchive(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	a.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "linux-modules") {
			return false
		}
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		cancel()
		<-r.Context().Done()
		return true
	})
	opt := testOptions(t, a.Start(), a)
	if _, err := Fetch(ctx, Debian, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch = %v, want context.Canceled", err)
	}
	if _, err := kernel.Lookup(opt.CacheDir, kernel.Debian); err == nil {
		t.Error("an interrupted fetch left a kernel in the cache")
	}
	leftovers(t, opt.CacheDir)
	a.Hook(nil)
	if _, err := Fetch(context.Background(), Debian, opt); err != nil {
		t.Fatalf("Fetch after an interrupted one: %v", err)
	}
}

func TestFetchBadInput(t *testing.T) {
	a, _ := debianArchive(t, false)
	opt := testOptions(t, "", a)
	_, err := Fetch(context.Background(), "debain", opt)
	if !errors.Is(err, ErrUnknownKernel) || !strings.Contains(err.Error(), "debian, stock-6.12") {
		t.Errorf("unknown name: %v, want ErrUnknownKernel listing the known kernels", err)
	}
	_, err = Fetch(context.Background(), Debian, opt)
	if !errors.Is(err, debarchive.ErrNoMirror) || !strings.Contains(err.Error(), "--mirror") || !strings.Contains(err.Error(), "SCXVM_DEBIAN_MIRROR") {
		t.Errorf("no mirror: %v, want ErrNoMirror saying how to set one", err)
	}
	// The environment names the mirror when the option does not.
	t.Setenv("SCXVM_DEBIAN_MIRROR", a.Start())
	if _, err := Fetch(context.Background(), Debian, opt); err != nil {
		t.Errorf("mirror from SCXVM_DEBIAN_MIRROR: %v", err)
	}
}

func xzWriter(w *bytes.Buffer) (interface {
	Write([]byte) (int, error)
	Close() error
}, error) {
	return xz.NewWriter(w)
}

// TestFetchOlderEntry: a cache entry fetched before scxvm took the 9p
// modules is fetched again, without --refresh.
func TestFetchOlderEntry(t *testing.T) {
	a, _ := debianArchive(t, false)
	opt := testOptions(t, a.Start(), a)
	res, err := Fetch(context.Background(), "", opt)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Fetch(context.Background(), "", opt); err != nil || !again.Cached {
		t.Fatalf("second Fetch = %+v, %v; want it cached", again, err)
	}
	ko := filepath.Join(res.Dir, "modules", "9p.ko")
	if err := os.Remove(ko); err != nil {
		t.Fatal(err)
	}
	again, err := Fetch(context.Background(), "", opt)
	if err != nil {
		t.Fatal(err)
	}
	if again.Cached {
		t.Errorf("Fetch of an entry without 9p.ko = %+v; want it fetched again", again)
	}
	if _, err := os.Stat(ko); err != nil {
		t.Errorf("9p.ko not fetched again: %v", err)
	}
}
