package kernel

import (
	"os"
	"path/filepath"
	"testing"
)

func TestList(t *testing.T) {
	cache := fakeCache(t)
	kdir := filepath.Join(cache, "kernels", "debian-7.3.4-1")
	writeFile(t, filepath.Join(kdir, "origin"), []byte("fetch debian\nmirror file:/srv/debian\nsuite trixie-backports\n"+
		"deb linux-binary-7.3.4+deb13-amd64 7.3.4-1 pool/x.deb sha256:00\ndeb linux-base-7.3.4+deb13-amd64 7.3.4-1 pool/y.deb sha256:11\ntime 2026-01-02T03:04:05Z\n"))
	// An incomplete directory (an interrupted fetch) and a temporary one
	// are not listed; a built kernel with another origin is.
	writeFile(t, filepath.Join(cache, "kernels", "stock-1", "vmlinuz"), []byte("partial"))
	writeFile(t, filepath.Join(cache, "kernels", ".tmp-debian-1", ".complete"), nil)
	bdir := filepath.Join(cache, "kernels", "6.12.1-scxvm-abc")
	writeFile(t, filepath.Join(bdir, "bzImage"), []byte("not a kernel"))
	writeFile(t, filepath.Join(bdir, "release"), []byte("6.12.1\n"))
	writeFile(t, filepath.Join(bdir, "origin"), []byte("build /src/linux\n"))
	writeFile(t, filepath.Join(bdir, ".complete"), nil)
	if err := os.Symlink("6.12.1-scxvm-abc", filepath.Join(cache, "kernels", "6.12")); err != nil {
		t.Fatal(err)
	}

	got, err := List(cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("List = %+v, want 2 entries", got)
	}
	b, d := got[0], got[1]
	if b.Dir != bdir || len(b.Names) != 1 || b.Names[0] != "6.12" || b.Origin != "build /src/linux" || b.Err == nil {
		t.Errorf("built entry = %+v (want an inspection error for its fake image)", b)
	}
	wantOrigin := "linux-binary-7.3.4+deb13-amd64 7.3.4-1 from trixie-backports of file:/srv/debian at 2026-01-02T03:04:05Z"
	if d.Dir != kdir || len(d.Names) != 1 || d.Names[0] != "debian" || d.Release != "7.3.4+deb13-amd64" || d.Origin != wantOrigin {
		t.Errorf("fetched entry = %+v, want origin %q", d, wantOrigin)
	}
	if d.Err != nil || d.Info == nil || !d.Info.SchedExt {
		t.Errorf("fetched entry: info %+v, err %v; want sched_ext supported", d.Info, d.Err)
	}
	if empty, err := List(t.TempDir()); err != nil || len(empty) != 0 {
		t.Errorf("List(empty cache) = %v, %v", empty, err)
	}
}
