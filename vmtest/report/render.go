package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart sizes: two charts side by side fill a 1280 px page; a wide chart
// spans both columns.
const (
	chartW     = 420 * vg.Millimeter / 3 // about 400 pt
	chartH     = 62 * vg.Millimeter
	wideChartW = 2 * chartW
)

// chart is one figure of the page.
type chart struct {
	ID, Title string
	// Caption says how to read the chart.
	Caption string
	SVG     template.HTML
	// Wide charts span the page's width.
	Wide bool
}

// sansFont is the one typeface of every chart; the page embeds it.
var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

func sans(size vg.Length) font.Font { return font.From(sansFont, size) }

// newPlot returns a plot in the page's style: no title (the page heads
// each chart), small sans-serif text, a light grid.
func newPlot(xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(9)
		a.Tick.Label.Font = sans(8)
		a.Padding = vg.Points(2)
	}
	p.Legend.TextStyle.Font = sans(8)
	p.Legend.ThumbnailWidth = vg.Points(16)
	p.Legend.Padding = vg.Points(1)
	p.Legend.Top = true
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 225}
	g.Horizontal.Color = color.Gray{Y: 225}
	p.Add(g)
	return p
}

// svgProlog matches what vgsvg writes before the <svg> element and the
// element's fixed size, which the page's CSS replaces.
var svgProlog = regexp.MustCompile(`(?s)^.*?<svg width="[^"]*" height="[^"]*"`)

// renderSVG draws p into an inline SVG element.
func renderSVG(p *plot.Plot, w, h vg.Length, title string) (template.HTML, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("draw chart %q: %w", title, err)
	}
	out := svgProlog.ReplaceAll(buf.Bytes(), []byte(`<svg class="plot" role="img" aria-label="`+template.HTMLEscapeString(title)+`"`))
	if !bytes.HasPrefix(out, []byte("<svg ")) {
		return "", fmt.Errorf("draw chart %q: unexpected SVG prolog", title)
	}
	return template.HTML(out), nil // vgsvg escapes the text it writes
}

// palette is the Okabe-Ito colour-blind safe palette (yellow left out:
// too light on white), then darker shades.
var palette = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0x00, 0x9E, 0x73, 0xff}, // green
	{0xCC, 0x79, 0xA7, 0xff}, // purple
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x56, 0xB4, 0xE9, 0xff}, // sky
	{0x33, 0x33, 0x33, 0xff}, // black
	{0x88, 0x66, 0x00, 0xff}, // olive
	{0x99, 0x33, 0x66, 0xff}, // wine
	{0x44, 0xAA, 0x99, 0xff}, // teal
}

func colorAt(i int) color.RGBA { return palette[i%len(palette)] }

// fade mixes c with white: a is the share of c kept.
func fade(c color.RGBA, a float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(float64(v)*a + 255*(1-a) + 0.5) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 0xff}
}

// runDashes is the line style of the nth run of a group: the scheduler
// under test solid, its baseline dashed.
func runDashes(n int) []vg.Length {
	if n == 0 {
		return nil
	}
	return []vg.Length{vg.Points(5), vg.Points(3)}
}

var (
	red  = color.RGBA{0xC0, 0x10, 0x10, 0xff}
	gray = color.RGBA{0x77, 0x77, 0x77, 0xff}
)

// siTicks labels a count axis with k, M and G suffixes.
type siTicks struct{ log bool }

func (t siTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	if t.log {
		ticks = plot.LogTicks{}.Ticks(lo, hi)
	} else {
		ticks = plot.DefaultTicks{}.Ticks(lo, hi)
	}
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = siLabel(ticks[i].Value)
		}
	}
	return ticks
}

// siLabel formats v with an SI suffix and at most three digits.
func siLabel(v float64) string {
	abs := math.Abs(v)
	for _, u := range []struct {
		div  float64
		unit string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if abs >= u.div {
			return strconv.FormatFloat(v/u.div, 'g', 3, 64) + u.unit
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// durationTicks labels a log axis of nanoseconds with durations at powers
// of ten.
type durationTicks struct{}

func (durationTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.LogTicks{}.Ticks(max(lo, 1), max(hi, 10))
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = fmtDuration(time.Duration(ticks[i].Value))
		}
	}
	return ticks
}

// fmtDuration formats d compactly: 10µs, 1.5ms, 2s.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'g', 3, 64) + "s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'g', 3, 64) + "ms"
	case d >= time.Microsecond:
		return strconv.FormatFloat(float64(d)/1e3, 'g', 3, 64) + "µs"
	default:
		return strconv.FormatInt(int64(d), 10) + "ns"
	}
}
