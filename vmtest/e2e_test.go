package vmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/proctest"
	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// The end-to-end tests boot real guests (TCG here) and need: QEMU, the
// kernels in the cache (`make kernel`, `make kernel-build`,
// `make kernel-stock`), the example schedulers (`make
// schedulers`) and the Go toolchain (to build the agent). Without them they
// skip loudly, and fail when $CI is set.

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
)

// e2e returns a base Config for an end-to-end test on the named kernel,
// skipping when a prerequisite is missing.
func e2e(t *testing.T, kernelName string) Config {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: end-to-end test boots a VM; drop -short to run it")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testenv.Prereq(t, "qemu-system-x86_64 not in PATH (run `make deps`)")
	}
	if _, err := kernel.Lookup(kernel.DefaultCacheDir(), kernelName); err != nil {
		testenv.Prereq(t, "%v", err)
	}
	agentOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		agentPath, agentErr = BuildAgent(ctx, testenv.CheckoutDir(filepath.Join(kernel.DefaultCacheDir(), "agent")))
	})
	if agentErr != nil {
		t.Fatalf("build agent: %v", agentErr)
	}
	t.Cleanup(func() { checkNoQEMU(t) })
	start := time.Now()
	return Config{
		Kernel:     kernelName,
		Agent:      agentPath,
		ConsoleLog: filepath.Join(t.TempDir(), "console.log"),
		Logf: func(format string, args ...any) {
			t.Logf("%6.2fs %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		},
	}
}

// scheduler returns the path of an example scheduler built for the kernel,
// skipping when `make schedulers` has not built it.
func exampleScheduler(t *testing.T, kernelName, name string) string {
	t.Helper()
	k, err := kernel.Lookup(kernel.DefaultCacheDir(), kernelName)
	if err != nil {
		testenv.Prereq(t, "%v", err)
	}
	scheds, err := kernel.Schedulers(kernel.DefaultCacheDir(), k)
	if err != nil {
		testenv.Prereq(t, "%v", err)
	}
	p, ok := scheds[name]
	if !ok {
		testenv.Prereq(t, "%s not built for kernel %s (run `make schedulers`)", name, kernelName)
	}
	return p
}

func scenarios(t *testing.T, names ...string) []spec.Scenario {
	t.Helper()
	ss, err := ResolveScenarios(names)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// checkNoQEMU fails when a QEMU child of this process outlived its test.
func checkNoQEMU(t *testing.T) {
	t.Helper()
	for _, p := range proctest.Children(os.Getpid()) {
		if strings.Contains(p.Comm, "qemu") {
			t.Errorf("QEMU process left behind: %d (%s)", p.PID, p.Comm)
		}
	}
}

// runE2E is Run, retried once when the kernel oopsed or panicked before
// the agent's Hello: under multi-threaded TCG the Debian kernel sometimes
// trips over its own code patching at boot (an int3 Oops in the
// scheduler), which says nothing about scxvm or the scheduler under test.
func runE2E(t *testing.T, cfg Config) (*Result, error) {
	t.Helper()
	res, err := Run(t.Context(), cfg)
	var f *Failure
	if errors.As(err, &f) && f.Kind == FailPanic && res != nil && res.Guest == nil {
		t.Logf("RETRY: the guest crashed during boot, before the agent ran: %s", f.Message)
		res, err = Run(t.Context(), cfg)
	}
	return res, err
}

// wantFailure asserts that err is a *Failure of kind with every substring
// in its message or detail.
func wantFailure(t *testing.T, res *Result, err error, kind FailureKind, subs ...string) *Failure {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("got %v, want a %s failure", err, kind)
	}
	if f.Kind != kind {
		t.Fatalf("got failure %s, want %s:\n%s", f.Kind, kind, Explain(res, err))
	}
	long := f.Long()
	for _, s := range subs {
		if !strings.Contains(long, s) {
			t.Errorf("failure lacks %q:\n%s", s, Explain(res, err))
		}
	}
	return f
}

func TestE2EFIFOAndEEVDFInParallel(t *testing.T) {
	// Two VMs at once: the fifo scheduler on steady and pingpong, and the
	// cgroup/cpuset scenarios under EEVDF. Neither may disturb the other.
	fifo := e2e(t, kernel.Debian)
	fifo.Scenarios = scenarios(t, "steady", "pingpong")
	eevdf := e2e(t, kernel.Debian)
	eevdf.Scheduler = spec.Scheduler{Name: spec.SchedulerNone}
	eevdf.Scenarios = scenarios(t, "cpuset-disjoint", "cpuset-resize")
	eevdf.ConsoleLog = filepath.Join(t.TempDir(), "console-eevdf.log")

	var wg sync.WaitGroup
	results := make([]*Result, 2)
	errs := make([]error, 2)
	for i, cfg := range []Config{fifo, eevdf} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = runE2E(t, cfg)
		}()
	}
	wg.Wait()
	for i, name := range []string{"fifo", "eevdf"} {
		if errs[i] != nil {
			t.Errorf("%s: %s", name, Explain(results[i], errs[i]))
			continue
		}
		res := results[i]
		t.Logf("%s: boot to hello %v, accel %s, transport %s, wall %v", name, res.BootToHello, res.Accel, res.Transport, res.Wall)
		for _, s := range res.Scenarios {
			if len(s.Workers) == 0 || len(s.Progress) == 0 {
				t.Errorf("%s/%s: %d reports, %d progress samples", name, s.Name, len(s.Workers), len(s.Progress))
			}
			if name == "fifo" {
				// Debian's 7.3 has root/events.
				wantTelemetry(t, &s, "scxvm_fifo", true)
			} else {
				wantTelemetry(t, &s, "", false)
			}
		}
	}
	if errs[0] == nil {
		attached := false
		for _, ev := range results[0].Scenario("steady").SchedEvents {
			attached = attached || ev.Kind == string(protocol.SchedAttached)
		}
		if !attached {
			t.Errorf("fifo: no attached event: %+v", results[0].Scenario("steady").SchedEvents)
		}
	}
}

