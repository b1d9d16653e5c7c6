// Package testsummary reads the event stream of `go test -json`, shows
// it as go test shows its output without -v (package lines, and the
// output of failed tests), and ends with a summary: the failed tests with
// their output, the skipped tests with their reason, and the counts.
//
// Under CI a skip is allowed only when a test needs hardware the CI
// machines lack (internal/testenv.Hardware); any other skip fails the
// run, so that CI cannot silently skip what it claims to test.
//
// Usage sketch (internal/cmd/testsummary is the command):
//
//	s := testsummary.New(os.Stdout, testsummary.Options{CI: testenv.InCI()})
//	err := s.Read(stdin)
//	s.WriteSummary(os.Stdout)
//	if !s.OK() { os.Exit(1) }
package testsummary

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
)

// Event is one line of `go test -json` (see `go doc cmd/test2json`).
type Event struct {
	Time        time.Time `json:",omitzero"`
	Action      string
	Package     string  `json:",omitempty"`
	Test        string  `json:",omitempty"`
	Elapsed     float64 `json:",omitempty"`
	Output      string  `json:",omitempty"`
	FailedBuild string  `json:",omitempty"`
	// ImportPath is set on the go command's build events
	// ("build-output", "build-fail").
	ImportPath string `json:",omitempty"`
}

// Options tune a Summary.
type Options struct {
	// Verbose echoes every output line, as go test -v does; otherwise
	// only package lines and the output of failed tests are shown.
	Verbose bool
	// CI fails the run when a test skipped for any reason but missing
	// hardware (testenv.Hardware).
	CI bool
}

// Test is a test (or subtest) that ended.
type Test struct {
	Package string
	Name    string
	Elapsed time.Duration
	// Output is what the test printed, without go test's own "=== RUN"
	// style lines.
	Output string
	// Reason is a skip's message (the last log line and what follows).
	Reason string
	// Device is set for a skip of testenv.Hardware.
	Device testenv.Device
}

// Package is a tested package's outcome.
type Package struct {
	Name string
	// Action is "pass", "fail" or "skip" (no test files or no tests).
	Action string
	// Line is go test's own line for it ("ok  \tpkg\t1.2s").
	Line string
	// Output is its output outside any test (panics, TestMain, build
	// errors), kept for a failure without a failed test.
	Output string
}

// Summary accumulates a go test -json stream.
type Summary struct {
	opts Options
	w    io.Writer

	// Passed, Failed and Skipped are the tests by outcome, in the order
	// they ended. Failed includes tests that never ended because their
	// package's test binary did (a panic, a timeout).
	Passed, Failed, Skipped []Test
	// Packages are the packages in the order they ended.
	Packages []Package
	// Other are input lines that were not JSON events.
	Other int

	running map[key]*running
	pkgOut  map[string]*strings.Builder
	builds  map[string]*strings.Builder
	events  int
}

type key struct{ pkg, test string }

type running struct {
	out   strings.Builder
	order int
}

// New returns a Summary that echoes the stream to w as it reads it.
func New(w io.Writer, opts Options) *Summary {
	return &Summary{opts: opts, w: w, running: map[key]*running{}, pkgOut: map[string]*strings.Builder{}, builds: map[string]*strings.Builder{}}
}

// maxLine bounds one line of the stream (a test's huge output line).
const maxLine = 16 << 20

// Read consumes a go test -json stream until EOF. Lines that are not
// JSON events (the go command's own messages) are echoed as they are.
func (s *Summary) Read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		var ev Event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			s.Other++
			fmt.Fprintf(s.w, "%s\n", line)
			continue
		}
		s.Add(ev)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read go test -json stream: %w", err)
	}
	s.finish()
	return nil
}

// Add records one event.
func (s *Summary) Add(ev Event) {
	s.events++
	switch ev.Action {
	case "build-output":
		b := s.builds[ev.ImportPath]
		if b == nil {
			b = &strings.Builder{}
			s.builds[ev.ImportPath] = b
		}
		b.WriteString(ev.Output)
		io.WriteString(s.w, ev.Output)
		return
	case "build-fail":
		return
	}
	if ev.Test == "" {
		s.packageEvent(ev)
		return
	}
	k := key{ev.Package, ev.Test}
	rt := s.running[k]
	if rt == nil {
		rt = &running{order: s.events}
		s.running[k] = rt
	}
	switch ev.Action {
	case "output":
		rt.out.WriteString(ev.Output)
		if s.opts.Verbose {
			io.WriteString(s.w, ev.Output)
		}
	case "pass", "fail", "skip":
		delete(s.running, k)
		t := Test{Package: ev.Package, Name: ev.Test, Elapsed: seconds(ev.Elapsed), Output: testOutput(rt.out.String())}
		switch ev.Action {
		case "pass":
			s.Passed = append(s.Passed, t)
		case "fail":
			s.Failed = append(s.Failed, t)
			if !s.opts.Verbose {
				io.WriteString(s.w, t.Output)
			}
		case "skip":
			t.Reason = skipReason(t.Output)
			t.Device, _ = testenv.HardwareSkip(t.Reason)
			s.Skipped = append(s.Skipped, t)
		}
	}
}

