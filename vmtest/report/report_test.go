package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
	"github.com/scxvm/scxvm/vmtest/report/internal/timeline"
)

func readFixture(t testing.TB, name string) *vmtest.Result {
	t.Helper()
	res, err := ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func render(t testing.TB, res *vmtest.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, res, &Options{Generated: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadRoundTrip(t *testing.T) {
	res := synthResult(3, 20, 5, 2, true)
	path := filepath.Join(t.TempDir(), "r.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, res) {
		t.Errorf("read back a different result")
	}
	bad := filepath.Join(t.TempDir(), "matrix.json")
	if err := os.WriteFile(bad, []byte(`{"cells":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(bad); !errors.Is(err, ErrNotResult) {
		t.Errorf("ReadFile(matrix JSON) = %v, want ErrNotResult", err)
	}
	if _, err := Read(strings.NewReader("{")); err == nil {
		t.Error("Read accepted truncated JSON")
	}
}

func TestGroups(t *testing.T) {
	sc := func(name, sched string, base bool) vmtest.ScenarioResult {
		return vmtest.ScenarioResult{Name: name, Scheduler: sched, Baseline: base}
	}
	res := &vmtest.Result{Scenarios: []vmtest.ScenarioResult{
		sc("steady", "fifo", false), sc("steady", "none", true),
		sc("mixed", "fifo", false),
		sc("steady", "fifo", false), sc("steady", "none", true),
	}}
	gs := groups(res, nil, 0)
	var got []string
	for _, g := range gs {
		s := g.ID + ":"
		for _, r := range g.Runs {
			s += " " + r.Label
		}
		got = append(got, s)
	}
	want := []string{"s-steady: fifo none (EEVDF baseline)", "s-mixed: fifo", "s-steady-2: fifo none (EEVDF baseline)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}
}

func TestFairness(t *testing.T) {
	w := func(set int, cpuMs uint64, completed, messenger bool) check.Worker {
		return check.Worker{Cgroup: "a", Set: set, Kind: spec.CpuSpin, Report: spec.WorkerReport{
			CPUTimeNs: cpuMs * 1e6, Completed: completed, IsMessenger: messenger}}
	}
	ws := []check.Worker{w(0, 100, true, false), w(0, 80, true, false), w(0, 1, false, false), w(0, 1, true, true), w(1, 50, true, false)}
	got := fairness(ws, []int{0, 1, 2, 3, 4})
	want := []setStats{
		{Set: 0, Kind: "CpuSpin", Workers: 2, Min: 80 * time.Millisecond, Max: 100 * time.Millisecond, SpreadPct: 20},
		{Set: 1, Kind: "CpuSpin", Workers: 1, Min: 50 * time.Millisecond, Max: 50 * time.Millisecond},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fairness = %+v, want %+v", got, want)
	}
}

func TestMergeLatencies(t *testing.T) {
	w := func(count uint64, lat ...uint64) check.Worker {
		return check.Worker{Report: spec.WorkerReport{ResumeLatenciesNs: lat, ResumeLatencyCount: count}}
	}
	// Worker 1 measured 100 times more wake-ups than worker 0: its
	// latencies dominate the distribution.
	ws := []check.Worker{w(2, 1000, 2000), w(200, 10_000, 20_000), {}}
	d := mergeLatencies(ws, []int{0, 1, 2}, 0)
	if d.Count != 202 {
		t.Errorf("count %d, want 202", d.Count)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.004, 1 * time.Microsecond}, {0.009, 2 * time.Microsecond}, {0.5, 10 * time.Microsecond}, {0.99, 20 * time.Microsecond}} {
		if got := d.Quantile(tc.q); got != tc.want {
			t.Errorf("quantile %v = %v, want %v", tc.q, got, tc.want)
		}
	}
	if d := mergeLatencies(ws, []int{2}, 0); d != nil {
		t.Errorf("no samples: got %+v, want nil", d)
	}
	// A limit keeps a strided subset, still weighted to the full count.
	many := make([]uint64, 1000)
	for i := range many {
		many[i] = uint64(i + 1)
	}
	d = mergeLatencies([]check.Worker{w(1000, many...)}, []int{0}, 100)
	if len(d.Values) != 100 || d.Count != 1000 || d.Cum[len(d.Cum)-1] < 0.999 {
		t.Errorf("limited merge: %d values, count %d, last cum %v; want 100, 1000, 1", len(d.Values), d.Count, d.Cum[len(d.Cum)-1])
	}
	if p50 := d.Quantile(0.5); p50 < 450 || p50 > 550 {
		t.Errorf("limited merge p50 %v, want about 500ns", p50)
	}
}

func TestIncidentLines(t *testing.T) {
	log := []string{"a", "WARNING: CPU: 1 PID: 2 at x", "b", "c", "d", "BUG: y", "e"}
	got := incidentLines(log, 2, 8)
	want := [][]string{{"WARNING: CPU: 1 PID: 2 at x", "b", "c"}, {"BUG: y", "e"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("incidentLines = %q, want %q", got, want)
	}
}

// parse returns the page's DOM.
func parse(t *testing.T, page []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key || (a.Namespace != "" && a.Namespace+":"+a.Key == key) {
			return a.Val, true
		}
	}
	return "", false
}

// TestSelfContained checks that a page loads nothing: every reference is
// an anchor or a data: URL, its policy forbids the rest, and the policy's
// hash matches the page's one script.
func TestSelfContained(t *testing.T) {
	for _, name := range []string{"compare.json", "ejected.json", "panic.json"} {
		page := render(t, readFixture(t, name))
		doc := parse(t, page)
		var csp, script string
		figures, scripts := 0, 0
		walk(doc, func(n *html.Node) {
			if n.Type != html.ElementNode {
				return
			}
			for _, a := range n.Attr {
				switch a.Key {
				case "src", "href", "action", "poster", "srcset", "background":
					if !strings.HasPrefix(a.Val, "#") && !strings.HasPrefix(a.Val, "data:") {
						t.Errorf("%s: <%s %s=%q> refers outside the page", name, n.Data, a.Key, a.Val)
					}
				}
			}
			switch n.Data {
			case "meta":
				if v, _ := attr(n, "http-equiv"); v == "Content-Security-Policy" {
					csp, _ = attr(n, "content")
				}
			case "script":
				scripts++
				if _, ok := attr(n, "src"); ok {
					t.Errorf("%s: external script", name)
				}
				if n.FirstChild != nil {
					script = n.FirstChild.Data
				}
			case "link":
				t.Errorf("%s: <link> element", name)
			case "figure":
				figures++
			}
		})
		if !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: policy %q does not forbid loading", name, csp)
		}
		sum := sha256.Sum256([]byte(script))
		if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; scripts != 1 || !strings.Contains(csp, want) {
			t.Errorf("%s: %d scripts, policy %q, want one script whose hash %s the policy allows", name, scripts, csp, want)
		}
		for _, re := range []string{`@import`, `url\((?:'|")?(?:https?:|//)`} {
			if m := regexp.MustCompile(re).Find(page); m != nil {
				t.Errorf("%s: page refers outside: %q", name, m)
			}
		}
		// The only URLs are the SVG namespaces, which name, not load.
		for _, u := range regexp.MustCompile(`https?://[^"'\s<>)]*`).FindAll(page, -1) {
			if s := string(u); s != "http://www.w3.org/2000/svg" && s != "http://www.w3.org/1999/xlink" {
				t.Errorf("%s: page has URL %q", name, s)
			}
		}
		if m := regexp.MustCompile(`data-charts="(\d+)"`).FindSubmatch(page); m == nil || (string(m[1]) == "0") != (name == "panic.json") || strings.Count(string(page), `<figure class="chart`) != figures {
			t.Errorf("%s: data-charts %q, %d figures", name, m, figures)
		}
	}
}

// TestCharts checks which charts each scenario gets and that comparisons
// draw both runs.
func TestCharts(t *testing.T) {
	res := readFixture(t, "compare.json")
	pg, err := newPage(res, (&Options{}).withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		// cpu hogs: no wake-ups.
		"steady": {"Progress per cgroup", "Progress per worker: fifo", "Progress per worker: none (EEVDF baseline)", "CPU time per cgroup", "Fairness: cpu time per worker", "Migrations over time by cpu", "Timeline"},
		"mixed":  {"Progress per cgroup", "Progress per worker: fifo", "Progress per worker: none (EEVDF baseline)", "CPU time per cgroup", "Fairness: cpu time per worker", "Wake-up latency (CDF) per cgroup", "Migrations over time by cpu", "Timeline"},
	}
	for _, g := range pg.Groups {
		if len(g.Runs) != 2 {
			t.Errorf("%s: %d runs, want the scheduler and its baseline", g.Name, len(g.Runs))
		}
		w, ok := want[g.Name]
		if !ok {
			continue
		}
		var got []string
		for _, f := range g.Figures {
			got = append(got, f.Title)
			if !strings.HasPrefix(string(f.SVG), `<svg class="plot"`) || !strings.HasSuffix(strings.TrimSpace(string(f.SVG)), "</svg>") {
				t.Errorf("%s/%s: not an inline SVG element: %.80q", g.Name, f.Title, f.SVG)
			}
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: charts %q, want %q", g.Name, got, w)
		}
		if g.Name == "steady" && !strings.Contains(strings.Join(g.Notes, " "), "No wake-up latencies") {
			t.Errorf("steady: notes %q do not say why there is no latency chart", g.Notes)
		}
	}
	// Both runs on the same axes: the dashed lines of the baseline are in
	// the comparison charts.
	for _, g := range pg.Groups {
		for _, f := range g.Figures {
			if f.Title == "Progress per cgroup" && !strings.Contains(string(f.SVG), "stroke-dasharray") {
				t.Errorf("%s: progress chart without the baseline's dashed lines", g.Name)
			}
		}
	}
}

// TestEvidence checks that a failure's evidence is on the page, escaped.
func TestEvidence(t *testing.T) {
	page := string(render(t, readFixture(t, "ejected.json")))
	for _, want := range []string{
		`the kernel ejected scheduler &#34;scxvm_error&#34; (runtime error)`,
		`sched_ext: scxvm_error: non-existent DSQ`,
		`<code>scheduler_attached</code>`,
		`Scheduler ejected (scxvm_error) at 0.25s: runtime error`,
		`<span class="badge fail">FAIL</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The run's failure is the scenario's: shown once, with the scenario.
	if strings.Contains(page, "The run failed") {
		t.Error("the run's failure repeats the scenario's")
	}

	// A boot that panicked: the panic's excerpt is the failure's detail,
	// the incident's excerpt and the console's tail; the page shows it
	// once.
	page = string(render(t, readFixture(t, "panic.json")))
	if n := strings.Count(page, "apic_intr_mode_init"); n != 1 {
		t.Errorf("panic backtrace shown %d times, want once", n)
	}
	for _, want := range []string{"The run failed: kernel_panic", "panic at 35.96s after QEMU started", "the agent never said hello"} {
		if !strings.Contains(page, want) {
			t.Errorf("panic page lacks %q", want)
		}
	}

	res := synthResult(2, 10, 0, 0, false)
	sr := &res.Scenarios[0]
	sr.Passed, res.Passed = false, false
	sr.Failures = []check.Failure{{Check: spec.CheckMaxGap, Cgroup: "cg1", Worker: 0, Message: "worker stalled for 2.5s (limit 2s) on cpu 1, 900 ms after start"}}
	sr.KernelLog = []string{"ok", "WARNING: CPU: 0 PID: 1 at <script>alert(1)</script>", "Call Trace:"}
	res.Incidents = []vmtest.Incident{{Kind: ktext.Oops, Line: "Oops: 0000", At: res.BootToHello + 2*time.Second, Excerpt: []string{"Oops: 0000 [#1]", "RIP: x"}}}
	res.Failure = &vmtest.Failure{Kind: vmtest.FailPanic, Message: "kernel oops", Detail: []string{"Oops: 0000 [#1]"}}
	page = string(render(t, res))
	for _, want := range []string{
		"<code>max_gap</code> [cg1 worker 0]: worker stalled for 2.5s (limit 2s) on cpu 1, 900 ms after start",
		"WARNING: CPU: 0 PID: 1 at &lt;script&gt;alert(1)&lt;/script&gt;",
		"Kernel oops at 1.00s", // 2 s after the job, whose setup took 1 s
		"RIP: x",
		"The run failed: kernel_panic",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("kernel log line not escaped")
	}
}

func TestTimelinePlacement(t *testing.T) {
	res := readFixture(t, "compare.json")
	spans := timeline.Layout(res)
	if spans[0].Job != res.BootToHello || spans[1].Job != res.BootToHello+res.Scenarios[0].Elapsed {
		t.Errorf("spans %+v do not follow boot and the first job", spans[:2])
	}
}

// TestEscaping: names from scenario files reach the charts' text and the
// tables escaped.
func TestEscaping(t *testing.T) {
	res := synthResult(4, 20, 10, 2, false)
	for i := range res.Scenarios[0].Workers {
		res.Scenarios[0].Workers[i].Cgroup = `x<b onmouseover="alert(1)">y`
	}
	page := string(render(t, res))
	if strings.Contains(page, "<b onmouseover") {
		t.Error("a cgroup name reached the page unescaped")
	}
	if !strings.Contains(page, "x&lt;b onmouseover=") {
		t.Error("the escaped cgroup name is not on the page")
	}
}
