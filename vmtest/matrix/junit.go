package matrix

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// JUnit XML as CI engines read it (GitHub Actions reporters, GitLab,
// Jenkins): one testsuite, one testcase per cell.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name      string      `xml:"name,attr"`
		Tests     int         `xml:"tests,attr"`
		Failures  int         `xml:"failures,attr"`
		Errors    int         `xml:"errors,attr"`
		Skipped   int         `xml:"skipped,attr"`
		Time      string      `xml:"time,attr"`
		Timestamp string      `xml:"timestamp,attr,omitempty"`
		Cases     []junitCase `xml:"testcase"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitProblem `xml:"skipped,omitempty"`
		SystemOut *junitText    `xml:"system-out,omitempty"`
	}
	junitText struct {
		Text string `xml:",cdata"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes r as JUnit XML: a testcase per cell named by its
// scenario (and @topology), of class kernel/scheduler; a failed cell's
// attributed reason is the failure's message and its kind the type; an
// infrastructure or configuration error, or an interrupted cell, is an
// error; a cell whose kernel lacks sched_ext or that the budget left out
// is skipped. The evidence (reason, excerpt, failed checks, the kernel
// log's last lines) is the testcase's system-out.
func (r *Report) WriteJUnit(w io.Writer) error {
	name := "scxvm matrix"
	if r.Shard != "" {
		name += " shard " + r.Shard
	}
	s := junitSuite{Name: name, Time: seconds(r.Wall)}
	for _, c := range r.Cells {
		tc := junitCase{Name: c.Scenario, Classname: c.Kernel + "/" + c.SchedulerName, Time: seconds(c.Elapsed)}
		if c.Topology != "" {
			tc.Name += "@" + c.Topology
		}
		p := &junitProblem{Message: xmlText(c.Reason), Type: string(c.Outcome)}
		switch c.Outcome.Class() {
		case ClassFail:
			tc.Failure = p
			s.Failures++
		case ClassError, ClassNotRun:
			tc.Error = p
			s.Errors++
		case ClassSkip:
			tc.Skipped = p
			s.Skipped++
		}
		if c.Outcome != OutcomePass {
			tc.SystemOut = &junitText{xmlText(evidence(c))}
		}
		s.Cases = append(s.Cases, tc)
	}
	s.Tests = len(s.Cases)
	out := junitSuites{Name: name, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Skipped: s.Skipped, Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// xmlText replaces the characters XML 1.0 cannot hold (control
// characters of a console log, invalid UTF-8) with U+FFFD.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t', r == '\n', r == '\r':
			return r
		case r < 0x20, r == utf8.RuneError, r >= 0xFFFE && r <= 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return '\uFFFD'
		}
		return r
	}, s)
}

// evidence is what a cell that did not pass shows besides its reason.
func evidence(c CellResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %s\n", c.Key(), c.Outcome, c.Reason)
	for _, l := range c.Excerpt {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	if c.Result != nil {
		for _, f := range c.Result.Failures {
			fmt.Fprintf(&b, "check %s\n", f.String())
		}
		if kl := tail(c.Result.KernelLog, 40); len(kl) > 0 {
			b.WriteString("kernel log (last lines):\n")
			for _, l := range kl {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		}
	}
	return b.String()
}

// WriteKTAP writes r in KTAP version 1: the version line, the plan
// "1..N", then per cell "ok N key", "not ok N key" or "ok N key # SKIP
// reason", a failed or errored cell followed by its evidence as "# "
// diagnostic lines.
func (r *Report) WriteKTAP(w io.Writer) error {
	var b strings.Builder
	b.WriteString("KTAP version 1\n")
	fmt.Fprintf(&b, "1..%d\n", len(r.Cells))
	for i, c := range r.Cells {
		name := ktapName(c.Key())
		switch c.Outcome.Class() {
		case ClassPass:
			fmt.Fprintf(&b, "ok %d %s\n", i+1, name)
		case ClassSkip:
			fmt.Fprintf(&b, "ok %d %s # SKIP %s\n", i+1, name, ktapName(oneLine(c.Reason, 200)))
		default:
			for _, l := range strings.Split(strings.TrimRight(evidence(c), "\n"), "\n") {
				fmt.Fprintf(&b, "# %s\n", l)
			}
			fmt.Fprintf(&b, "not ok %d %s\n", i+1, name)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ktapName keeps a test name on one line and free of "#", which would
// start a directive.
func ktapName(s string) string {
	return strings.NewReplacer("\n", " ", "#", "%23").Replace(s)
}

// WriteFile writes the report to path with write (WriteJUnit, WriteKTAP).
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
