package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/report"
	"github.com/scxvm/scxvm/vmtest/report/trace"
)

// reportCmd is `scxvm report RESULT.json [-o FILE.html] [--trace FILE]`:
// the HTML report and the Perfetto trace of a result that `scxvm run
// --json` wrote.
func reportCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var out outputFlags
	fs.StringVar(&out.html, "o", "", "write the HTML report to `FILE` (default: RESULT with .html for .json)")
	fs.StringVar(&out.trace, "trace", "", "write the timeline as Chrome trace-event JSON (Perfetto UI, chrome://tracing) to `FILE`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: scxvm report [flags] RESULT.json\n\nWrites a self-contained HTML report (verdicts with their evidence, charts of\nprogress, cpu time, fairness, wake-up latency, migrations and a timeline) of\na result written by `scxvm run --json`, and with --trace its timeline for\nPerfetto UI or chrome://tracing.")
		fs.PrintDefaults()
	}
	inputs, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(inputs) != 1 {
		return usagef("scxvm report takes one result file, got %d (usage: scxvm report [flags] RESULT.json)", len(inputs))
	}
	in := inputs[0]
	if out.html == "" && out.trace == "" {
		out.html = strings.TrimSuffix(in, ".json") + ".html"
	}
	res, err := report.ReadFile(in)
	if err != nil {
		return usagef("%v", err)
	}
	return out.write(res, stdout)
}

// outputFlags are the files a run's result can be written to besides its
// JSON.
type outputFlags struct {
	html, trace string
}

// write writes the HTML report and the trace that were asked for and says
// where they went.
func (o outputFlags) write(res *vmtest.Result, stdout io.Writer) error {
	if o.html != "" {
		if err := report.WriteFile(o.html, res, nil); err != nil {
			return &vmtest.InfraError{Op: "write report", Err: err}
		}
		fmt.Fprintf(stdout, "report: %s\n", o.html)
	}
	if o.trace != "" {
		if err := trace.WriteFile(o.trace, res, nil); err != nil {
			return &vmtest.InfraError{Op: "write trace", Err: err}
		}
		fmt.Fprintf(stdout, "trace: %s (open in Perfetto UI or chrome://tracing)\n", o.trace)
	}
	return nil
}

// parseFlags parses args with fs; a bad flag is a usage error, -h is
// flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	return nil
}

// parseInterspersed parses args with fs, letting flags follow the
// positional arguments (scxvm report out.json --trace t.json), and
// returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var inputs []string
	for rest := args; ; {
		if err := parseFlags(fs, rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return inputs, nil
		}
		inputs = append(inputs, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}
