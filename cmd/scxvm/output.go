package main

import (
	"fmt"
	"io"
	"os"
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
	case vmtest.EventProgress:
		if e.Sample == nil {
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%d\t%s\n", s.Name, s.Scheduler, verdict, s.Elapsed.Seconds(), len(s.Workers), formatRates(s.Rates()))
		}
		tw.Flush()
	}
	printPayloads(w, res)
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
			fmt.Fprintf(w, "  - %s\n", f)
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
			for _, m := range p.StressNG {
				fmt.Fprintf(w, "    %s: %d bogo ops, %s ops/s real, %s ops/s cpu\n", m.Stressor, m.BogoOps, humanRate(m.OpsPerSecReal), humanRate(m.OpsPerSecCPU))
			}
		}
	}
}

// payloadEnd says how a payload ended and how long it ran.
func payloadEnd(p vmtest.PayloadResult) string {
	var end string
	switch {
	case p.Error != "":
		end = "error: " + p.Error
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

func printRatios(w io.Writer, res *vmtest.Result) {
	header := false
	for _, s := range res.Scenarios {
		if s.Baseline {
			continue
		}
		b := res.Baseline(s.Name)
		if b == nil {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\n%s / EEVDF (work per second of run time: iterations by cgroup, stress-ng bogo ops; >1 means %s did more):\n", res.Scheduler, res.Scheduler)
			header = true
		}
		mine, base := s.Rates(), b.Rates()
		var names []string
		for n := range mine {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			if base[n] == 0 {
				parts = append(parts, fmt.Sprintf("%s n/a", n))
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.2fx", n, mine[n]/base[n]))
		}
		parts = append(parts, stressRatios(s.Payloads, b.Payloads)...)
		fmt.Fprintf(w, "  %-16s %s\n", s.Name, strings.Join(parts, ", "))
	}
}

// stressRatios compares stress-ng's bogo ops per second of real time,
// stressor by stressor, between a run and its EEVDF baseline.
func stressRatios(mine, base []vmtest.PayloadResult) []string {
	baseOps := map[string]float64{}
	for _, p := range base {
		for _, m := range p.StressNG {
			baseOps[p.Name+"/"+m.Stressor] = m.OpsPerSecReal
		}
	}
	var parts []string
	for _, p := range mine {
		for _, m := range p.StressNG {
			if b := baseOps[p.Name+"/"+m.Stressor]; b > 0 {
				parts = append(parts, fmt.Sprintf("stress-ng %s %.2fx", m.Stressor, m.OpsPerSecReal/b))
			}
		}
	}
	return parts
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
