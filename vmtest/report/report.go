package report

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"codeberg.org/go-fonts/liberation/liberationsansregular"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/report/internal/timeline"
)

// Options tune a report. The zero value (or nil) gives the defaults.
type Options struct {
	// Title heads the page (default: "scxvm: SCHEDULER on KERNEL").
	Title string
	// MaxPoints caps the points of one line of a chart (default 400).
	MaxPoints int
	// ChartPoints caps the points of one chart, all lines together
	// (default 40,000): a chart of 256 workers draws 156 points a line.
	ChartPoints int
	// MaxLatencySamples caps the latency samples merged per cgroup
	// (default 200,000); beyond it, a strided subset of each worker's
	// reservoir stands in.
	MaxLatencySamples int
	// Generated is the time printed in the footer (default: now).
	Generated time.Time
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.MaxPoints <= 0 {
		out.MaxPoints = 400
	}
	if out.ChartPoints <= 0 {
		out.ChartPoints = 40_000
	}
	if out.MaxLatencySamples <= 0 {
		out.MaxLatencySamples = 200_000
	}
	if out.Generated.IsZero() {
		out.Generated = time.Now()
	}
	return out
}

//go:embed page.html.tmpl
var pageTemplate string

//go:embed style.css
var styleCSS string

//go:embed check.js
var checkJS string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"dur":     fmtDuration,
	"secs":    func(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) },
	"rate":    siLabel,
	"pct":     func(v float64) string { return fmt.Sprintf("%.1f%%", v) },
	"lines":   func(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") },
	"join":    strings.Join,
	"inc":     func(i int) int { return i + 1 },
	"tail":    tail,
	"nonzero": func(d time.Duration) bool { return d != 0 },
	"containsAll": func(have, want []string) bool {
		return len(want) > 0 && containsAll(have, want)
	},
}).Parse(pageTemplate))

// tail returns the last n lines of s, and how many were left out.
func tail(s string, n int) struct {
	Lines   []string
	Omitted int
} {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	out := struct {
		Lines   []string
		Omitted int
	}{Lines: ls}
	if len(ls) > n {
		out.Lines, out.Omitted = ls[len(ls)-n:], len(ls)-n
	}
	return out
}

// WriteFile writes the report of res to path.
func WriteFile(path string, res *vmtest.Result, opts *Options) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write report: %w", cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := Write(bw, res, opts); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Write writes the report of res as one HTML page to w.
func Write(w io.Writer, res *vmtest.Result, opts *Options) error {
	if res == nil {
		return errors.New("write report: no result")
	}
	o := opts.withDefaults()
	pg, err := newPage(res, o)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := pageTmpl.Execute(w, pg); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// page is what the template renders.
type page struct {
	Title  string
	Res    *vmtest.Result
	Passed bool
	// RunFailure is the run's failure when no scenario shows it.
	RunFailure *vmtest.Failure
	Info       [][2]string
	Summary    []summaryRow
	Groups     []groupView
	// Outside are the incidents outside every scenario.
	Outside []timeline.Incident
	// ShowConsole is set when the console's tail adds to the evidence
	// shown above it.
	ShowConsole bool
	Generated   string
	// Charts counts the figures, for the page's self-check.
	Charts int
	CSS    template.CSS
	Script template.JS
	CSP    string
}

type summaryRow struct {
	Anchor, Name, Scheduler string
	Baseline, Passed        bool
	Failures                int
	FailureKind             string
	Elapsed                 time.Duration
	Workers                 int
	Rates                   string
	Ratio                   string
}

type groupView struct {
	*group
	Passed  bool
	Figures []figure
	Notes   []string
}

func newPage(res *vmtest.Result, o Options) (*page, error) {
	spans := timeline.Layout(res)
	incidents := timeline.Incidents(res, spans)
	pg := &page{
		Title:     o.Title,
		Res:       res,
		Passed:    res.Passed,
		Generated: o.Generated.Format(time.RFC3339),
	}
	if pg.Title == "" {
		pg.Title = fmt.Sprintf("scxvm: %s on %s", orDash(res.Scheduler), orDash(res.Kernel.Name))
	}
	pg.Info = runInfo(res)
	var shown []string // evidence lines already on the page
	if f := res.Failure; f != nil && !shownWithScenario(f, res.Scenarios) {
		pg.RunFailure = f
		shown = append(shown, f.Detail...)
	}
	for i := range res.Scenarios {
		if f := res.Scenarios[i].Failure; f != nil {
			shown = append(shown, f.Detail...)
		}
	}
	for _, in := range incidents {
		if in.Scenario < 0 {
			pg.Outside = append(pg.Outside, in)
			if len(in.Excerpt) > 0 && !containsAll(shown, in.Excerpt) {
				shown = append(shown, in.Excerpt...)
			}
		}
	}
	pg.ShowConsole = !res.Passed && len(res.ConsoleExcerpt) > 0 && !containsAll(shown, res.ConsoleExcerpt)
	for _, g := range groups(res, incidents, o.MaxLatencySamples) {
		figs, notes, err := newBuilder(g, o.MaxPoints, o.ChartPoints).charts()
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", g.Name, err)
		}
		gv := groupView{group: g, Passed: true, Figures: figs, Notes: notes}
		for _, rv := range g.Runs {
			gv.Passed = gv.Passed && rv.SR.Passed
			pg.Summary = append(pg.Summary, newSummaryRow(g, rv, res))
		}
		pg.Charts += len(figs)
		pg.Groups = append(pg.Groups, gv)
	}
	pg.CSS = template.CSS(pageCSS())
	pg.Script = template.JS(checkJS)
	sum := sha256.Sum256([]byte(checkJS))
	pg.CSP = "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	return pg, nil
}

