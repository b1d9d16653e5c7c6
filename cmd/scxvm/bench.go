package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/bench"
)

// benchCmd is `scxvm bench`: it measures scxvm in real guests (package
// vmtest/bench) and prints one table with a target per row.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kernelName := fs.String("kernel", "debian", "kernel `NAME` or PATH to measure on")
	helloInit := fs.String("helloinit", "", "minimal static init `FILE` for the boot baseline (CGO_ENABLED=0 go install github.com/scxvm/scxvm/host/testdata/helloinit@VERSION)")
	perf := fs.String("perf", "", "perf `BINARY` put in the guest (default: perf in $PATH)")
	jsonOut := fs.String("json", "", "also write the report as JSON to `FILE`")
	boots := fs.Int("boots", 3, "boot pairs (minimal init, agent; PVH, bzImage) to measure")
	accel := fs.String("accel", "auto", "accelerator: auto, kvm or tcg")
	cache := fs.String("cache", "", "cache directory (default $SCXVM_CACHE_DIR, $XDG_CACHE_HOME/scxvm, ~/.cache/scxvm)")
	boot := fs.String("boot", "auto", "kernel boot of the agent and its baseline: auto (PVH when possible), pvh or image")
	bootKernels := fs.String("boot-kernels", "debian,6.12", "comma-separated kernels whose PVH boot is measured against their bzImage boot (empty: none)")
	verbose := fs.Bool("v", false, "print progress lines")
	only := fs.String("only", "", "comma-separated groups of rows to measure: "+strings.Join(bench.StepNames, ", ")+" (default: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: scxvm bench [flags]\n\nMeasures boot to Hello, PVH against bzImage boot, warm start against cold\nboot (snapshot save and restore), per-scenario overhead,\nreport throughput, ping-pong round trips against perf bench sched pipe,\nspawn/stop of 256 workers, scxvm exec against scxvm run of an empty\nscenario and the host driver's peak RSS, each against its target.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("scxvm bench takes no arguments")
	}
	agent, agentNote, err := findAgent()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return &vmtest.InfraError{Op: "find own executable", Err: err}
	}
	cfg := bench.Config{Agent: agent, CLI: self, HelloInit: *helloInit, Perf: *perf, Kernel: *kernelName, Boots: *boots, Boot: *boot, Accel: *accel, CacheDir: *cache, BootKernels: []string{}}
	for _, k := range strings.Split(*bootKernels, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.BootKernels = append(cfg.BootKernels, k)
		}
	}
	for _, o := range strings.Split(*only, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if !slices.Contains(bench.StepNames, o) {
			return usagef("--only: unknown group %q (known: %s)", o, strings.Join(bench.StepNames, ", "))
		}
		cfg.Only = append(cfg.Only, o)
	}
	start := time.Now()
	if *verbose {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(stderr, "%7.2fs %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
		cfg.Logf("%s", agentNote)
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return &vmtest.InfraError{Op: "bench", Err: err}
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *jsonOut != "" {
		if err := os.MkdirAll(filepath.Dir(*jsonOut), 0o755); err != nil {
			return &vmtest.InfraError{Op: "write bench report", Err: err}
		}
		if err := rep.WriteJSON(*jsonOut); err != nil {
			return &vmtest.InfraError{Op: "write bench report", Err: err}
		}
		fmt.Fprintf(stdout, "bench report written to %s\n", *jsonOut)
	}
	return nil
}
