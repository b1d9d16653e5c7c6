package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// Scenario names of the in-guest boot.
const (
	overheadRuns = 8
	pairRounds   = 3
	pairCPU      = "1"
	perfLoops    = 5_000
	spawnWorkers = 256
)

// allChecks are skipped in the benchmark scenarios: they measure, they do
// not judge.
var allChecks = spec.Checks{Skip: slices.Clone(spec.CheckNames)}

func benchScenario(name string, d time.Duration, wls ...spec.WorkloadConfig) spec.Scenario {
	s := spec.Scenario{Name: name, Duration: d, Checks: allChecks}
	if len(wls) > 0 {
		s.Cgroups = []spec.Cgroup{{Name: "bench", Workloads: wls}}
	}
	return s
}

// inGuest boots once with the built-in fifo scheduler and runs: identical
// short scenarios (overhead), the ping-pong pairs and perf bench sched
// pipe (round trips), and 256 workers (spawn/stop).
// vmConfig is the VM configuration every in-guest measurement starts
// from: the bench's kernel, boot method, accelerator, cache and agent.
func (b *bencher) vmConfig() vmtest.Config {
	return vmtest.Config{
		Kernel:      b.cfg.Kernel,
		Boot:        b.cfg.Boot,
		Accel:       b.cfg.Accel,
		CacheDir:    b.cfg.CacheDir,
		Agent:       b.cfg.Agent,
		BootTimeout: 3 * time.Minute,
		Logf:        b.cfg.Logf,
	}
}