func (s *Summary) packageEvent(ev Event) {
	out := s.pkgOut[ev.Package]
	if out == nil {
		out = &strings.Builder{}
		s.pkgOut[ev.Package] = out
	}
	switch ev.Action {
	case "output":
		out.WriteString(ev.Output)
		if s.opts.Verbose || !goTestChatter(ev.Output) {
			io.WriteString(s.w, ev.Output)
		}
	case "pass", "fail", "skip":
		// Tests still running when their binary ended never will end.
		s.endRunning(ev.Package)
		p := Package{Name: ev.Package, Action: ev.Action, Output: out.String()}
		p.Line = packageLine(p.Output, ev.Package)
		if p.Line == "" && ev.FailedBuild != "" {
			p.Line = "FAIL\t" + ev.Package + " [build failed]"
		}
		if b := s.builds[ev.FailedBuild]; b != nil {
			p.Output = b.String() + p.Output
		}
		s.Packages = append(s.Packages, p)
		delete(s.pkgOut, ev.Package)
	}
}

// endRunning fails every test of pkg that started and did not end.
func (s *Summary) endRunning(pkg string) {
	var ks []key
	for k := range s.running {
		if k.pkg == pkg {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b key) int { return s.running[a].order - s.running[b].order })
	for _, k := range ks {
		rt := s.running[k]
		delete(s.running, k)
		out := testOutput(rt.out.String())
		s.Failed = append(s.Failed, Test{Package: pkg, Name: k.test, Output: out + "(the test never ended: its package's test binary exited first)\n"})
	}
}

