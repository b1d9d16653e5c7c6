package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/scxvm/scxvm/internal/jsonfile"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/compare"
	"github.com/scxvm/scxvm/vmtest/report"
)

// regressionError is the verdict of `scxvm compare` when NEW regressed:
// exit 1, like a failed check.
type regressionError struct{ n int }

func (e *regressionError) Error() string {
	return fmt.Sprintf("%d regression(s) from OLD to NEW", e.n)
}

// compareCmd is `scxvm compare [flags] OLD.json NEW.json`.
func compareCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scxvm compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		thresholds listFlag
		common     bool
		all        bool
		jsonOut    string
	)
	fs.Var(&thresholds, "threshold", "override a metric's thresholds, `METRIC=REL[,ABS]` (e.g. throughput=5% or wake_p99=20%,50us; repeatable)")
	fs.BoolVar(&common, "common", false, "compare the scenarios both results ran, instead of refusing results whose scenario sets differ")
	fs.BoolVar(&all, "all", false, "show unchanged metrics too")
	fs.StringVar(&jsonOut, "json", "", "write the comparison as JSON to `FILE`")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: scxvm compare [flags] OLD.json NEW.json

Compares two results of scxvm run --json (two commits of a scheduler or a
kernel), scenario by scenario, metric by metric and cgroup by cgroup. Each
side's value is the median over its repetitions (scxvm run --repeat N). A
change counts when it exceeds both of the metric's thresholds (absolute,
and relative to OLD); one that does not exceed the runs' spread (max - min
over the repetitions, the larger of the two sides) is noise. A scenario
whose runs all passed in OLD and not all in NEW is a regression.
Exits 1 on a regression, 0 otherwise, 131 when the files cannot be compared.

