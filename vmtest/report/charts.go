package report

import (
	"fmt"
	"image/color"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/report/internal/timeline"
)

// legendItem is one entry of a chart's legend, which the page draws below
// the chart so that it never hides data.
type legendItem struct {
	Label string
	Color string // CSS colour
	// Style is "line", "dashed", "box" or a glyph character.
	Style string
}

// figure is a chart with its legend, ready for the page.
type figure struct {
	chart
	Legend []legendItem
}

// builder draws the charts of one group.
type builder struct {
	g *group
	// maxPoints caps the points of one line; budget those of one chart.
	maxPoints, budget int
	// cgroups lists the cgroup names of every run; a cgroup's colour is
	// its index.
	cgroups []string
	// lo and hi bound the time axes (scenario time) of every chart.
	lo, hi time.Duration
}

func newBuilder(g *group, maxPoints, budget int) *builder {
	b := &builder{g: g, maxPoints: maxPoints, budget: budget}
	for _, rv := range g.Runs {
		for _, cg := range rv.Cgroups {
			if !slices.Contains(b.cgroups, cg.Name) {
				b.cgroups = append(b.cgroups, cg.Name)
			}
		}
		lo, hi := runSpan(rv)
		b.lo, b.hi = min(b.lo, lo), max(b.hi, hi)
	}
	if b.hi <= b.lo {
		b.hi = b.lo + time.Second
	}
	return b
}

func (b *builder) cgroupColor(name string) color.RGBA {
	return colorAt(slices.Index(b.cgroups, name))
}

// perLine is how many points each of n lines may have.
func (b *builder) perLine(n int) int {
	return max(16, min(b.maxPoints, b.budget/max(n, 1)))
}

// setTimeAxis gives p the group's shared time axis, from the workers'
// start (the timeline also shows what happened before it).
func (b *builder) setTimeAxis(p *plot.Plot) {
	p.X.Min, p.X.Max = 0, b.hi.Seconds()
}

// cgroupLegend returns the legend entries of the cgroups in order, then
// of the runs' line styles when there are several runs.
func (b *builder) cgroupLegend(names []string, style string) []legendItem {
	var out []legendItem
	for _, n := range names {
		out = append(out, legendItem{Label: n, Color: cssColor(b.cgroupColor(n)), Style: style})
	}
	return append(out, b.runLegend()...)
}

func (b *builder) runLegend() []legendItem {
	if len(b.g.Runs) < 2 {
		return nil
	}
	var out []legendItem
	for i, rv := range b.g.Runs {
		style := "line"
		if i > 0 {
			style = "dashed"
		}
		out = append(out, legendItem{Label: rv.Label, Color: cssColor(gray), Style: style})
	}
	return out
}

func cssColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// charts draws every chart of the group; notes say which have no data.
func (b *builder) charts() (figs []figure, notes []string, err error) {
	add := func(f figure, ok bool, err2 error, none string) {
		switch {
		case err2 != nil:
			err = err2
		case ok:
			figs = append(figs, f)
		case none != "":
			notes = append(notes, none)
		}
	}
	f, ok, e := b.rateChart()
	add(f, ok, e, "No progress over time: the scenario sent fewer than two progress samples.")
	for i := range b.g.Runs {
		f, ok, e := b.workerChart(i)
		add(f, ok, e, "")
	}
	f, ok, e = b.cpuChart()
	add(f, ok, e, "No cpu time: no worker reported.")
	f, ok, e = b.fairnessChart()
	add(f, ok, e, "")
	f, ok, e = b.latencyChart()
	add(f, ok, e, "No wake-up latencies: no worker of this scenario blocks and wakes up.")
	f, ok, e = b.migrationChart()
	add(f, ok, e, "No migrations: no worker changed cpu.")
	f, ok, e = b.timelineChart()
	add(f, ok, e, "")
	if err != nil {
		return nil, nil, err
	}
	for i := range figs {
		figs[i].ID = fmt.Sprintf("%s-c%d", b.g.ID, i+1)
	}
	return figs, notes, nil
}