// pageCSS is the stylesheet with the charts' font embedded, so that the
// text is measured and drawn with the same face everywhere.
func pageCSS() string {
	var b strings.Builder
	b.WriteString("@font-face{font-family:\"Liberation Sans\";font-style:normal;font-weight:normal;src:url(data:font/ttf;base64,")
	b.WriteString(base64.StdEncoding.EncodeToString(liberationsansregular.TTF))
	b.WriteString(") format(\"truetype\")}\n")
	b.WriteString(styleCSS)
	return b.String()
}

// shownWithScenario reports whether a scenario carries the same failure
// as the run (the run's failure is usually its first failing scenario's).
func shownWithScenario(f *vmtest.Failure, ss []vmtest.ScenarioResult) bool {
	for _, s := range ss {
		if sf := s.Failure; sf != nil && sf.Kind == f.Kind && sf.Scenario == f.Scenario && sf.Message == f.Message {
			return true
		}
	}
	return false
}

// containsAll reports whether every line of want is among have.
func containsAll(have, want []string) bool {
	set := make(map[string]bool, len(have))
	for _, h := range have {
		set[strings.TrimSpace(h)] = true
	}
	for _, w := range want {
		if !set[strings.TrimSpace(w)] {
			return false
		}
	}
	return true
}

// NewEvidence reports whether an incident's excerpt adds to the failure
// details on the page (a panic's excerpt is usually its failure's
// detail).
func (pg *page) NewEvidence(in timeline.Incident) bool {
	if len(in.Excerpt) == 0 {
		return true
	}
	var have []string
	if pg.RunFailure != nil {
		have = pg.RunFailure.Detail
	}
	for i := range pg.Res.Scenarios {
		if f := pg.Res.Scenarios[i].Failure; f != nil {
			have = append(have, f.Detail...)
		}
	}
	return !containsAll(have, in.Excerpt)
}