func TestE2EScxSimple(t *testing.T) {
	for _, k := range []string{kernel.Debian, kernel.Build612} {
		t.Run(k, func(t *testing.T) {
			cfg := e2e(t, k)
			cfg.Scheduler = spec.Scheduler{Path: exampleScheduler(t, k, "scx_simple")}
			res, err := runE2E(t, cfg)
			if err != nil {
				t.Fatal(Explain(res, err))
			}
			t.Logf("scx_simple on %s (%s): boot %v, steady %v", k, res.Guest.KernelRelease, res.BootToHello, res.Scenarios[0].Elapsed)
		})
	}
}

func TestE2EFIFO612(t *testing.T) {
	cfg := e2e(t, kernel.Build612)
	res, err := runE2E(t, cfg)
	if err != nil {
		t.Fatal(Explain(res, err))
	}
	if !strings.HasPrefix(res.Guest.KernelRelease, "6.12") {
		t.Errorf("guest kernel %q, want 6.12", res.Guest.KernelRelease)
	}
	// 6.12 has the global files and root/ops, no root/events.
	wantTelemetry(t, &res.Scenarios[0], "scxvm_fifo", false)
}

// wantTelemetry asserts that a scenario's result carries sched_ext
// telemetry from the start, the end and the progress samples, naming ops
// as the scheduler ("" for none), and the scheduler's event counters when
// events is set.
func wantTelemetry(t *testing.T, s *ScenarioResult, ops string, events bool) {
	t.Helper()
	tel := s.Telemetry
	if tel == nil || tel.Start == nil || tel.End == nil || len(tel.Samples) == 0 {
		t.Errorf("%s/%s: telemetry missing: %+v", s.Name, s.Scheduler, tel)
		return
	}
	wantState := "enabled"
	if ops == "" {
		wantState = "disabled"
	}
	for _, r := range append([]spec.SchedTelemetry{*tel.Start, *tel.End}, tel.Samples...) {
		if r.Values["state"] != wantState || r.Values["root/ops"] != ops {
			t.Errorf("%s/%s: reading at %v: state %q, ops %q; want %q, %q", s.Name, s.Scheduler, r.At, r.Values["state"], r.Values["root/ops"], wantState, ops)
		}
		if _, ok := r.Counters["enable_seq"]; !ok {
			t.Errorf("%s/%s: reading at %v has no enable_seq: %v", s.Name, s.Scheduler, r.At, r.Counters)
		}
	}
	hasEvents := false
	for k := range tel.End.Counters {
		hasEvents = hasEvents || strings.HasPrefix(k, "root/events/SCX_EV_")
	}
	if hasEvents != (events && ops != "") {
		t.Errorf("%s/%s: root/events counters present %v, want %v: %v", s.Name, s.Scheduler, hasEvents, events && ops != "", tel.End.Counters)
	}
	if tel.End.At <= tel.Start.At {
		t.Errorf("%s/%s: end reading at %v not after the start's %v", s.Name, s.Scheduler, tel.End.At, tel.Start.At)
	}
}