// sumAt sums the iteration counters of the given workers in sample s.
func sumAt(s vmtest.ProgressSample, workers []int) float64 {
	var n uint64
	for _, w := range workers {
		if w < len(s.Iterations) {
			n += s.Iterations[w]
		}
	}
	return float64(n)
}

// samplePeriod is the median time between progress samples.
func samplePeriod(prog []vmtest.ProgressSample) time.Duration {
	if len(prog) < 2 {
		return 0
	}
	d := make([]time.Duration, 0, len(prog)-1)
	for i := 1; i < len(prog); i++ {
		d = append(d, prog[i].Elapsed-prog[i-1].Elapsed)
	}
	slices.Sort(d)
	return d[len(d)/2]
}

func styledLine(xys plotter.XYs, c color.RGBA, run int, width vg.Length) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = width
	l.Dashes = runDashes(run)
	return l, nil
}

// headroom leaves space above the highest value of a chart whose y axis
// starts at zero (or, on a log axis, above its floor).
func headroom(p *plot.Plot, log bool) {
	if log {
		p.Y.Max *= 1.6
		return
	}
	if p.Y.Max > p.Y.Min {
		p.Y.Max += (p.Y.Max - p.Y.Min) * 0.06
	}
}

// rateChart draws each cgroup's iterations per second over time.
func (b *builder) rateChart() (figure, bool, error) {
	type series struct {
		xys  plotter.XYs
		run  int
		name string
		mean float64
	}
	var all []series
	lines := 0
	for _, rv := range b.g.Runs {
		if len(rv.SR.Progress) >= 2 {
			lines += len(rv.Cgroups)
		}
	}
	for ri, rv := range b.g.Runs {
		prog := rv.SR.Progress
		if len(prog) < 2 {
			continue
		}
		pick := timeline.Pick(len(prog), b.perLine(lines))
		for _, cg := range rv.Cgroups {
			xys := make(plotter.XYs, 0, len(pick))
			prev := pick[0]
			for _, k := range pick[1:] {
				dt := (prog[k].Elapsed - prog[prev].Elapsed).Seconds()
				if dt <= 0 {
					continue
				}
				d := max(0, sumAt(prog[k], cg.Workers)-sumAt(prog[prev], cg.Workers))
				xys = append(xys, plotter.XY{X: prog[k].Elapsed.Seconds(), Y: d / dt})
				prev = k
			}
			if len(xys) == 0 {
				continue
			}
			var mean float64
			if secs := rv.SR.RunTime().Seconds(); secs > 0 {
				mean = float64(cg.Iterations) / secs
			}
			all = append(all, series{xys: xys, run: ri, name: cg.Name, mean: mean})
		}
	}
	if len(all) == 0 {
		return figure{}, false, nil
	}
	p := newPlot("time since the workers started (s)", "iterations/s")
	b.setTimeAxis(p)
	// Cgroups whose rates differ by orders of magnitude (cpu hogs beside
	// sleepers) share a log axis; zero is drawn on its bottom edge.
	lowMean, highMean, lowPos := 0.0, 0.0, 0.0
	for _, s := range all {
		if s.mean > 0 && (lowMean == 0 || s.mean < lowMean) {
			lowMean = s.mean
		}
		highMean = max(highMean, s.mean)
		for _, xy := range s.xys {
			if xy.Y > 0 && (lowPos == 0 || xy.Y < lowPos) {
				lowPos = xy.Y
			}
		}
	}
	logY := lowMean > 0 && highMean/lowMean > 30 && lowPos > 0
	caption := "Iterations per second of each cgroup between progress samples."
	if logY {
		floor := lowPos / 2
		for _, s := range all {
			for i := range s.xys {
				s.xys[i].Y = max(s.xys[i].Y, floor)
			}
		}
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = siTicks{log: true}
		p.Y.Min = floor
		caption += " Log scale: the cgroups' rates differ by orders of magnitude; a stretch without progress lies on the bottom edge."
	} else {
		p.Y.Min = 0
		p.Y.Tick.Marker = siTicks{}
	}
	var names []string
	for _, s := range all {
		l, err := styledLine(s.xys, b.cgroupColor(s.name), s.run, vg.Points(1.2))
		if err != nil {
			return figure{}, false, fmt.Errorf("progress rate chart: %w", err)
		}
		l.StepStyle = plotter.PreStep
		p.Add(l)
		if !slices.Contains(names, s.name) {
			names = append(names, s.name)
		}
	}
	headroom(p, logY)
	svg, err := renderSVG(p, chartW, chartH, "Progress rate per cgroup")
	if err != nil {
		return figure{}, false, err
	}
	return figure{chart: chart{Title: "Progress per cgroup", Caption: caption, SVG: svg}, Legend: b.cgroupLegend(names, "line")}, true, nil
}