func runInfo(res *vmtest.Result) [][2]string {
	kernel := res.Kernel.Name
	if res.Kernel.Release != "" {
		kernel += " (" + res.Kernel.Release + ")"
	}
	info := [][2]string{
		{"kernel", kernel},
		{"scheduler", orDash(res.Scheduler)},
		{"topology", orDash(res.Topology)},
	}
	if g := res.Guest; g != nil {
		info = append(info, [2]string{"guest", fmt.Sprintf("%d cpus, %d LLCs, %d NUMA nodes", g.CPUs, g.LLCs, g.NUMANodes)})
	}
	info = append(info,
		[2]string{"accel / transport", orDash(res.Accel) + " / " + orDash(res.Transport)},
		[2]string{"boot to hello", bootToHello(res)},
		[2]string{"wall time", fmt.Sprintf("%.1fs", res.Wall.Seconds())},
	)
	if res.Kernel.Image != "" {
		info = append(info, [2]string{"kernel image", res.Kernel.Image})
	}
	if res.ConsoleLog != "" {
		info = append(info, [2]string{"console log", res.ConsoleLog})
	}
	return info
}

func bootToHello(res *vmtest.Result) string {
	if res.BootToHello <= 0 {
		return "- (the agent never said hello)"
	}
	return fmt.Sprintf("%.2fs", res.BootToHello.Seconds())
}

func newSummaryRow(g *group, rv *runView, res *vmtest.Result) summaryRow {
	sr := rv.SR
	row := summaryRow{
		Anchor: g.ID, Name: sr.Name, Scheduler: sr.Scheduler, Baseline: sr.Baseline,
		Passed: sr.Passed, Failures: len(sr.Failures), Elapsed: sr.Elapsed, Workers: len(sr.Workers),
	}
	if sr.Failure != nil {
		row.FailureKind = string(sr.Failure.Kind)
	}
	rates := sr.Rates()
	var parts []string
	for _, cg := range rv.Cgroups {
		parts = append(parts, cg.Name+" "+siLabel(rates[cg.Name])+"/s")
	}
	row.Rates = strings.Join(parts, ", ")
	if !sr.Baseline {
		if b := res.Baseline(sr.Name); b != nil {
			base := b.Rates()
			var rs []string
			for _, cg := range rv.Cgroups {
				if base[cg.Name] > 0 {
					rs = append(rs, fmt.Sprintf("%s %.2f×", cg.Name, rates[cg.Name]/base[cg.Name]))
				}
			}
			row.Ratio = strings.Join(rs, ", ")
		}
	}
	return row
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Methods the template calls on a run.

// FairnessLimit is the fairness check's spread limit in percent, 0 when
// the check is skipped.
func (rv *runView) FairnessLimit() float64 {
	c := rv.SR.Checks
	if slices.Contains(c.Skip, spec.CheckFairness) {
		return 0
	}
	if c.FairnessSpreadPct > 0 {
		return c.FairnessSpreadPct
	}
	return spec.DefaultFairnessSpreadPct
}

// Rate is the cgroup's iterations per second of run time.
func (rv *runView) Rate(cg *cgroupStats) string {
	secs := rv.SR.RunTime().Seconds()
	if secs <= 0 {
		return "-"
	}
	return siLabel(float64(cg.Iterations)/secs) + "/s"
}

// BadEvents are the scheduler events that end a scheduler's run.
func (rv *runView) BadEvents() []vmtest.SchedEvent {
	var out []vmtest.SchedEvent
	for _, ev := range rv.SR.SchedEvents {
		switch ev.Kind {
		case "ejected", "died", "load_failed":
			out = append(out, ev)
		}
	}
	return out
}

// EventTime is an event's scenario time.
func (rv *runView) EventTime(ev vmtest.SchedEvent) time.Duration {
	return timeline.EventTime(rv.SR, ev)
}

// ShowFailure reports whether the scenario's Failure adds to its check
// failures (a checks_failed Failure only repeats them).
func (rv *runView) ShowFailure() bool {
	f := rv.SR.Failure
	return f != nil && (f.Kind != vmtest.FailChecks || len(rv.SR.Failures) == 0)
}

// P returns the q quantile of a latency distribution, "-" when empty.
func (cg *cgroupStats) P(q float64) string {
	if cg.Latency == nil {
		return "-"
	}
	return fmtDuration(cg.Latency.Quantile(q))
}
