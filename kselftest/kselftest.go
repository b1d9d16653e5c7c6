// Package kselftest reads the kernel's sched_ext selftests runner
// (tools/testing/selftests/sched_ext/runner): its list of tests (ParseList),
// the runs that execute each selected test once (Plan), the payload that
// runs one of them in a guest (Payload) and its output read back (Parse).
//
// The runner prints, for each test it runs:
//
//	===== START =====
//	TEST: minimal
//	DESCRIPTION: Verify we can load a fully minimal scheduler
//	OUTPUT:
//	... the test's own output (stderr: ERR lines, libbpf messages) ...
//	ok 1 minimal #
//	=====  END  =====
//
// with "not ok" for a failure and "# SKIP" for a skipped test, then its
// final counts (PASSED, SKIPPED, FAILED). Its -t option runs every test
// whose name contains the given string.
//
// The package makes no I/O: the caller runs the runner.
package kselftest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/scxvm/scxvm/spec"
)

// Status is a test's outcome as the runner printed it, or as Parse
// concluded when the runner printed none.
type Status string

// Test outcomes.
const (
	// Pass: "ok N NAME #".
	Pass Status = "pass"
	// Skip: "ok N NAME # SKIP" (a missing cpu, kernel option or feature).
	Skip Status = "skip"
	// Fail: "not ok N NAME #".
	Fail Status = "fail"
	// Unfinished: the test started (its preamble was printed) and no
	// result line followed: the runner died, was killed or timed out in
	// it.
	Unfinished Status = "unfinished"
)

// Test is one test of the runner's output.
type Test struct {
	// Num is the runner's number of the test in this run (from 1); 0 when
	// no result line was printed.
	Num         int    `json:"num,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Status      Status `json:"status"`
	// Output holds the lines the test printed between its preamble and
	// its result line.
	Output string `json:"output,omitempty"`
}

// Reason returns the line that says why a test failed or was skipped:
// the message after the last "ERR: file:line" line, else the last line
// of its output that says SKIP or Skipping, else its last output line;
// "" for a test that passed.
func (t Test) Reason() string {
	if t.Status == Pass {
		return ""
	}
	lines := nonEmptyLines(t.Output)
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "ERR: ") {
			if i+1 < len(lines) {
				return lines[i+1] + " (" + strings.TrimPrefix(lines[i], "ERR: ") + ")"
			}
			return lines[i]
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.ToLower(lines[i]); strings.HasPrefix(l, "skip") {
			return lines[i]
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}

// Counts are the runner's final counts.
type Counts struct {
	Passed  int `json:"passed"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// Report is what Parse read from one run of the runner.
type Report struct {
	// Tests are the tests in output order.
	Tests []Test `json:"tests"`
	// Counts are the runner's final counts; nil when it did not print them
	// (it died or was killed before the end).
	Counts *Counts `json:"counts,omitempty"`
	// Truncated is set when the output had a part cut out (a
	// "[... N bytes elided ...]" marker of the agent's bounded buffer).
	Truncated bool `json:"truncated,omitempty"`
	// Other holds lines outside any test's block that are not the
	// runner's own (an error before the first test, a usage message).
	// When the output has exactly one test they are its output instead:
	// runners before 6.15 buffer the preamble, so a test's stderr lines
	// come before it.
	Other []string `json:"other,omitempty"`
}

// Test returns the test named name (the last one with a result line
// when the output has it more than once), or nil.
func (r *Report) Test(name string) *Test {
	var found *Test
	for i := range r.Tests {
		if t := &r.Tests[i]; t.Name == name && (found == nil || t.Num != 0) {
			found = t
		}
	}
	return found
}

var (
	resultRE  = regexp.MustCompile(`^(ok|not ok) ([0-9]+) (\S+) #\s*(SKIP)?\s*$`)
	elidedRE  = regexp.MustCompile(`^\[\.\.\. [0-9]+ bytes elided \.\.\.\]$`)
	countRE   = regexp.MustCompile(`^(PASSED|SKIPPED|FAILED):\s+([0-9]+)$`)
	startLine = "===== START ====="
	endLine   = "=====  END  ====="
)

// Parse reads the runner's output. A test whose preamble is followed by
// no result line is Unfinished. Lines that belong to no test (the
// summary's lists of skipped and failed tests included) are not tests.
func Parse(output string) Report {
	var (
		r   Report
		cur *Test // the test whose block is open
		out []string
		// inOutput is set between "OUTPUT:" and the result line.
		inOutput, inSummary bool
		// pendingStart is set after a START line, until the next line.
		pendingStart bool
	)
	closeTest := func() {
		if cur == nil {
			return
		}
		cur.Output = strings.TrimRight(strings.Join(out, "\n"), "\n")
		r.add(*cur)
		cur, out, inOutput = nil, nil, false
	}
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimRight(line, "\r")
		if elidedRE.MatchString(line) {
			r.Truncated = true
			if cur != nil && inOutput {
				out = append(out, line)
			}
			continue
		}
		switch {
		case line == startLine:
			// Closed at the TEST line: it may repeat the open test's
			// preamble.
			pendingStart, inSummary = true, false
			continue
		case line == endLine:
			closeTest()
			pendingStart = false
			continue
		case pendingStart:
			pendingStart = false
			name, isTest := strings.CutPrefix(line, "TEST: ")
			name = strings.TrimSpace(name)
			if isTest && cur != nil && cur.Num == 0 && cur.Name == name {
				// The same preamble again: runners before 6.15 do not
				// flush it before a test forks, and every child that
				// exits prints the copy it inherited.
				inOutput = false
				continue
			}
			closeTest()
			cur = &Test{Status: Unfinished}
			if isTest {
				cur.Name = name
				continue
			}
		}
		if cur != nil {
			if m := resultRE.FindStringSubmatch(line); m != nil && (cur.Name == "" || m[3] == cur.Name) {
				cur.Num, _ = strconv.Atoi(m[2])
				cur.Name = m[3]
				switch {
				case m[1] == "not ok":
					cur.Status = Fail
				case m[4] == "SKIP":
					cur.Status = Skip
				default:
					cur.Status = Pass
				}
				inOutput = false
				continue
			}
			switch {
			case !inOutput && cur.Num == 0 && strings.HasPrefix(line, "TEST: ") && cur.Name == "":
				cur.Name = strings.TrimSpace(strings.TrimPrefix(line, "TEST: "))
				continue
			case !inOutput && cur.Num == 0 && strings.HasPrefix(line, "DESCRIPTION: "):
				cur.Description = strings.TrimSpace(strings.TrimPrefix(line, "DESCRIPTION: "))
				continue
			case !inOutput && cur.Num == 0 && line == "OUTPUT:":
				inOutput = true
				continue
			}
			if inOutput {
				out = append(out, line)
				continue
			}
			if cur.Num != 0 {
				// Lines after the result line and before END belong to
				// nobody; a runner that prints nothing there ends here.
				closeTest()
			} else {
				out = append(out, line)
				continue
			}
		}
		switch {
		case line == "RESULTS:":
			inSummary = true
			if r.Counts == nil {
				r.Counts = &Counts{}
			}
		case inSummary && countRE.MatchString(line):
			m := countRE.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[2])
			switch m[1] {
			case "PASSED":
				r.Counts.Passed = n
			case "SKIPPED":
				r.Counts.Skipped = n
			case "FAILED":
				r.Counts.Failed = n
			}
		case inSummary, strings.TrimSpace(line) == "", strings.Trim(line, "=") == "":
			// The summary's lists, blank lines, the separator.
		default:
			r.Other = append(r.Other, line)
		}
	}
	closeTest()
	if len(r.Tests) == 1 && len(r.Other) > 0 {
		// Runners before 6.15 print the preamble into stdout's buffer
		// and the test's own messages (stderr) straight away, so these
		// come first; with one test in the output they are its own.
		t := &r.Tests[0]
		t.Output = strings.TrimRight(strings.Join(r.Other, "\n")+"\n"+t.Output, "\n")
		r.Other = nil
	}
	return r
}