// workerChart draws each worker's progress in run ri as a share of its
// final iteration count.
func (b *builder) workerChart(ri int) (figure, bool, error) {
	rv := b.g.Runs[ri]
	prog := rv.SR.Progress
	if len(prog) < 2 || len(rv.SR.Workers) == 0 {
		return figure{}, false, nil
	}
	p := newPlot("time since the workers started (s)", "% of the worker's iterations")
	b.setTimeAxis(p)
	p.Y.Min, p.Y.Max = 0, 100
	n := len(rv.SR.Workers)
	pick := timeline.Pick(len(prog), b.perLine(n))
	width := vg.Points(1)
	if n > 32 {
		width = vg.Points(0.5)
	}
	last := prog[len(prog)-1]
	for w, wr := range rv.SR.Workers {
		var final uint64
		if w < len(last.Iterations) {
			final = last.Iterations[w]
		}
		xys := make(plotter.XYs, 0, len(pick)+1)
		xys = append(xys, plotter.XY{})
		for _, k := range pick {
			var v float64
			if final > 0 && w < len(prog[k].Iterations) {
				v = 100 * float64(prog[k].Iterations[w]) / float64(final)
			}
			xys = append(xys, plotter.XY{X: prog[k].Elapsed.Seconds(), Y: v})
		}
		l, err := styledLine(xys, b.cgroupColor(wr.Cgroup), 0, width)
		if err != nil {
			return figure{}, false, fmt.Errorf("worker progress chart: %w", err)
		}
		p.Add(l)
	}
	title := "Progress per worker"
	if len(b.g.Runs) > 1 {
		title += ": " + rv.Label
	}
	svg, err := renderSVG(p, chartW, chartH, title)
	if err != nil {
		return figure{}, false, err
	}
	var names []string
	for _, cg := range rv.Cgroups {
		names = append(names, cg.Name)
	}
	caption := fmt.Sprintf("Each line is one worker's iteration count as a share of its final count; a flat stretch is one without progress (samples every %v).", samplePeriod(prog).Round(time.Millisecond))
	if len(b.g.Runs) > 1 {
		caption += " Same axes as the other run's chart."
	}
	var legend []legendItem
	for _, name := range names {
		legend = append(legend, legendItem{Label: name, Color: cssColor(b.cgroupColor(name)), Style: "line"})
	}
	return figure{chart: chart{Title: title, Caption: caption, SVG: svg}, Legend: legend}, true, nil
}

// groupOffset is the x offset of run ri among nr runs in a grouped chart.
func groupOffset(ri, nr int, step float64) float64 {
	return (float64(ri) - float64(nr-1)/2) * step
}