func (b *bencher) inGuest(ctx context.Context) []Row {
	const (
		ovName    = "overhead per scenario in one boot"
		ovTarget  = "< 150 ms (TCG)"
		pipeName  = "PipeIo round trips (default 1024-increment burst)"
		pipeTgt   = "" // the workload target (>= 0.9x perf) is for the host: go test -bench PipeIo ./workload
		pipe1Name = "PipeIo round trips, 1-increment burst (like perf)"
		futexName = "FutexPingPong round trips"
		spName    = "spawn + stop 256 workers in the guest"
		spTarget  = "" // the workload target (< 500 ms) is for the host: go test -bench SpawnStop ./workload
	)
	var ss []spec.Scenario
	for i := range overheadRuns {
		ss = append(ss, benchScenario("steady-"+strconv.Itoa(i), 500*time.Millisecond, spec.WorkloadConfig{NumWorkers: 2}))
	}
	// Ping-pong pairs and perf bench sched pipe alternate, pairRounds
	// times, all on one cpu (a cgroup's cpuset): unpinned, a pair lands on
	// one cpu or two by chance, and the two differ several times over.
	pin := func(s spec.Scenario) spec.Scenario {
		if len(s.Cgroups) == 0 {
			s.Cgroups = []spec.Cgroup{{Name: "bench"}}
		}
		s.Cgroups[0].CPUs = pairCPU
		return s
	}
	pair := func(wt spec.WorkType) spec.WorkloadConfig {
		return spec.WorkloadConfig{NumWorkers: 2, WorkType: wt}
	}
	cfg := b.vmConfig()
	cfg.MemoryMB = 3072 // 256 worker processes
	cfg.ConsoleLog = filepath.Join(b.tmp, "guest.log")
	for r := range pairRounds {
		round := "-" + strconv.Itoa(r)
		if b.cfg.Perf != "" {
			perf := pin(benchScenario("perf"+round, 100*time.Millisecond))
			perf.Payloads = []spec.Payload{{Name: "perf", Path: "/usr/bin/perf", Args: []string{"bench", "sched", "pipe", "-l", strconv.Itoa(perfLoops)}, Cgroup: "bench", Wait: true}}
			perf.Timeout = 3 * time.Minute
			ss = append(ss, perf)
			cfg.ExtraFiles = map[string]string{"/usr/bin/perf": b.cfg.Perf}
		}
		ss = append(ss,
			pin(benchScenario("pipe-nospin"+round, time.Second, pair(spec.WorkType{Kind: spec.PipeIo, BurstIters: 1}))),
			pin(benchScenario("pipe"+round, time.Second, pair(spec.WorkType{Kind: spec.PipeIo}))),
			pin(benchScenario("futex"+round, time.Second, pair(spec.WorkType{Kind: spec.FutexPingPong}))),
		)
	}
	// Last: spawning 256 workers takes a minute under TCG.
	// Threads first: a failed process spawn must not hide them.
	threads := benchScenario("spawn256-threads", 200*time.Millisecond, spec.WorkloadConfig{NumWorkers: spawnWorkers, CloneMode: spec.CloneThread})
	threads.Timeout = 5 * time.Minute
	spawn := benchScenario("spawn256", 200*time.Millisecond, spec.WorkloadConfig{NumWorkers: spawnWorkers})
	spawn.Timeout = 5 * time.Minute
	cfg.Scenarios = append(ss, threads, spawn)
	res, err := vmtest.Run(ctx, cfg)
	if res == nil || len(res.Scenarios) == 0 {
		if err == nil {
			err = fmt.Errorf("no scenario ran")
		}
		return []Row{failed(ovName, ovTarget, err), failed(pipe1Name, pipeTgt, err), failed(pipeName, "", err),
			failed(futexName, "", err), failed(spName, spTarget, err)}
	}
	if err != nil {
		b.cfg.logf("in-guest run: %v", err)
	}
	if b.rep.Accel == "" {
		b.rep.Accel, b.rep.Transport = res.Accel, res.Transport
	}
	var rows []Row

	// Overhead: the first scenario pays for the scheduler's attach. The
	// median of the others: one scenario that the host's noise slows
	// down (a TCG guest feels every stall of its one host thread) would
	// otherwise decide the mean.
	var overs, setups, collects []float64
	for i := 1; i < overheadRuns; i++ {
		if s := res.Scenario("steady-" + strconv.Itoa(i)); s != nil && s.Failure == nil && s.Timings != nil {
			overs = append(overs, ms(s.Elapsed-s.Duration))
			setups = append(setups, ms(s.Timings.Setup))
			collects = append(collects, ms(s.Timings.Collect))
		}
	}
	if len(overs) == 0 {
		rows = append(rows, failed(ovName, ovTarget, fmt.Errorf("no overhead scenario completed: %v", err)))
	} else {
		o, lo, hi := median(overs), slices.Min(overs), slices.Max(overs)
		rows = append(rows, Row{Name: ovName, Value: o, Unit: "ms", Display: fmt.Sprintf("%.0f ms", o), Target: ovTarget, Met: met(o < 150),
			Samples: overheadRuns - 1, SamplesOK: len(overs),
			Baseline: fmt.Sprintf("median of %d (%.0f-%.0f ms); agent setup %.0f ms + collect %.0f ms of it; 500 ms scenarios, 2 workers", len(overs), lo, hi, median(setups), median(collects)),
			Metrics: map[string]float64{"overhead_ms": o, "overhead_min_ms": lo, "overhead_max_ms": hi,
				"agent_setup_ms": median(setups), "agent_collect_ms": median(collects), "scenarios": float64(len(overs))}})
	}

	// Round trips against perf in the same guest, round by round.
	for _, p := range []struct{ name, sc, target string }{
		{pipe1Name, "pipe-nospin", pipeTgt}, {pipeName, "pipe", ""}, {futexName, "futex", ""},
	} {
		rows = append(rows, b.pairRow(res, p.name, p.sc, p.target))
	}

	rows = append(rows, spawnRow(spName+" (processes)", spTarget, res.Scenario("spawn256")))
	rows = append(rows, spawnRow(spName+" (threads)", "", res.Scenario("spawn256-threads")))
	return rows
}

// spawnRow reports spawn + stop of 256 workers: the agent's setup
// (cgroup, spawn, move) and collection (stop, reap, reports) of the
// scenario. A spawn that failed is not a measurement.
func spawnRow(name, target string, s *vmtest.ScenarioResult) Row {
	if s == nil || s.Timings == nil {
		return failed(name, target, fmt.Errorf("scenario did not report timings"))
	}
	done := 0
	for _, w := range s.Workers {
		if w.Report.Completed {
			done++
		}
	}
	if done != spawnWorkers {
		why := fmt.Sprintf("%d/%d reports after %.0f ms of setup", done, spawnWorkers, ms(s.Timings.Setup))
		if s.Failure != nil {
			why += ": " + firstLine(s.Failure.Message)
		}
		return failed(name, target, fmt.Errorf("%s", why))
	}
	t := s.Timings.Setup + s.Timings.Collect
	row := Row{Name: name, Value: ms(t), Unit: "ms", Display: fmt.Sprintf("%.0f ms", ms(t)), Target: target,
		Baseline: fmt.Sprintf("setup %.0f ms + collect %.0f ms; %.1f ms per worker", ms(s.Timings.Setup), ms(s.Timings.Collect), ms(t)/spawnWorkers),
		Metrics:  map[string]float64{"setup_ms": ms(s.Timings.Setup), "collect_ms": ms(s.Timings.Collect)}}
	if target != "" {
		row.Met = met(ms(t) < 500)
	}
	return row
}

