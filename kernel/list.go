package kernel

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Entry is one complete kernel directory of the cache.
type Entry struct {
	// Dir is the directory; Names the cache names (symlinks) that point
	// at it, e.g. "debian".
	Dir   string
	Names []string
	// Release is its uname -r.
	Release string
	// Origin says where it came from: the first line of its origin file
	// ("fetch debian", "seed DIR", "build TREE") with, for a fetched
	// kernel, the package, suite, mirror and time.
	Origin string
	// Info is what Inspect says about its image; nil when Err is set.
	Info *Info
	Err  error
}

// List returns the complete kernels of the cache at cacheDir, sorted by
// directory name, with their sched_ext support (Inspect) and origin.
func List(cacheDir string) ([]Entry, error) {
	dir := filepath.Join(cacheDir, "kernels")
	des, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make(map[string][]string) // target dir -> names
	for _, de := range des {
		if de.Type()&os.ModeSymlink == 0 {
			continue
		}
		if t, err := os.Readlink(filepath.Join(dir, de.Name())); err == nil && !strings.HasSuffix(de.Name(), ".tmp") {
			names[filepath.Base(t)] = append(names[filepath.Base(t)], de.Name())
		}
	}
	var out []Entry
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") || !isFile(filepath.Join(p, ".complete")) {
			continue
		}
		k, err := Lookup(cacheDir, de.Name())
		e := Entry{Dir: p, Names: names[de.Name()], Origin: readOrigin(filepath.Join(p, "origin"))}
		sort.Strings(e.Names)
		if err != nil {
			e.Err = err
			out = append(out, e)
			continue
		}
		e.Release = k.Release
		e.Info, e.Err = Inspect(k.Image)
		out = append(out, e)
	}
	return out, nil
}

// readOrigin summarises an origin file on one line: a fetched kernel's
// "fetch NAME" becomes "PACKAGE VERSION from SUITE of MIRROR at TIME".
func readOrigin(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "-"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "-"
	}
	first := sc.Text()
	if !strings.HasPrefix(first, "fetch ") {
		return first
	}
	kv := make(map[string]string)
	var debs []string
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		if k == "deb" {
			debs = append(debs, v)
		}
		if _, ok := kv[k]; !ok {
			kv[k] = v
		}
	}
	pkg := ""
	if len(debs) > 0 {
		f := strings.Fields(debs[0])
		if len(f) >= 2 {
			pkg = f[0] + " " + f[1] + " "
		}
	}
	return pkg + "from " + kv["suite"] + " of " + kv["mirror"] + " at " + kv["time"]
}