// cpuChart draws each cgroup's total cpu time, the runs side by side.
func (b *builder) cpuChart() (figure, bool, error) {
	if len(b.cgroups) == 0 {
		return figure{}, false, nil
	}
	p := newPlot("cgroup", "cpu time (s)")
	p.Y.Min = 0
	nr := len(b.g.Runs)
	barW := vg.Points(min(36, 240/float64(len(b.cgroups)*nr)))
	for ri, rv := range b.g.Runs {
		for _, cg := range rv.Cgroups {
			ci := slices.Index(b.cgroups, cg.Name)
			bar, err := plotter.NewBarChart(plotter.Values{cg.CPU.Seconds()}, barW)
			if err != nil {
				return figure{}, false, fmt.Errorf("cpu chart: %w", err)
			}
			bar.XMin = float64(ci)
			bar.Offset = vg.Length(groupOffset(ri, nr, float64(barW)))
			c := b.cgroupColor(cg.Name)
			bar.LineStyle.Color = c
			bar.Color = c
			if ri > 0 {
				bar.Color = fade(c, 0.35)
				bar.LineStyle.Dashes = runDashes(ri)
			}
			p.Add(bar)
		}
	}
	p.NominalX(b.cgroups...)
	p.X.Min, p.X.Max = -0.6, float64(len(b.cgroups))-0.4
	headroom(p, false)
	svg, err := renderSVG(p, chartW, chartH, "CPU time per cgroup")
	if err != nil {
		return figure{}, false, err
	}
	caption := "Sum of the cgroup's workers' thread cpu time."
	var legend []legendItem
	if nr > 1 {
		caption += " Solid bars: " + b.g.Runs[0].Label + "; pale dashed bars: " + b.g.Runs[1].Label + "."
		legend = []legendItem{{Label: b.g.Runs[0].Label, Color: cssColor(gray), Style: "box"}, {Label: b.g.Runs[1].Label, Color: cssColor(fade(gray, 0.35)), Style: "box"}}
	}
	return figure{chart: chart{Title: "CPU time per cgroup", Caption: caption, SVG: svg}, Legend: legend}, true, nil
}

// fairnessChart draws the spread of the workers' cpu time in each cgroup:
// a box plot with every worker as a dot.
func (b *builder) fairnessChart() (figure, bool, error) {
	p := newPlot("cgroup", "cpu time per worker (s)")
	p.Y.Min = 0
	nr := len(b.g.Runs)
	drawn := false
	for ri, rv := range b.g.Runs {
		for _, cg := range rv.Cgroups {
			var vals plotter.Values
			for _, wi := range cg.Workers {
				r := rv.SR.Workers[wi].Report
				if r.Completed && !r.IsMessenger {
					vals = append(vals, time.Duration(r.CPUTimeNs).Seconds())
				}
			}
			if len(vals) == 0 {
				continue
			}
			drawn = true
			ci := slices.Index(b.cgroups, cg.Name)
			x := float64(ci) + groupOffset(ri, nr, 0.34)
			c := b.cgroupColor(cg.Name)
			box, err := plotter.NewBoxPlot(vg.Points(18), x, vals)
			if err != nil {
				return figure{}, false, fmt.Errorf("fairness chart: %w", err)
			}
			box.BoxStyle.Color = c
			box.MedianStyle.Color = c
			box.WhiskerStyle.Color = c
			box.BoxStyle.Dashes = runDashes(ri)
			box.GlyphStyle.Radius = 0 // every worker is drawn below
			p.Add(box)
			dots := make(plotter.XYs, len(vals))
			for i, v := range vals {
				jitter := 0.0
				if len(vals) > 1 {
					jitter = (float64(i)/float64(len(vals)-1) - 0.5) * 0.12
				}
				dots[i] = plotter.XY{X: x + jitter, Y: v}
			}
			sc, err := plotter.NewScatter(dots)
			if err != nil {
				return figure{}, false, fmt.Errorf("fairness chart: %w", err)
			}
			sc.Color = c
			sc.Radius = vg.Points(1.6)
			sc.Shape = draw.CircleGlyph{}
			if ri > 0 {
				sc.Shape = draw.RingGlyph{}
			}
			p.Add(sc)
		}
	}
	if !drawn {
		return figure{}, false, nil
	}
	p.NominalX(b.cgroups...)
	p.X.Min, p.X.Max = -0.6, float64(len(b.cgroups))-0.4
	headroom(p, false)
	svg, err := renderSVG(p, chartW, chartH, "Fairness: cpu time per worker")
	if err != nil {
		return figure{}, false, err
	}
	caption := "Each dot is a worker (fan-out messengers and workers that did not report left out); the box spans the middle half. The fairness check compares max and min within each workload set (table above)."
	var legend []legendItem
	if nr > 1 {
		caption += " Left, solid: " + b.g.Runs[0].Label + "; right, dashed with rings: " + b.g.Runs[1].Label + "."
		legend = []legendItem{{Label: b.g.Runs[0].Label, Color: cssColor(gray), Style: "●"}, {Label: b.g.Runs[1].Label, Color: cssColor(gray), Style: "○"}}
	}
	return figure{chart: chart{Title: "Fairness: cpu time per worker", Caption: caption, SVG: svg}, Legend: legend}, true, nil
}