var perfOpsRe = regexp.MustCompile(`(?m)^\s*([0-9]+)\s+ops/sec`)

// perfResult returns perf bench sched pipe's ops/sec (one op is one round
// trip) from the perf scenario's payload.
func perfResult(res *vmtest.Result, perf, scenario string) (float64, error) {
	if perf == "" {
		return 0, fmt.Errorf("no perf binary (install linux-perf: make deps payloads)")
	}
	s := res.Scenario(scenario)
	if s == nil || len(s.Payloads) == 0 {
		return 0, fmt.Errorf("perf scenario did not run")
	}
	p := s.Payloads[0]
	m := perfOpsRe.FindStringSubmatch(p.Output)
	if m == nil {
		return 0, fmt.Errorf("%s, no ops/sec in output: %s", payloadEnd(p), firstLine(p.Output))
	}
	return strconv.ParseFloat(m[1], 64)
}

// pairRow reports a ping-pong kind's round trips per second over the
// rounds, against perf bench sched pipe of the same rounds: the median of
// the per-round ratios. A round counts when both its pair and its perf
// run measured; the row says n/N when some did not.
func (b *bencher) pairRow(res *vmtest.Result, name, sc, target string) Row {
	var rates, ratios []float64
	var pairErr, perfErr error
	perfSum := 0.0
	for r := range pairRounds {
		round := "-" + strconv.Itoa(r)
		rate, err := roundTrips(res.Scenario(sc + round))
		if err != nil {
			pairErr = fmt.Errorf("round %d: %w", r, err)
			continue
		}
		rates = append(rates, rate)
		perf, err := perfResult(res, b.cfg.Perf, "perf"+round)
		if err != nil {
			perfErr = fmt.Errorf("round %d: %w", r, err)
			continue
		}
		perfSum += perf
		ratios = append(ratios, rate/perf)
	}
	if len(rates) == 0 {
		return failed(name, target, pairErr)
	}
	rate := 0.0
	for _, r := range rates {
		rate += r / float64(len(rates))
	}
	row := Row{Name: name, Value: rate, Unit: "round trips/s", Display: fmt.Sprintf("%.0f /s", rate), Target: target,
		Samples: pairRounds, SamplesOK: len(ratios),
		Metrics: map[string]float64{"round_trips_per_s": rate, "rounds": float64(len(rates))}}
	if len(ratios) == 0 {
		// The pair measured, its baseline did not: no ratio, no verdict.
		row.Baseline = "perf: " + perfErr.Error()
		row.SamplesOK = len(rates)
		if target != "" {
			row.Error = "no perf baseline: " + perfErr.Error()
		}
		return row
	}
	slices.Sort(ratios)
	ratio, perf := ratios[len(ratios)/2], perfSum/float64(len(ratios))
	row.Baseline = fmt.Sprintf("perf bench sched pipe %.0f /s (median ratio %.2fx of %d rounds, both on cpu %s)", perf, ratio, len(ratios), pairCPU)
	if failures := errors.Join(pairErr, perfErr); failures != nil {
		row.Baseline += "; failed: " + strings.ReplaceAll(failures.Error(), "\n", "; ")
	}
	row.Metrics["perf_ops_per_s"], row.Metrics["ratio"] = perf, ratio
	if target != "" {
		row.Met = met(ratio >= 0.9)
	}
	return row
}

// roundTrips returns the round trips per second of the pair's first worker.
func roundTrips(s *vmtest.ScenarioResult) (float64, error) {
	if s == nil {
		return 0, fmt.Errorf("scenario did not run")
	}
	if len(s.Workers) == 0 || !s.Workers[0].Report.Completed || s.Workers[0].Report.WallTimeNs == 0 {
		if s.Failure != nil {
			return 0, s.Failure
		}
		return 0, fmt.Errorf("no report from the pair")
	}
	r := s.Workers[0].Report
	return float64(r.Iterations) / (float64(r.WallTimeNs) / 1e9), nil
}

