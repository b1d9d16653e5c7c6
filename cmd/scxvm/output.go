package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/vmtest"
)

// printer shows a run's live progress: a status line rewritten in place on
// a terminal, plain lines (at most one progress line a second) otherwise.
type printer struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	verbose  bool
	status   bool // a status line is on screen
	lastLine time.Time
	// out, when set, receives the payloads' output as it comes (scxvm
	// exec); quiet drops the progress lines, which would mix with it.
	out   io.Writer
	quiet bool
}

func newPrinter(w io.Writer, verbose bool) *printer {
	return &printer{w: w, tty: isTerminal(w), verbose: verbose}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// line prints a permanent line, clearing the status line first.
func (p *printer) line(format string, args ...any) {
	if p.status {
		fmt.Fprint(p.w, "\r\033[K")
		p.status = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *printer) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line("  . "+format, args...)
}

func (p *printer) event(e vmtest.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tag := fmt.Sprintf("%6.1fs", e.Elapsed.Seconds())
	switch e.Kind {
	case vmtest.EventBuilt, vmtest.EventHello, vmtest.EventFetch:
		p.line("%s %s", tag, e.Message)
	case vmtest.EventScenarioStart:
		p.line("%s ▶ %s under %s", tag, e.Scenario, e.Scheduler)
	case vmtest.EventSched:
		p.line("%s   scheduler: %s", tag, e.Message)
	case vmtest.EventStall:
		p.line("%s   stall: %s", tag, e.Message)
	case vmtest.EventScenarioDone:
		verdict := "PASS"
		if e.Result != nil && !e.Result.Passed {
			verdict = "FAIL"
		}
		p.line("%s %s %s under %s (%.1fs)", tag, verdict, e.Scenario, e.Scheduler, e.Result.Elapsed.Seconds())
	case vmtest.EventOutput:
		if p.out != nil && e.Output != nil {
			if p.status {
				fmt.Fprint(p.w, "\r\033[K")
				p.status = false
			}
			p.out.Write(e.Output.Data)
		}
	case vmtest.EventProgress:
		if e.Sample == nil || p.quiet {
			return
		}
		s := fmt.Sprintf("%s   %s/%s %4.1fs  %s  sched_ext: %s", tag, e.Scenario, e.Scheduler,
			e.Sample.Elapsed.Seconds(), formatRates(e.Sample.Rates), orDash(e.Sample.SchedState))
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K"+s)
			p.status = true
			return
		}
		if time.Since(p.lastLine) >= time.Second {
			p.lastLine = time.Now()
			p.line("%s", s)
		}
	case vmtest.EventKernelLog:
		if p.verbose {
			p.line("%s   kernel: %s", tag, e.Message)
		}
	default:
		if p.verbose && e.Message != "" {
			p.line("%s %s", tag, e.Message)
		}
	}
}

func (p *printer) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status {
		fmt.Fprint(p.w, "\r\033[K")
		p.status = false
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatRates(r map[string]float64) string {
	var names []string
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %s it/s", n, humanRate(r[n])))
	}
	return strings.Join(parts, ", ")
}

func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// printSummary prints the result table, the failures with their
// attribution, and scheduler/EEVDF ratios for a comparison run.
func printSummary(w io.Writer, res *vmtest.Result) {
	fmt.Fprintf(w, "\nkernel %s (%s), %s, %s, scheduler %s, topology %s, accel %s, transport %s, boot to hello %.2fs\n",
		res.Kernel.Name, orDash(res.Kernel.Release), bootSummary(res.Kernel), startSummary(res), res.Scheduler, res.Topology, orDash(res.Accel), orDash(res.Transport), res.BootToHello.Seconds())
	if len(res.Scenarios) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SCENARIO\tSCHEDULER\tVERDICT\tTIME\tWORKERS\tITERATIONS/S BY CGROUP")
		for _, s := range res.Scenarios {
			verdict := "pass"
			if !s.Passed {
				verdict = fmt.Sprintf("FAIL (%d)", max(len(s.Failures), 1))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%d\t%s\n", s.Name, s.Label(), verdict, s.Elapsed.Seconds(), len(s.Workers), formatRates(s.Rates()))
		}
		tw.Flush()
	}
	printPayloads(w, res)
	printCollected(w, res)
	printTelemetry(w, res)
	printDegraded(w, res)
	printRatios(w, res)
	shown := map[*vmtest.Failure]bool{}
	for _, s := range res.Scenarios {
		if s.Passed {
			continue
		}
		fmt.Fprintf(w, "\n%s under %s:\n", s.Name, s.Scheduler)
		if s.Failure != nil && s.Failure.Kind != vmtest.FailChecks {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(s.Failure.Long(), "\n", "\n  "))
		}
		shown[s.Failure] = true
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  - %s\n", s.FailureText(f))
		}
	}
	if f := res.Failure; f != nil {
		if !shown[f] && !sameFailure(f, res.Scenarios) {
			fmt.Fprintf(w, "\n%s\n", f.Long())
		}
		if consoleHelps(f.Kind) && len(res.ConsoleExcerpt) > 0 && !containsAll(f.Detail, res.ConsoleExcerpt) {
			fmt.Fprintln(w, "  console (last lines):")
			for _, l := range res.ConsoleExcerpt {
				fmt.Fprintf(w, "    | %s\n", l)
			}
		}
	}
	if res.ConsoleLog != "" {
		fmt.Fprintf(w, "console log: %s\n", res.ConsoleLog)
	}
}