Metrics and their default thresholds:
%s
Flags:
`, metricsHelp())
		fs.PrintDefaults()
	}
	inputs, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(inputs) != 2 {
		return usagef("scxvm compare takes two result files, got %d (usage: scxvm compare [flags] OLD.json NEW.json)", len(inputs))
	}
	opt := compare.Options{Common: common, Thresholds: map[string]compare.Threshold{}}
	for _, t := range thresholds {
		name, th, err := compare.ParseThreshold(t)
		if err != nil {
			return usagef("--threshold: %v", err)
		}
		opt.Thresholds[name] = th
	}
	var res [2]*vmtest.Result
	for i, in := range inputs {
		r, err := report.ReadFile(in)
		if err != nil {
			return usagef("%v", err)
		}
		res[i] = r
	}
	c, err := compare.Compare(res[0], res[1], opt)
	if err != nil {
		var ie *compare.IncompatibleError
		if errors.As(err, &ie) {
			return usagef("compare %s %s: %v", inputs[0], inputs[1], err)
		}
		return usagef("%v", err)
	}
	printComparison(stdout, c, inputs[0], inputs[1], all)
	if jsonOut != "" {
		if err := jsonfile.Write(jsonOut, "comparison", c); err != nil {
			return &vmtest.InfraError{Op: "write comparison", Err: err}
		}
	}
	if n := c.Count(compare.Regression); n > 0 {
		return &regressionError{n: n}
	}
	return nil
}

// metricsHelp lists the metrics with their direction and thresholds.
func metricsHelp() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, m := range vmtest.Metrics() {
		fmt.Fprintf(tw, "  %s\t%s, %s\t%s\n", m.Name, thresholdString(compare.DefaultThreshold(m), m.Unit), m.Better, m.Doc)
	}
	tw.Flush()
	return b.String()
}

func thresholdString(t compare.Threshold, unit string) string {
	s := fmt.Sprintf("%g%%", t.Rel*100)
	if t.Abs > 0 {
		s += " and " + vmtest.FormatValue(t.Abs, unit)
		if unit != "ns" && unit != "ms" {
			s += " " + unit
		}
	}
	return s
}

// printComparison prints the changes that matter (every change with all),
// then the counts.
func printComparison(w io.Writer, c *compare.Comparison, oldName, newName string, all bool) {
	side := func(tag, name string, s compare.Side) {
		fmt.Fprintf(w, "%s %s: scheduler %s, kernel %s, topology %s, accel %s\n", tag, name, s.Scheduler, orDash(s.Kernel), s.Topology, orDash(s.Accel))
	}
	side("old", oldName, c.Old)
	side("new", newName, c.New)
	for _, n := range c.OnlyOld {
		fmt.Fprintf(w, "not compared: %s (only in old)\n", n)
	}
	for _, n := range c.OnlyNew {
		fmt.Fprintf(w, "not compared: %s (only in new)\n", n)
	}
	if single := singleRuns(c); single != "" {
		fmt.Fprintf(w, "note: %s; a change beyond the thresholds counts as a regression without a spread to call it noise (run each side with scxvm run --repeat N)\n", single)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMETRIC\tCGROUP\tOLD\tNEW\tCHANGE\tVERDICT")
	rows, metrics := 0, 0
	for _, s := range c.Scenarios {
		if all || s.Verdict != compare.Unchanged {
			fmt.Fprintf(tw, "%s\tverdict\t-\tpassed %d/%d\tpassed %d/%d\t\t%s\n", s.Name, s.OldPassed, s.OldRuns, s.NewPassed, s.NewRuns, verdictString(s.Verdict))
			rows++
		}
		for _, ch := range s.Changes {
			metrics++
			if !all && (ch.Verdict == compare.Unchanged || ch.Verdict == compare.OnlyInOld || ch.Verdict == compare.OnlyInNew) {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, ch.Metric, orDash(ch.Key), statString(ch.Old), statString(ch.New), changeString(ch), verdictString(ch.Verdict)+verdictDetail(ch))
			rows++
		}
	}
	if rows > 0 {
		tw.Flush()
	} else {
		fmt.Fprintln(w, "no change beyond the thresholds")
	}
	fmt.Fprintf(w, "\n%d scenario verdicts and %d metric values compared: %d regressions, %d improvements, %d within noise, %d unchanged",
		len(c.Scenarios), metrics, c.Count(compare.Regression), c.Count(compare.Improvement), c.Count(compare.Noise), c.Count(compare.Unchanged))
	if n := c.Count(compare.OnlyInOld) + c.Count(compare.OnlyInNew); n > 0 {
		fmt.Fprintf(w, ", %d measured on one side only", n)
	}
	fmt.Fprintln(w)
}

// statString shows a metric's median, with its range over several runs.
func statString(m *vmtest.MetricSummary) string {
	if m == nil {
		return "-"
	}
	return medianString(m) // output.go
}

func changeString(ch compare.Change) string {
	switch {
	case ch.Old == nil || ch.New == nil:
		return ""
	case ch.Rel == nil:
		return fmt.Sprintf("%+g", ch.Delta)
	case math.Abs(*ch.Rel) >= 10:
		return fmt.Sprintf("%+.0fx", *ch.Rel)
	}
	return fmt.Sprintf("%+.1f%%", *ch.Rel*100)
}

func verdictString(v compare.Verdict) string {
	switch v {
	case compare.Regression:
		return "REGRESSION"
	case compare.OnlyInOld:
		return "only in old"
	case compare.OnlyInNew:
		return "only in new"
	}
	return string(v)
}

// verdictDetail says what a judged change was measured against.
func verdictDetail(ch compare.Change) string {
	if ch.Old == nil || ch.New == nil || ch.Verdict == compare.Unchanged {
		return ""
	}
	d := " (threshold " + thresholdString(ch.Threshold, ch.Unit)
	if ch.Spread > 0 {
		d += ", spread " + vmtest.FormatValue(ch.Spread, ch.Unit)
	}
	return d + ")"
}

// singleRuns says which side ran its scenarios once, or "".
func singleRuns(c *compare.Comparison) string {
	oldOnce, newOnce := true, true
	for _, s := range c.Scenarios {
		oldOnce = oldOnce && s.OldRuns < 2
		newOnce = newOnce && s.NewRuns < 2
	}
	switch {
	case len(c.Scenarios) == 0:
		return ""
	case oldOnce && newOnce:
		return "both results ran each scenario once"
	case oldOnce:
		return "old ran each scenario once"
	case newOnce:
		return "new ran each scenario once"
	}
	return ""
}
