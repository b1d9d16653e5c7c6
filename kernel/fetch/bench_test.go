package fetch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/debarchive"
	"github.com/scxvm/scxvm/internal/testenv"
)

// BenchmarkColdFetch fetches the "debian" kernel into an empty cache
// (download, verify, unpack) and, in the same iteration, does what the
// shell scripts did for the same packages: apt-get update and apt-get
// download in a private apt root, then dpkg-deb -x of each .deb. It
// reports both times and their ratio (target: x-apt <= 1.2). It needs the
// system's Debian mirror and apt; run it with
//
//	go test -run '^$' -bench ColdFetch -benchtime 3x ./kernel/fetch
func BenchmarkColdFetch(b *testing.B) {
	mirror := systemMirror(b)
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Prereq(b, "%s not found: the baseline needs apt", tool)
		}
	}
	var goTime, aptTime time.Duration
	for b.Loop() {
		a := aptBaseline(b, mirror)
		start := time.Now()
		if _, err := Fetch(context.Background(), Debian, Options{CacheDir: b.TempDir(), Mirror: mirror}); err != nil {
			b.Fatal(err)
		}
		goTime += time.Since(start)
		aptTime += a
	}
	b.ReportMetric(goTime.Seconds()/float64(b.N), "s-scxvm")
	b.ReportMetric(aptTime.Seconds()/float64(b.N), "s-apt")
	b.ReportMetric(goTime.Seconds()/aptTime.Seconds(), "x-apt")
}

// BenchmarkCachedFetch is `scxvm kernel fetch` on a filled cache (target:
// under 100 ms). It uses a fake cache entry, so it needs no network.
func BenchmarkCachedFetch(b *testing.B) {
	cache := b.TempDir()
	fakeEntry(b, cache, Debian, "debian-1", DefaultABI)
	for b.Loop() {
		r, err := Fetch(context.Background(), Debian, Options{CacheDir: cache, Mirror: "http://127.0.0.1:1/unused"})
		if err != nil || !r.Cached {
			b.Fatalf("Fetch = %+v, %v; want a cache hit", r, err)
		}
	}
}

// aptBaseline times apt-get update + download + dpkg-deb -x of the packages
// of the "debian" kernel in a private apt root.
func aptBaseline(b *testing.B, mirror string) time.Duration {
	b.Helper()
	root := b.TempDir()
	for _, d := range []string{"state/lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d", "dl", "x"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	must(b, os.WriteFile(filepath.Join(root, "state/status"), nil, 0o644))
	must(b, os.WriteFile(filepath.Join(root, "etc/sources.list"),
		[]byte("deb [signed-by="+debarchive.SystemKeyring+"] "+mirror+" "+DefaultSuite+" main\n"), 0o644))
	opts := []string{
		"-o", "Dir::State=" + root + "/state", "-o", "Dir::State::status=" + root + "/state/status",
		"-o", "Dir::Cache=" + root + "/cache", "-o", "Dir::Etc::SourceList=" + root + "/etc/sources.list",
		"-o", "Dir::Etc::SourceParts=" + root + "/etc/sources.list.d", "-o", "Dir::Etc::PreferencesParts=" + root + "/etc/preferences.d",
		"-o", "APT::Architecture=amd64", "-o", "Acquire::Languages=none", "-o", "Debug::NoLocking=true", "-o", "APT::Sandbox::User=root",
	}
	pkgs := []string{"linux-binary-" + DefaultABI, "linux-base-" + DefaultABI, "linux-modules-" + DefaultABI}
	start := time.Now()
	run := func(dir string, args ...string) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run(root, append(append([]string{"apt-get"}, opts...), "-q", "update")...)
	run(filepath.Join(root, "dl"), append(append(append([]string{"apt-get"}, opts...), "-q", "download"), pkgs...)...)
	debs, _ := filepath.Glob(filepath.Join(root, "dl", "*.deb"))
	if len(debs) != len(pkgs) {
		b.Fatalf("apt-get download left %d .debs, want %d", len(debs), len(pkgs))
	}
	for _, d := range debs {
		run(root, "dpkg-deb", "-x", d, filepath.Join(root, "x"))
	}
	return time.Since(start)
}

// systemMirror returns the Debian mirror of $SCXVM_DEBIAN_MIRROR or the
// system's apt sources, or ends the test.
func systemMirror(tb testing.TB) string {
	tb.Helper()
	if m := os.Getenv("SCXVM_DEBIAN_MIRROR"); m != "" {
		return m
	}
	m, err := debarchive.FindMirrors("/etc")
	if err != nil {
		testenv.Prereq(tb, "no Debian mirror (set SCXVM_DEBIAN_MIRROR): %v", err)
	}
	return m.Archive
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// fakeEntry lays out a complete cache entry key for name.
func fakeEntry(tb testing.TB, cache, name, key, release string) string {
	tb.Helper()
	dir := filepath.Join(cache, "kernels", key)
	must(tb, os.MkdirAll(dir, 0o755))
	for f, content := range map[string]string{"vmlinuz": "image", "config": "CONFIG_X=y\n", "release": release + "\n", "package": "linux-binary 1\n", ".complete": ""} {
		must(tb, os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644))
	}
	must(tb, os.Symlink(key, filepath.Join(cache, "kernels", name)))
	return dir
}