func TestE2EFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sched spec.Scheduler
		kind  FailureKind
		subs  []string
	}{
		// An error exit comes with the kernel's debug dump (the exit
		// reason, a backtrace, the cpus' states), from the built-ins too.
		{"stall", spec.Scheduler{Name: spec.SchedulerStall}, FailEjected, []string{"runnable task stall", "kernel debug dump", "CPU states"}},
		{"error", spec.Scheduler{Name: spec.SchedulerError}, FailEjected, []string{"ejected", "kernel debug dump", "Backtrace:", "CPU states"}},
		{"exits-at-once", spec.Scheduler{Path: "/bin/ls", Args: []string{"/no-such-file"}}, FailLoad, []string{"did not load", "no-such-file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e2e(t, kernel.Debian)
			cfg.Scheduler = tc.sched
			res, err := runE2E(t, cfg)
			f := wantFailure(t, res, err, tc.kind, tc.subs...)
			t.Logf("%s", f.Long())
			if tc.kind == FailEjected {
				var dump string
				for _, ev := range res.Scenarios[0].SchedEvents {
					if ev.Kind == string(protocol.SchedEjected) {
						dump = ev.Dump
					}
				}
				if !strings.Contains(dump, "triggered exit kind") {
					t.Errorf("ejected event's dump lacks the kernel's exit line:\n%s", dump)
				}
			}
		})
	}
}

func TestE2EPanic(t *testing.T) {
	cfg := e2e(t, kernel.Debian)
	sc, _ := LookupScenario("steady")
	sc.Name = "panic"
	sc.Steps = []spec.Step{{At: 500 * time.Millisecond, Action: spec.StepSysRq, Key: "c"}}
	cfg.Scenarios = []spec.Scenario{sc}
	res, err := runE2E(t, cfg)
	f := wantFailure(t, res, err, FailPanic, "Kernel panic", "sysrq")
	if len(f.Detail) == 0 {
		t.Errorf("no console excerpt")
	}
	if len(res.Incidents) == 0 {
		t.Fatalf("no incident recorded")
	}
	// From the host reading the panic line to Run's verdict.
	if d := res.VMTime - res.Incidents[0].At; d > 2*time.Second {
		t.Errorf("panic reported %v after it reached the console, want <= 2s", d)
	} else {
		t.Logf("panic reported %v after it reached the console", d)
	}
}

func TestE2ENoSchedExt(t *testing.T) {
	cfg := e2e(t, kernel.Stock612)
	res, err := Run(t.Context(), cfg)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("got %v, want ErrNotSupported", err)
	}
	if !strings.Contains(err.Error(), "CONFIG_SCHED_CLASS_EXT") {
		t.Errorf("error %q does not name the missing option", err)
	}
	if res != nil && len(res.Scenarios) > 0 {
		t.Errorf("scenarios ran on a kernel without sched_ext")
	}
}