// finish ends tests and packages cut off by the end of the stream.
func (s *Summary) finish() {
	pkgs := map[string]bool{}
	for k := range s.running {
		pkgs[k.pkg] = true
	}
	for p := range s.pkgOut {
		pkgs[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(pkgs)) {
		s.endRunning(p)
		out := ""
		if b := s.pkgOut[p]; b != nil {
			out = b.String()
		}
		s.Packages = append(s.Packages, Package{Name: p, Action: "fail", Line: "FAIL\t" + p + " [the stream ended before the package's result]", Output: out})
		delete(s.pkgOut, p)
	}
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// goTestChatter reports whether a package-level output line is one that
// go test prints only with -v: the bare "PASS" line, "=== RUN" style
// lines, and testing's per-test result lines.
func goTestChatter(line string) bool {
	l := strings.TrimRight(line, "\n")
	return l == "PASS" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(strings.TrimLeft(l, " "), "--- PASS: ") || strings.HasPrefix(strings.TrimLeft(l, " "), "--- SKIP: ")
}

// testOutput drops go test's "=== RUN", "=== PAUSE", "=== CONT" and
// "=== NAME" lines from a test's output.
func testOutput(out string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "=== ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// logLine matches the start of a line of testing's log: "    x_test.go:12: ".
var logLine = regexp.MustCompile(`^\s+[^\s:]+\.go:\d+: `)

// skipReason returns a skipped test's message: its last log line (and
// that line's continuation lines), without the "--- SKIP" line.
func skipReason(out string) string {
	var lines []string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "--- SKIP: ") {
			continue
		}
		lines = append(lines, strings.TrimRight(l, "\n"))
	}
	start := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if logLine.MatchString(lines[i]) {
			start = i
			break
		}
	}
	if start < 0 {
		// t.SkipNow without a message, or output outside testing's log.
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.TrimSpace(lines[i]) != "" {
				return strings.TrimSpace(lines[i])
			}
		}
		return "(no reason given)"
	}
	var parts []string
	for _, l := range lines[start:] {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

// packageLine finds go test's result line for pkg in its output.
func packageLine(out, pkg string) string {
	for l := range strings.Lines(out) {
		l = strings.TrimRight(l, "\n")
		for _, p := range []string{"ok  \t", "FAIL\t", "?   \t"} {
			if rest, ok := strings.CutPrefix(l, p); ok && (rest == pkg || strings.HasPrefix(rest, pkg+"\t") || strings.HasPrefix(rest, pkg+" ")) {
				return l
			}
		}
	}
	return ""
}

// FailedPackages returns the packages that failed.
func (s *Summary) FailedPackages() []Package {
	var out []Package
	for _, p := range s.Packages {
		if p.Action == "fail" {
			out = append(out, p)
		}
	}
	return out
}

// DisallowedSkips returns the skips that CI does not allow: every skip
// but those of testenv.Hardware. It is empty outside CI.
func (s *Summary) DisallowedSkips() []Test {
	if !s.opts.CI {
		return nil
	}
	var out []Test
	for _, t := range s.Skipped {
		if t.Device == "" {
			out = append(out, t)
		}
	}
	return out
}

// OK reports whether the run passed: at least one package was tested,
// no test or package failed, and (under CI) nothing skipped but for
// missing hardware.
func (s *Summary) OK() bool {
	return len(s.Packages) > 0 && len(s.Failed) == 0 && len(s.FailedPackages()) == 0 && len(s.DisallowedSkips()) == 0
}

// maxFailureOutput bounds the output shown per failed test in the
// summary (its head and tail stay).
const maxFailureOutput = 60

// WriteSummary prints the summary: failed tests with their output,
// failed packages, skipped tests with their reasons (those CI allows
// apart), go test's line of every package that did not pass, and a final
// "N passed, N failed, N skipped" line.
func (s *Summary) WriteSummary(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "\n==== test summary ====\n")
	if len(s.Failed) > 0 {
		fmt.Fprintf(bw, "\nfailed tests (%d):\n", len(s.Failed))
		for _, t := range s.Failed {
			fmt.Fprintf(bw, "--- FAIL: %s %s (%.2fs)\n", t.Package, t.Name, t.Elapsed.Seconds())
			for _, l := range clip(strings.Split(strings.TrimRight(t.Output, "\n"), "\n"), maxFailureOutput) {
				fmt.Fprintf(bw, "    %s\n", l)
			}
		}
	}
	var noTest []Package
	for _, p := range s.FailedPackages() {
		if !slices.ContainsFunc(s.Failed, func(t Test) bool { return t.Package == p.Name }) {
			noTest = append(noTest, p)
		}
	}
	if len(noTest) > 0 {
		fmt.Fprintf(bw, "\npackages that failed outside any test (%d):\n", len(noTest))
		for _, p := range noTest {
			fmt.Fprintf(bw, "%s\n", orElse(p.Line, "FAIL\t"+p.Name))
			for _, l := range clip(strings.Split(strings.TrimRight(p.Output, "\n"), "\n"), 30) {
				fmt.Fprintf(bw, "    %s\n", l)
			}
		}
	}
	var hw, other []Test
	for _, t := range s.Skipped {
		if t.Device != "" {
			hw = append(hw, t)
		} else {
			other = append(other, t)
		}
	}
	if len(other) > 0 {
		what := "skipped tests"
		if s.opts.CI {
			what = "skipped tests NOT ALLOWED in CI (only missing hardware is: " + devices() + ")"
		}
		fmt.Fprintf(bw, "\n%s (%d):\n", what, len(other))
		for _, t := range other {
			fmt.Fprintf(bw, "  %s %s: %s\n", t.Package, t.Name, t.Reason)
		}
	}
	if len(hw) > 0 {
		fmt.Fprintf(bw, "\nskipped for hardware these machines lack (allowed in CI) (%d):\n", len(hw))
		for _, t := range hw {
			fmt.Fprintf(bw, "  %s %s: %s\n", t.Package, t.Name, t.Reason)
		}
	}
	fmt.Fprintf(bw, "\npackages: %d", len(s.Packages))
	if n := len(s.FailedPackages()); n > 0 {
		fmt.Fprintf(bw, ", %d failed:\n", n)
		for _, p := range s.FailedPackages() {
			fmt.Fprintf(bw, "%s\n", orElse(p.Line, "FAIL\t"+p.Name))
		}
	} else {
		fmt.Fprintf(bw, ", all ok\n")
	}
	fmt.Fprintf(bw, "%d passed, %d failed, %d skipped\n", len(s.Passed), len(s.Failed), len(s.Skipped))
	switch {
	case len(s.Packages) == 0:
		fmt.Fprintf(bw, "FAIL: no package was tested\n")
	case len(s.DisallowedSkips()) > 0:
		fmt.Fprintf(bw, "FAIL: %d test(s) skipped under CI for a reason other than missing hardware\n", len(s.DisallowedSkips()))
	case !s.OK():
		fmt.Fprintf(bw, "FAIL\n")
	default:
		fmt.Fprintf(bw, "PASS\n")
	}
	return bw.Flush()
}

func devices() string {
	var ds []string
	for _, d := range testenv.Devices {
		ds = append(ds, string(d))
	}
	return strings.Join(ds, ", ")
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// clip keeps the first and last n/2 lines of ls.
func clip(ls []string, n int) []string {
	if len(ls) <= n {
		return ls
	}
	out := slices.Clone(ls[:n/2])
	out = append(out, fmt.Sprintf("... (%d lines)", len(ls)-n))
	return append(out, ls[len(ls)-n/2:]...)
}