// add files a test's block. A test seen before is merged into its first
// block: runners before 6.15 do not flush stdout before a test forks,
// so every child that exits prints a copy of the runner's unflushed
// output (earlier tests' blocks, the current preamble) again; the result
// line comes from whichever copy has it, the outputs are joined.
func (r *Report) add(t Test) {
	for i := range r.Tests {
		old := &r.Tests[i]
		if old.Name != t.Name || t.Name == "" {
			continue
		}
		if old.Num == 0 && t.Num != 0 {
			old.Num, old.Status = t.Num, t.Status
		}
		if old.Description == "" {
			old.Description = t.Description
		}
		if t.Output != "" && t.Output != old.Output {
			if old.Output != "" {
				old.Output += "\n"
			}
			old.Output += t.Output
		}
		return
	}
	r.Tests = append(r.Tests, t)
}

// ParseList reads the runner's list of tests: the output of `runner -l`
// (a name a line; kernels from 6.15 on), or of `runner -s -t NOMATCH`
// (every test printed as skipped, without running it; older runners have
// no -l).
func ParseList(output string) []string {
	if strings.Contains(output, startLine) {
		var names []string
		for _, t := range Parse(output).Tests {
			if t.Name != "" && !slices.Contains(names, t.Name) {
				names = append(names, t.Name)
			}
		}
		return names
	}
	var names []string
	for _, line := range strings.Split(output, "\n") {
		name := strings.TrimSpace(line)
		if name == "" || strings.ContainsAny(name, " \t") || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
	}
	return names
}

// Select returns the tests of all whose name contains filter (the
// runner's -t rule; "" selects all), in the runner's order.
func Select(all []string, filter string) []string {
	var out []string
	for _, n := range all {
		if strings.Contains(n, filter) {
			out = append(out, n)
		}
	}
	return out
}

// Run is one execution of the runner: `runner -t Filter`, which runs
// Tests (every test whose name contains Filter).
type Run struct {
	Filter string
	Tests  []string
}

// Plan returns the runs that execute every test of selected, each in one
// run: the runner's -t matches substrings, so `-t select_cpu_dfl` also
// runs select_cpu_dfl_nodispatch, which then needs no run of its own.
// A test is a run's filter when no other selected test's name is part of
// its name. all is the runner's whole list (a filter must not match a
// test outside selected; when it would, the test runs anyway and its
// result is kept). Runs are in the runner's order of their first test.
func Plan(all, selected []string) []Run {
	var runs []Run
	covered := map[string]bool{}
	for _, name := range selected {
		if covered[name] {
			continue
		}
		filter := name
		for _, other := range selected {
			if other != name && strings.Contains(name, other) && len(other) < len(filter) {
				filter = other
			}
		}
		run := Run{Filter: filter, Tests: Select(all, filter)}
		for _, t := range run.Tests {
			covered[t] = true
		}
		runs = append(runs, run)
	}
	return runs
}

// Payload returns the payload that runs `runner -t filter` at path in
// the guest and waits for it.
func Payload(path, filter string) spec.Payload {
	return spec.Payload{Name: "runner -t " + filter, Path: path, Args: []string{"-t", filter}, Wait: true}
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
