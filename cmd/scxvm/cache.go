package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/scxvm/scxvm/internal/cachedir"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/vmtest"
)

// sizeFlag is a size flag such as --cache-max 2G; zero means unset.
type sizeFlag int64

func (s *sizeFlag) String() string {
	if *s == 0 {
		return ""
	}
	return cachedir.FormatSize(int64(*s))
}

func (s *sizeFlag) Set(v string) error {
	n, err := cachedir.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// cacheBound returns the bound a command uses: the flag, else
// $SCXVM_CACHE_MAX (a usage error when invalid), else the default, and
// where it came from.
func cacheBound(flagValue sizeFlag) (int64, string, error) {
	if flagValue > 0 {
		return int64(flagValue), "--cache-max", nil
	}
	n, err := cachedir.MaxFromEnv()
	if err != nil {
		return 0, "", usagef("%v", err)
	}
	if os.Getenv(cachedir.EnvMax) != "" {
		return n, "$" + cachedir.EnvMax, nil
	}
	return n, "default", nil
}

const cacheUsage = `usage: scxvm cache du [-v] [--cache DIR] [--cache-max SIZE]
       scxvm cache prune [--all] [--cache DIR] [--cache-max SIZE]

The cache keeps initramfs images and the vmlinux files extracted from
bzImages for PVH boot within one bound (--cache-max, else $SCXVM_CACHE_MAX,
else 2G): every run that adds a file removes the least recently used ones
beyond it, never one a running VM uses. "du" shows the usage, "prune"
applies the bound now (--all: removes every such file not in use).
Kernels, schedulers and source trees (make targets) are not bounded; "du"
shows their size too, "rm -rf" of the cache drops everything.
`

// cacheCmd is `scxvm cache du|prune`.
func cacheCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, cacheUsage)
		return usagef("scxvm cache: want du or prune")
	}
	sub := args[0]
	fs := flag.NewFlagSet("scxvm cache "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), cacheUsage); fs.PrintDefaults() }
	dir := fs.String("cache", "", "cache `DIR` (default $SCXVM_CACHE_DIR, $XDG_CACHE_HOME/scxvm, ~/.cache/scxvm)")
	var max sizeFlag
	fs.Var(&max, "cache-max", "bound, a `SIZE` such as 500M (default $SCXVM_CACHE_MAX, else 2G)")
	verbose := fs.Bool("v", false, "du: list every bounded file, and the size of what is not bounded")
	all := fs.Bool("all", false, "prune: remove every bounded file not in use")
	switch sub {
	case "du", "prune":
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, cacheUsage)
		return nil
	default:
		fmt.Fprint(stderr, cacheUsage)
		return usagef("scxvm cache: unknown subcommand %q (want du or prune)", sub)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("scxvm cache %s takes no arguments, got %q", sub, fs.Args())
	}
	root := *dir
	if root == "" {
		root = kernel.DefaultCacheDir()
	}
	bound, from, err := cacheBound(max)
	if err != nil {
		return err
	}
	c := cachedir.New(root, bound)
	if sub == "prune" {
		return cachePrune(stdout, c, *all)
	}
	return cacheDU(stdout, c, from, *verbose)
}

func cachePrune(w io.Writer, c *cachedir.Cache, all bool) error {
	prune := c.Prune
	if all {
		prune = c.PruneAll
	}
	res, err := prune()
	if err != nil {
		return &vmtest.InfraError{Op: "prune cache", Err: err}
	}
	for _, e := range res.Removed {
		fmt.Fprintf(w, "removed %s (%s, last used %s)\n", e.Path, cachedir.FormatSize(e.Size), e.Used.Format(time.DateTime))
	}
	fmt.Fprintf(w, "%s: removed %d files (%s); %s kept", c.Root(), len(res.Removed), cachedir.FormatSize(res.Freed), cachedir.FormatSize(res.Kept))
	if res.InUse > 0 {
		fmt.Fprintf(w, ", of which %s in use by running VMs", cachedir.FormatSize(res.InUse))
	}
	if !all {
		fmt.Fprintf(w, "; bound %s", cachedir.FormatSize(c.Max()))
	}
	fmt.Fprintln(w)
	return nil
}

func cacheDU(w io.Writer, c *cachedir.Cache, boundFrom string, verbose bool) error {
	es, err := c.Entries()
	if err != nil {
		return &vmtest.InfraError{Op: "read cache", Err: err}
	}
	fmt.Fprintf(w, "cache %s\n\n", c.Root())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BOUNDED\tFILES\tSIZE\tIN USE")
	var total, totalInUse int64
	for _, area := range cachedir.Areas {
		var n int
		var size, inUse int64
		for _, e := range es {
			if e.Area != area {
				continue
			}
			n++
			size += e.Size
			if e.InUse {
				inUse += e.Size
			}
		}
		total, totalInUse = total+size, totalInUse+inUse
		fmt.Fprintf(tw, "%s/\t%d\t%s\t%s\n", area, n, cachedir.FormatSize(size), cachedir.FormatSize(inUse))
	}
	fmt.Fprintf(tw, "total\t%d\t%s\t%s\n", len(es), cachedir.FormatSize(total), cachedir.FormatSize(totalInUse))
	tw.Flush()
	fmt.Fprintf(w, "bound %s (%s): %.0f%% used\n", cachedir.FormatSize(c.Max()), boundFrom, 100*float64(total)/float64(c.Max()))

	if verbose && len(es) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LAST USED\tSIZE\tIN USE\tFILE")
		for _, e := range es {
			use := ""
			if e.InUse {
				use = "yes"
			}
			rel, _ := filepath.Rel(c.Root(), e.Path)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Used.Format(time.DateTime), cachedir.FormatSize(e.Size), use, rel)
		}
		tw.Flush()
	}

	if !verbose {
		fmt.Fprintln(w, "(-v lists every file, and the unbounded kernels, schedulers and sources)")
		return nil
	}
	// What the bound leaves alone, so that the total makes sense.
	des, err := os.ReadDir(c.Root())
	if err != nil {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NOT BOUNDED\tSIZE")
	for _, de := range des {
		if !de.IsDir() || slices.Contains(cachedir.Areas, de.Name()) {
			continue
		}
		n, err := cachedir.DirUsage(filepath.Join(c.Root(), de.Name()))
		if err != nil {
			continue
		}
		fmt.Fprintf(tw, "%s/\t%s\n", de.Name(), cachedir.FormatSize(n))
	}
	tw.Flush()
	fmt.Fprintln(w, "(not bounded: kernels, schedulers and source trees come from the make targets; remove them by hand)")
	return nil
}
