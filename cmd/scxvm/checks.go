package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/scxvm/scxvm/scenariofile"
	"github.com/scxvm/scxvm/spec"
)

// checkFlags are --check and --checks: the scheduler's layer of
// thresholds (spec.Scheduler.Checks), each setting over the ones before
// it on the command line. The values are kept as given and read by
// resolve after the flags are parsed, so that a bad one is reported as
// the *spec.ValidationError it is, without the flag package's usage text.
type checkFlags struct {
	// name is the flags' base name: "check" (--check, --checks) or
	// "compare-check" (--compare-check, --compare-checks).
	name     string
	settings []checkSetting
}

// checkSetting is one --check (file false) or --checks (file true).
type checkSetting struct {
	value string
	file  bool
}

// register adds --NAME and --NAMEs to fs (name "check" unless set);
// target says what they set, in the flags' help.
func (c *checkFlags) register(fs *flag.FlagSet, target string) {
	name := c.flagName()
	fs.Func(name, "threshold "+target+", `KEY=VALUE` as in a scenario's checks (max_p99_wake_latency=20ms; a check's name for its one threshold: throughput_cv=0.5), or CHECK=off to skip a check; over the defaults and the scheduler's built-in layer, under each scenario's own checks (repeatable; `scxvm scenarios` lists them)", func(v string) error {
		c.settings = append(c.settings, checkSetting{value: v})
		return nil
	})
	fs.Func(name+"s", "thresholds "+target+" from a YAML/JSON `FILE` holding what a scenario's checks: holds (skip: [...], max_gap: 3s, ...); one layer with the --"+name+" flags, the later flag winning (repeatable)", func(path string) error {
		c.settings = append(c.settings, checkSetting{value: path, file: true})
		return nil
	})
}

// flagName is the flags' base name, "check" unless name says otherwise.
func (c *checkFlags) flagName() string {
	if c.name == "" {
		return "check"
	}
	return c.name
}

// String returns the flags as given ("--check a=1 --checks f.yaml").
func (c *checkFlags) String() string {
	var parts []string
	for _, s := range c.settings {
		if s.file {
			parts = append(parts, "--"+c.flagName()+"s "+s.value)
		} else {
			parts = append(parts, "--"+c.flagName()+" "+s.value)
		}
	}
	return strings.Join(parts, " ")
}

// given reports whether --check or --checks was given.
func (c *checkFlags) given() bool { return len(c.settings) > 0 }

// resolve reads the settings in command-line order into one layer, each
// over the ones before it. Errors are *spec.ValidationError naming the
// flag (--check VALUE, or the --checks file) and the threshold's key.
func (c *checkFlags) resolve() (spec.Checks, error) {
	var layer spec.Checks
	for _, s := range c.settings {
		var (
			l   spec.Checks
			err error
		)
		if s.file {
			l, err = scenariofile.LoadChecks(s.value)
		} else {
			l, err = scenariofile.ParseCheck("--"+c.flagName()+" "+s.value, s.value)
		}
		if err != nil {
			return spec.Checks{}, err
		}
		layer = l.Layer(layer)
	}
	return layer, nil
}

// printEffective prints the thresholds a scenario with checks sc is
// judged by under sched, with the flags' layer as sched's (the layers
// resolved: spec.Checks.Resolve).
func printEffective(w io.Writer, title string, sched spec.Scheduler, sc spec.Checks) {
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tKEY\tTHRESHOLD")
	resolved := sc.Resolve(sched)
	for _, d := range resolved.Describe() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Check, d.Field, d.Default)
	}
	tw.Flush()
	if skipped := skippedOthers(resolved); len(skipped) > 0 {
		fmt.Fprintf(w, "  also skipped: %s\n", strings.Join(skipped, ", "))
	}
}

// skippedOthers returns the checks c skips that have no threshold (and
// so no row in a table of thresholds).
func skippedOthers(c spec.Checks) []string {
	var out []string
	for _, name := range c.Skip {
		if len(spec.CheckKeys(name)) == 0 {
			out = append(out, name)
		}
	}
	return out
}