// cdfPick returns the indexes of d's values to draw: evenly spaced, plus
// more of the tail above the 99th percentile.
func cdfPick(d *latencyDist, limit int) []int {
	n := len(d.Values)
	pick := timeline.Pick(n, limit)
	tail, _ := slices.BinarySearch(d.Cum, 0.99)
	if tail < n-1 {
		for _, i := range timeline.Pick(n-tail, max(limit/4, 2)) {
			pick = append(pick, tail+i)
		}
		slices.Sort(pick)
		pick = slices.Compact(pick)
	}
	return pick
}

// latencyChart draws the distribution of each cgroup's wake-up latencies.
func (b *builder) latencyChart() (figure, bool, error) {
	lines := 0
	for _, rv := range b.g.Runs {
		for _, cg := range rv.Cgroups {
			if cg.Latency != nil {
				lines++
			}
		}
	}
	if lines == 0 {
		return figure{}, false, nil
	}
	p := newPlot("wake-up latency", "fraction of wake-ups")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = durationTicks{}
	p.Y.Min, p.Y.Max = 0, 1
	var names []string
	for ri, rv := range b.g.Runs {
		for _, cg := range rv.Cgroups {
			d := cg.Latency
			if d == nil {
				continue
			}
			pick := cdfPick(d, b.perLine(lines))
			xys := make(plotter.XYs, 0, len(pick)+1)
			for _, i := range pick {
				xys = append(xys, plotter.XY{X: max(d.Values[i], 1), Y: d.Cum[i]})
			}
			l, err := styledLine(xys, b.cgroupColor(cg.Name), ri, vg.Points(1.2))
			if err != nil {
				return figure{}, false, fmt.Errorf("latency chart: %w", err)
			}
			p.Add(l)
			if !slices.Contains(names, cg.Name) {
				names = append(names, cg.Name)
			}
		}
	}
	svg, err := renderSVG(p, chartW, chartH, "Wake-up latency CDF per cgroup")
	if err != nil {
		return figure{}, false, err
	}
	caption := "Share of wake-ups (block to running again) that took at most x, from the workers' latency samples, each worker weighted by its wake-up count. Percentiles are in the table above."
	return figure{chart: chart{Title: "Wake-up latency (CDF) per cgroup", Caption: caption, SVG: svg}, Legend: b.cgroupLegend(names, "line")}, true, nil
}

// migrationChart draws the cumulative count of migrations into each cpu
// over time.
func (b *builder) migrationChart() (figure, bool, error) {
	var cpus []int
	for _, rv := range b.g.Runs {
		for _, w := range rv.SR.Workers {
			for _, m := range w.Report.Migrations {
				if !slices.Contains(cpus, m.ToCPU) {
					cpus = append(cpus, m.ToCPU)
				}
			}
		}
	}
	if len(cpus) == 0 {
		return figure{}, false, nil
	}
	slices.Sort(cpus)
	p := newPlot("time since the workers started (s)", "migrations into the cpu")
	b.setTimeAxis(p)
	p.Y.Min = 0
	p.Y.Tick.Marker = siTicks{}
	lines := len(cpus) * len(b.g.Runs)
	for ri, rv := range b.g.Runs {
		times := make(map[int][]uint64, len(cpus))
		for _, w := range rv.SR.Workers {
			for _, m := range w.Report.Migrations {
				times[m.ToCPU] = append(times[m.ToCPU], m.AtNs)
			}
		}
		end := rv.SR.RunTime().Seconds()
		for ci, c := range cpus {
			ts := times[c]
			slices.Sort(ts)
			pick := timeline.Pick(len(ts), b.perLine(lines))
			xys := make(plotter.XYs, 0, len(pick)+2)
			xys = append(xys, plotter.XY{})
			for _, i := range pick {
				xys = append(xys, plotter.XY{X: time.Duration(ts[i]).Seconds(), Y: float64(i + 1)})
			}
			xys = append(xys, plotter.XY{X: max(end, xys[len(xys)-1].X), Y: float64(len(ts))})
			l, err := styledLine(xys, colorAt(ci), ri, vg.Points(1.2))
			if err != nil {
				return figure{}, false, fmt.Errorf("migration chart: %w", err)
			}
			l.StepStyle = plotter.PostStep
			p.Add(l)
		}
	}
	headroom(p, false)
	svg, err := renderSVG(p, chartW, chartH, "Migrations over time by cpu")
	if err != nil {
		return figure{}, false, err
	}
	var legend []legendItem
	for ci, c := range cpus {
		legend = append(legend, legendItem{Label: fmt.Sprintf("cpu %d", c), Color: cssColor(colorAt(ci)), Style: "line"})
	}
	legend = append(legend, b.runLegend()...)
	caption := "Running count of the workers' migrations into each cpu (a worker saw its cpu change between two checks); the slope is the migration rate."
	return figure{chart: chart{Title: "Migrations over time by cpu", Caption: caption, SVG: svg}, Legend: legend}, true, nil
}

