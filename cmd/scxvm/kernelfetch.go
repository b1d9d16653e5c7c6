package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/scxvm/scxvm/internal/debarchive"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/kernel/fetch"
	"github.com/scxvm/scxvm/vmtest"
)

// kernelFetchCmd is `scxvm kernel fetch [flags] [NAME...]`.
func kernelFetchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm kernel fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt fetch.Options
	fs.StringVar(&opt.Mirror, "mirror", "", "Debian archive `URL` (default $SCXVM_DEBIAN_MIRROR, else the system's apt sources)")
	fs.StringVar(&opt.SecurityMirror, "security-mirror", "", "Debian security archive `URL` for stock-6.12 (default $SCXVM_DEBIAN_SECURITY_MIRROR, else the apt sources, else the mirror's /debian-security)")
	fs.BoolVar(&opt.Refresh, "refresh", false, "look for a newer package version even when the kernel is cached")
	fs.StringVar(&opt.CacheDir, "cache", kernel.DefaultCacheDir(), "cache `DIR` (default $SCXVM_CACHE_DIR, $XDG_CACHE_HOME/scxvm, ~/.cache/scxvm)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: scxvm kernel fetch [flags] [NAME...]\n\n"+
			"Downloads Debian's prebuilt kernel NAME (default %s; known: %s) into the\n"+
			"cache, verified against Debian's archive keys. A cached kernel is used\n"+
			"without network access unless -refresh is given.\n\n", fetch.Debian, strings.Join(fetch.Names(), ", "))
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		names = []string{fetch.Debian}
	}
	opt.Log = prefixWriter{w: stderr, prefix: "scxvm: "}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opt.Progress = func(total int64, what string) io.WriteCloser {
			return barCloser{progressbar.DefaultBytes(total, what)}
		}
	}
	for _, name := range names {
		res, err := fetch.Fetch(ctx, name, opt)
		switch {
		case errors.Is(err, fetch.ErrUnknownKernel), errors.Is(err, debarchive.ErrNoMirror):
			return usagef("%v", err)
		case errors.Is(err, context.Canceled):
			return err
		case err != nil:
			return &vmtest.InfraError{Op: "fetch kernel " + name, Err: err}
		}
		state := "fetched"
		if res.Cached {
			state = "cached"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s (%s)\t%s\n", res.Name, state, res.Release, res.Package, res.Dir)
	}
	return nil
}

// kernelListCmd is `scxvm kernel list`.
func kernelListCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm kernel list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := fs.String("cache", kernel.DefaultCacheDir(), "cache `DIR` (default $SCXVM_CACHE_DIR, $XDG_CACHE_HOME/scxvm, ~/.cache/scxvm)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("scxvm kernel list takes no arguments, got %q", fs.Args())
	}
	entries, err := kernel.List(*cache)
	if err != nil {
		return &vmtest.InfraError{Op: "list kernels", Err: err}
	}
	if len(entries) == 0 {
		fmt.Fprintf(stdout, "no kernels in %s (run `scxvm kernel fetch`)\n", *cache)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRELEASE\tSCHED_EXT\tORIGIN\tDIR")
	for _, e := range entries {
		names := strings.Join(e.Names, ",")
		if names == "" {
			names = "-"
		}
		support := "yes"
		switch {
		case e.Err != nil:
			support = "? (" + e.Err.Error() + ")"
		case !e.Info.SchedExt:
			support = "no (missing " + strings.Join(e.Info.Missing, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", names, e.Release, support, e.Origin, e.Dir)
	}
	return tw.Flush()
}

// barCloser finishes a progress bar on Close.
type barCloser struct{ *progressbar.ProgressBar }

func (b barCloser) Close() error { return b.Finish() }

// prefixWriter writes each Write (one line) with a prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