// hostRSS runs `scxvm run steady` (the host driver) and reports its peak
// resident set.
func (b *bencher) hostRSS(ctx context.Context) []Row {
	if b.cfg.CLI == "" {
		return []Row{failed(rssName, rssTarget, fmt.Errorf("no scxvm binary to run (Config.CLI)"))}
	}
	resPath := filepath.Join(b.tmp, "rss.json")
	args := []string{"run", "--kernel", b.cfg.Kernel, "--cache", b.cfg.CacheDir, "--boot-timeout", "3m", "--console", filepath.Join(b.tmp, "rss.log"), "--json", resPath}
	if b.cfg.Accel != "" {
		args = append(args, "--accel", b.cfg.Accel)
	}
	if b.cfg.Boot != "" {
		args = append(args, "--boot", b.cfg.Boot)
	}
	cmd := exec.CommandContext(ctx, b.cfg.CLI, append(args, "steady")...)
	cmd.Env = append(os.Environ(), "SCXVM_AGENT="+b.cfg.Agent)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return []Row{failed(rssName, rssTarget, err)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	hwm := 0
	var runErr error
poll:
	for {
		hwm = max(hwm, vmHWM(cmd.Process.Pid))
		select {
		case runErr = <-done:
			break poll
		case <-time.After(20 * time.Millisecond):
		}
	}
	var res *vmtest.Result
	if data, err := os.ReadFile(resPath); err == nil {
		res = &vmtest.Result{}
		if err := json.Unmarshal(data, res); err != nil {
			res = nil
		}
	}
	return []Row{rssRow(hwm, res, runErr, stderr.String())}
}

const rssName, rssTarget = "host driver peak RSS (scxvm run steady)", "< 60 MB"

// rssRow judges the RSS measurement: it counts only when the run did the
// driver's whole job, booting the guest and getting the scenario's result
// back (res, the run's --json output, says so; a failed check does not
// matter). A run that failed before that says nothing about the peak.
func rssRow(hwmKB int, res *vmtest.Result, runErr error, stderr string) Row {
	ranScenario := res != nil && res.BootToHello > 0 && slices.ContainsFunc(res.Scenarios, func(s vmtest.ScenarioResult) bool {
		return s.Name == "steady" && s.Timings != nil
	})
	switch {
	case hwmKB == 0:
		return failed(rssName, rssTarget, fmt.Errorf("no VmHWM read (run: %v)", runErr))
	case !ranScenario:
		why := "the run did not get the scenario's result"
		if runErr != nil {
			why += fmt.Sprintf(" (%v: %s)", runErr, errorLine(stderr))
		}
		row := failed(rssName, rssTarget, errors.New(why))
		row.Metrics = map[string]float64{"vmhwm_kb": float64(hwmKB)}
		return row
	}
	mb := float64(hwmKB) / 1024
	row := Row{Name: rssName, Value: mb, Unit: "MB", Display: fmt.Sprintf("%.1f MB", mb), Target: rssTarget, Met: met(mb < 60),
		Metrics: map[string]float64{"vmhwm_kb": float64(hwmKB)}}
	if runErr != nil {
		row.Baseline = fmt.Sprintf("run ended with %v: %s", runErr, errorLine(stderr))
	}
	return row
}

// vmHWM returns a process's peak resident set in KiB, or 0.
func vmHWM(pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// errorLine returns the CLI's error line ("scxvm: ...", not the final
// "scxvm: exit N" line) from its stderr, else its last line.
func errorLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "scxvm: ") && !strings.HasPrefix(lines[i], "scxvm: exit ") {
			return lines[i]
		}
	}
	return lines[len(lines)-1]
}

// payloadEnd says how a payload ended: its start error, signal or exit
// status.
func payloadEnd(p vmtest.PayloadResult) string {
	switch {
	case p.Error != "":
		return p.Error
	case p.Signal != 0:
		return fmt.Sprintf("killed by signal %d", p.Signal)
	case p.ExitCode != nil:
		return fmt.Sprintf("exit %d", *p.ExitCode)
	}
	return "no exit status"
}