// Glyphs of the timeline.
var eventGlyphs = map[string]struct {
	shape draw.GlyphDrawer
	color color.RGBA
	char  string
}{
	"attached":    {draw.CircleGlyph{}, palette[2], "●"},
	"detached":    {draw.RingGlyph{}, gray, "○"},
	"ejected":     {draw.TriangleGlyph{}, red, "▲"},
	"died":        {draw.TriangleGlyph{}, red, "▲"},
	"load_failed": {draw.TriangleGlyph{}, red, "▲"},
	"state":       {draw.SquareGlyph{}, palette[0], "□"},
	"incident":    {draw.CrossGlyph{}, red, "✕"},
}

// timelineChart draws, per run, the scheduler events, the sched_ext state
// changes, the kernel incidents and each worker's longest stall on one
// time axis.
func (b *builder) timelineChart() (figure, bool, error) {
	type row struct {
		label string
		plot  func(y float64) error
	}
	var rows []row
	p := newPlot("time since the workers started (s)", "")
	p.X.Min, p.X.Max = b.lo.Seconds(), b.hi.Seconds()
	labelStyle := text.Style{Font: sans(7), Color: color.Black, YAlign: draw.YCenter, Handler: p.TextHandler}
	points := func(xys plotter.XYs, kinds []string, labels []string) error {
		if len(xys) == 0 {
			return nil
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		sc.GlyphStyleFunc = func(i int) draw.GlyphStyle {
			g := eventGlyphs[kinds[i]]
			if g.shape == nil {
				g = eventGlyphs["state"]
			}
			return draw.GlyphStyle{Color: g.color, Radius: vg.Points(3), Shape: g.shape}
		}
		p.Add(sc)
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i] = labelStyle
		}
		lb.Offset = vg.Point{X: vg.Points(5)}
		p.Add(lb)
		return nil
	}
	prefix := func(rv *runView) string {
		if len(b.g.Runs) > 1 {
			return rv.SR.Scheduler + ": "
		}
		return ""
	}
	for ri, rv := range b.g.Runs {
		sr := rv.SR
		rows = append(rows, row{prefix(rv) + "scheduler", func(y float64) error {
			var xys plotter.XYs
			var kinds, labels []string
			for _, ev := range sr.SchedEvents {
				xys = append(xys, plotter.XY{X: timeline.EventTime(sr, ev).Seconds(), Y: y})
				kinds = append(kinds, ev.Kind)
				l := ev.Kind
				if ev.Reason != "" {
					l += " (" + ev.Reason + ")"
				}
				labels = append(labels, l)
			}
			return points(xys, kinds, labels)
		}})
		rows = append(rows, row{prefix(rv) + "sched_ext state", func(y float64) error {
			var xys plotter.XYs
			var kinds, labels []string
			for _, c := range timeline.StateChanges(sr) {
				l := c.State
				if !c.First && c.HasSeq && c.HasPrevSeq && c.Seq != c.PrevSeq {
					l += fmt.Sprintf(" (enable_seq %d to %d)", c.PrevSeq, c.Seq)
				}
				xys = append(xys, plotter.XY{X: c.At.Seconds(), Y: y})
				kinds = append(kinds, "state")
				labels = append(labels, l)
			}
			return points(xys, kinds, labels)
		}})
		rows = append(rows, row{prefix(rv) + "kernel incidents", func(y float64) error {
			var xys plotter.XYs
			var kinds, labels []string
			for _, in := range rv.Incidents {
				xys = append(xys, plotter.XY{X: in.At.Seconds(), Y: y})
				kinds = append(kinds, "incident")
				labels = append(labels, in.Kind.String())
			}
			return points(xys, kinds, labels)
		}})
		rows = append(rows, row{prefix(rv) + "longest stalls", func(y float64) error {
			limit := sr.Checks.MaxGap
			if limit <= 0 {
				limit = spec.DefaultMaxGap
			}
			n := len(sr.Workers)
			for wi, w := range sr.Workers {
				gap, ok := timeline.LongestGap(w)
				if !ok {
					continue
				}
				off := 0.0
				if n > 1 {
					off = (float64(wi)/float64(n-1) - 0.5) * 0.7
				}
				c := b.cgroupColor(w.Cgroup)
				width := vg.Points(1.5)
				if gap.To-gap.From > limit {
					c, width = red, vg.Points(2.5)
				}
				l, err := styledLine(plotter.XYs{{X: gap.From.Seconds(), Y: y + off}, {X: gap.To.Seconds(), Y: y + off}}, c, ri, width)
				if err != nil {
					return err
				}
				p.Add(l)
			}
			return nil
		}})
	}
	n := len(rows)
	ticks := make([]plot.Tick, n)
	for i, r := range rows {
		y := float64(n - 1 - i)
		ticks[i] = plot.Tick{Value: y, Label: r.label}
		if err := r.plot(y); err != nil {
			return figure{}, false, fmt.Errorf("timeline chart: %w", err)
		}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	// The workers' start and stop.
	for ri, rv := range b.g.Runs {
		for _, x := range []float64{0, rv.SR.RunTime().Seconds()} {
			l, err := styledLine(plotter.XYs{{X: x, Y: -0.6}, {X: x, Y: float64(n) - 0.4}}, fade(gray, 0.6), 1, vg.Points(0.8))
			if err != nil {
				return figure{}, false, fmt.Errorf("timeline chart: %w", err)
			}
			if ri > 0 {
				l.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
			}
			p.Add(l)
		}
	}
	h := vg.Length(n)*vg.Points(20) + vg.Points(48)
	svg, err := renderSVG(p, wideChartW, h, "Timeline")
	if err != nil {
		return figure{}, false, err
	}
	legend := []legendItem{
		{Label: "attached", Color: cssColor(eventGlyphs["attached"].color), Style: "●"},
		{Label: "detached", Color: cssColor(gray), Style: "○"},
		{Label: "ejected, died, load failed", Color: cssColor(red), Style: "▲"},
		{Label: "sched_ext state", Color: cssColor(palette[0]), Style: "□"},
		{Label: "kernel incident", Color: cssColor(red), Style: "✕"},
		{Label: "stall above the max_gap limit", Color: cssColor(red), Style: "line"},
	}
	caption := "Scheduler events, sched_ext state changes and enable_seq bumps (from the sched_ext telemetry readings, else the progress samples), kernel incidents seen on the console, and each worker's longest gap between progress checkpoints (one line per worker, in cgroup colours). Grey lines mark the workers' start and stop. Kernel log lines carry no time in the result; they are listed with the verdict."
	if len(b.g.Runs) > 1 {
		caption = strings.Replace(caption, "Grey lines", "Grey lines (dotted for "+b.g.Runs[1].Label+")", 1)
	}
	return figure{chart: chart{Title: "Timeline", Caption: caption, SVG: svg, Wide: true}, Legend: legend}, true, nil
}