// consoleHelps reports whether the console's tail explains a failure of
// this kind (the guest died or hung); scheduler and check failures carry
// their own evidence.
func consoleHelps(k vmtest.FailureKind) bool {
	switch k {
	case vmtest.FailPanic, vmtest.FailTimeout, vmtest.FailTransport, vmtest.FailGuestExited, vmtest.FailAgent, vmtest.FailProtocol:
		return true
	}
	return false
}

// sameFailure reports whether f is already shown with a scenario.
func sameFailure(f *vmtest.Failure, ss []vmtest.ScenarioResult) bool {
	for _, s := range ss {
		if s.Failure != nil && s.Failure.Kind == f.Kind && s.Failure.Scenario == f.Scenario && s.Failure.Message == f.Message {
			return true
		}
	}
	return false
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
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

// printPayloads prints how each scenario's payload commands ended, with
// stress-ng's metrics when it printed them.
func printPayloads(w io.Writer, res *vmtest.Result) {
	header := false
	for _, s := range res.Scenarios {
		for _, p := range s.Payloads {
			if !header {
				fmt.Fprintln(w, "\npayloads:")
				header = true
			}
			fmt.Fprintf(w, "  %s/%s  %s  %s\n", s.Name, s.Scheduler, p.Name, payloadEnd(p))
			if p.OutputFile != "" {
				note := ""
				if p.OutputMissing > 0 {
					note = fmt.Sprintf(", %d bytes missing", p.OutputMissing)
				}
				if p.OutputError != "" {
					note += ", " + p.OutputError
				}
				fmt.Fprintf(w, "    output: %s (%d bytes%s)\n", p.OutputFile, p.OutputBytes, note)
			}
			for _, m := range p.StressNG {
				fmt.Fprintf(w, "    %s: %d bogo ops, %s ops/s real, %s ops/s cpu\n", m.Stressor, m.BogoOps, humanRate(m.OpsPerSecReal), humanRate(m.OpsPerSecCPU))
			}
		}
	}
}

// printCollected says where each --collect directory went.
func printCollected(w io.Writer, res *vmtest.Result) {
	for _, c := range res.Collected {
		if c.Error != "" {
			fmt.Fprintf(w, "collect %s -> %s: %d files, %d bytes; error: %s\n", c.Guest, c.Host, c.Files, c.Bytes, c.Error)
			continue
		}
		fmt.Fprintf(w, "collected %s -> %s: %d files, %d bytes\n", c.Guest, c.Host, c.Files, c.Bytes)
	}
}

// payloadEnd says how a payload ended and how long it ran.
func payloadEnd(p vmtest.PayloadResult) string {
	var end string
	switch {
	case p.Error != "":
		end = "error: " + p.Error
	case p.TimedOut && p.ExpectExit != nil:
		end = "timed out (killed)"
	case p.TimedOut:
		end = "stopped at the end of the scenario"
	case p.Signal != 0:
		end = fmt.Sprintf("killed by signal %d", p.Signal)
	case p.ExitCode != nil:
		end = fmt.Sprintf("exit %d", *p.ExitCode)
	default:
		end = "no exit status"
	}
	if p.Duration > 0 {
		end += fmt.Sprintf(" after %.1fs", p.Duration.Seconds())
	}
	return end
}

// printRatios prints, for a run with --compare or --repeat, each
// scenario's throughput and wake-up latency per cgroup (medians over the
// repetitions), the scheduler beside the --compare scheduler with their
// ratio, and stress-ng's ratios.
func printRatios(w io.Writer, res *vmtest.Result) {
	sums := res.Summary
	if sums == nil {
		sums = vmtest.Summarize(res)
	}
	base := map[string]*vmtest.ScenarioSummary{}
	runs := 1
	other := "" // the --compare scheduler
	for i := range sums {
		if sums[i].Baseline {
			base[sums[i].Name] = &sums[i]
			other = sums[i].Scheduler
		}
		runs = max(runs, sums[i].Runs)
	}
	if len(base) == 0 && runs < 2 {
		return
	}
	fmt.Fprintf(w, "\n%s", res.Scheduler)
	if other != "" {
		fmt.Fprintf(w, " against %s", other)
	}
	fmt.Fprint(w, " per cgroup: throughput in work units/s")
	if other != "" {
		fmt.Fprintf(w, " and iterations/s as ratios (> 1: %s did more)", res.Scheduler)
	}
	fmt.Fprint(w, ", wake-up latency p50/p99 (lower is better)")
	if runs > 1 {
		fmt.Fprintf(w, "; medians of %d runs [min..max]", runs)
	}
	fmt.Fprintln(w, ":")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"SCENARIO", "CGROUP", "THROUGHPUT " + res.Scheduler}
	if other != "" {
		head = append(head, other, "RATIO", "IT/S RATIO")
	}
	head = append(head, "WAKE P50 "+res.Scheduler)
	if other != "" {
		head = append(head, other)
	}
	head = append(head, "WAKE P99 "+res.Scheduler)
	if other != "" {
		head = append(head, other)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	var stress []string
	for i := range sums {
		s := &sums[i]
		if s.Baseline {
			continue
		}
		b := base[s.Name]
		if other != "" && b == nil {
			continue
		}
		for _, cg := range summaryKeys("throughput", s, b) {
			row := []string{s.Name, cg, medianString(s.Metric("throughput", cg))}
			if b != nil {
				row = append(row, medianString(b.Metric("throughput", cg)), ratioString(s.Metric("throughput", cg), b.Metric("throughput", cg)),
					ratioString(s.Metric("iterations", cg), b.Metric("iterations", cg)))
			}
			for _, m := range []string{"wake_p50", "wake_p99"} {
				row = append(row, medianString(s.Metric(m, cg)))
				if b != nil {
					row = append(row, medianString(b.Metric(m, cg)))
				}
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if b != nil {
			for _, k := range summaryKeys("stress_ng", s, b) {
				if r := ratioString(s.Metric("stress_ng", k), b.Metric("stress_ng", k)); r != "-" {
					stress = append(stress, fmt.Sprintf("%s %s %s", s.Name, k, r))
				}
			}
		}
	}
	tw.Flush()
	if len(stress) > 0 {
		fmt.Fprintf(w, "stress-ng bogo ops/s, %s / %s: %s\n", res.Scheduler, other, strings.Join(stress, ", "))
	}
}

// summaryKeys returns the keys of metric in a and b (b may be nil), in
// order of appearance.
func summaryKeys(metric string, a, b *vmtest.ScenarioSummary) []string {
	var out []string
	for _, s := range []*vmtest.ScenarioSummary{a, b} {
		if s == nil {
			continue
		}
		for _, m := range s.Metrics {
			if m.Metric == metric && !slices.Contains(out, m.Key) {
				out = append(out, m.Key)
			}
		}
	}
	return out
}

// medianString shows a metric's median and, over several runs, its range.
func medianString(m *vmtest.MetricSummary) string {
	if m == nil {
		return "-"
	}
	s := vmtest.FormatValue(m.Median, m.Unit)
	if lo, hi := vmtest.FormatValue(m.Min, m.Unit), vmtest.FormatValue(m.Max, m.Unit); len(m.Values) > 1 && lo != hi {
		s += " [" + lo + ".." + hi + "]"
	}
	return s
}

func ratioString(a, b *vmtest.MetricSummary) string {
	if a == nil || b == nil || b.Median == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a.Median/b.Median)
}

// startSummary says whether the guest started warm (restored from a
// snapshot) or cold, and why cold.
func startSummary(res *vmtest.Result) string {
	switch {
	case res.Start == "":
		return "start unknown"
	case res.StartNote == "":
		return res.Start + " start"
	}
	return fmt.Sprintf("%s start (%s)", res.Start, res.StartNote)
}

// bootSummary says how the kernel booted: "pvh boot", or "bzImage boot"
// with the reason PVH was not used.
func bootSummary(k vmtest.KernelInfo) string {
	switch {
	case k.Boot == "":
		return "boot -"
	case k.Boot == "pvh" || k.BootReason == "":
		return k.Boot + " boot"
	}
	return fmt.Sprintf("%s boot (%s)", k.Boot, k.BootReason)
}

// printTelemetry prints, per scenario, the scheduler sched_ext reported
// at the end of the run and every sched_ext counter that changed over it
// (the scheduler's events on kernels that have root/events).
func printTelemetry(w io.Writer, res *vmtest.Result) {
	header := false
	for _, s := range res.Scenarios {
		t := s.Telemetry
		if t == nil || t.End == nil {
			continue
		}
		if !header {
			fmt.Fprintln(w, "\nsched_ext telemetry (counters that changed during the scenario):")
			header = true
		}
		line := fmt.Sprintf("  %s/%s  state %s", s.Name, s.Scheduler, orDash(t.End.Values["state"]))
		if ops := t.End.Values["root/ops"]; ops != "" {
			line += ", ops " + ops
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(t.Delta)) {
			parts = append(parts, fmt.Sprintf("%s %+d", strings.TrimPrefix(k, "root/events/"), t.Delta[k]))
		}
		if len(parts) == 0 {
			parts = append(parts, "no counter changed")
		}
		fmt.Fprintf(w, "%s: %s\n", line, strings.Join(parts, ", "))
	}
}
