package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/workload"
	"github.com/scxvm/scxvm/workload/cgroup"
)

// Progress is one progress sample.
type Progress struct {
	// At is the time since the workers were started.
	At time.Duration
	// Iterations holds every worker's iteration count, in Workers order.
	Iterations []uint64
	// Workers is set on the first sample and whenever the worker set
	// changed since the previous sample; nil means unchanged.
	Workers []protocol.WorkerInfo
}

// Hooks connect a scenario to the rest of the agent. Nil hooks make the
// steps that need them fail (Progress: no progress is reported).
type Hooks struct {
	// Progress receives a sample every Config.Interval.
	Progress func(Progress)
	// KillScheduler sends sig to the scheduler (kill_scheduler step).
	KillScheduler func(sig syscall.Signal) error
	// SysRq triggers a SysRq key (sysrq step).
	SysRq func(key string) error
	// Hang blocks until ctx ends while nothing is sent (hang step).
	Hang func(ctx context.Context)
	// Logf receives diagnostic messages.
	Logf func(format string, args ...any)
	// Output receives each chunk a payload writes (payload indexes the
	// scenario's Payloads, stream is protocol.StreamStdout or
	// StreamStderr), in order per stream; the payload's pipe waits
	// until it returns. Nil keeps only the head and tail.
	Output func(payload, stream int, data []byte)
}

// Config says where and how to run a scenario.
type Config struct {
	// CgroupParent is the cgroup2 directory under which the job's cgroup
	// is created; default /sys/fs/cgroup.
	CgroupParent string
	// Name is the job cgroup's directory name; default "scxvm-job".
	Name string
	// CgroupOptions are passed to cgroup.NewManager (tests use
	// cgroup.WithoutFSCheck with a fake parent).
	CgroupOptions []cgroup.Option
	// Interval is the progress period; zero means one second, negative
	// means no progress.
	Interval time.Duration
	// StopTimeout is the shared report deadline of each workload; zero
	// means workload.DefaultStopTimeout.
	StopTimeout time.Duration
	// PayloadOutput caps the kept head and tail of a payload's output;
	// default 8 KiB each.
	PayloadOutput int
	Hooks
}

// Result is what a scenario produced. Run returns it even with an error:
// reports of workers that finished are never dropped.
type Result struct {
	Reports  []protocol.CgroupReport
	Payloads []protocol.PayloadResult
	// Setup is cgroups and spawning; Run is Start to stop; Collect is
	// stop to the last report.
	Setup, Run, Collect time.Duration
}

// handle is one spawned workload and where it lives.
type handle struct {
	cgroup string // scenario cgroup it was spawned in
	first  int    // index of its first worker among its cgroup's workers
	h      *workload.WorkloadHandle
}

type runner struct {
	cfg     Config
	sc      spec.Scenario
	mgr     *cgroup.Manager
	grp     *cgroup.Group
	cpus    map[string]string // current cpuset.cpus per scenario cgroup
	handles []*handle
	changed bool // worker set changed since the last progress sample
	payload *payloads
	threads bool // the agent process moved to the job cgroup for threads
	start   time.Time
}

// Run runs sc and returns its result; see the package documentation.
// ctx bounds everything: when it ends, steps stop, workers are stopped and
// collected (collection has its own deadline), and the error says so.
func Run(ctx context.Context, sc spec.Scenario, cfg Config) (res *Result, err error) {
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "/sys/fs/cgroup"
	}
	if cfg.Name == "" {
		cfg.Name = "scxvm-job"
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.PayloadOutput <= 0 {
		cfg.PayloadOutput = 8 << 10
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	sc.Duration = sc.RunTime()
	// The host validated sc before it booted; this guards the guest
	// against a host of another build.
	if err := sc.Validate(); err != nil {
		return &Result{}, err
	}
	r := &runner{cfg: cfg, sc: sc, cpus: make(map[string]string)}
	res = &Result{}
	defer func() {
		if cerr := r.cleanup(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	t0 := time.Now()
	if err := r.setup(); err != nil {
		res.Setup = time.Since(t0)
		res.Reports = r.collect()
		return res, err
	}
	res.Setup = time.Since(t0)

	r.payload = startPayloads(ctx, sc.Payloads, r, cfg.PayloadOutput)
	r.start = time.Now()
	for _, h := range r.handles {
		r.startHandle(h.h)
	}
	var runErr error
	if !sc.EndsWithPayloads() {
		runErr = r.run(ctx)
	} else {
		r.progress()
	}
	if runErr == nil {
		runErr = r.payload.waitFor(ctx)
	}
	res.Run = time.Since(r.start)

	t1 := time.Now()
	res.Reports = r.collect()
	res.Payloads = r.payload.finish()
	res.Collect = time.Since(t1)
	return res, runErr
}

func (r *runner) setup() error {
	m, err := cgroup.NewManager(filepath.Join(r.cfg.CgroupParent, r.cfg.Name), r.cfg.CgroupOptions...)
	if err != nil {
		return fmt.Errorf("create job cgroup: %w", err)
	}
	r.mgr = m
	r.grp = m.NewGroup()
	for _, c := range r.sc.Cgroups {
		if err := r.addCgroup(c.Name, c.CPUs); err != nil {
			return err
		}
		if c.Mems != "" {
			if err := r.mgr.SetMems(c.Name, c.Mems); err != nil {
				return fmt.Errorf("cgroup %s: %w", c.Name, err)
			}
		}
	}
	for _, c := range r.sc.Cgroups {
		if err := r.spawn(c.Name, c.Workloads); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) addCgroup(name, cpus string) error {
	if err := r.grp.Add(name, cpus); err != nil {
		return fmt.Errorf("create cgroup %s: %w", name, err)
	}
	r.cpus[name] = cpus
	return nil
}

// spawn spawns workloads blocked and moves them into cgroup name.
func (r *runner) spawn(name string, wls []spec.WorkloadConfig) error {
	first := 0
	for _, h := range r.handles {
		if h.cgroup == name {
			first += h.h.Len()
		}
	}
	for i, wc := range wls {
		var opts []workload.SpawnOption
		if wc.CloneMode != spec.CloneThread && !r.mgr.Plain() {
			// Born in the cgroup: no migration, and the runtime's
			// start-up already runs within the cgroup's cpuset.
			opts = append(opts, workload.InCgroup(r.mgr.Path(name)))
		}
		churn, err := r.churnCgroups(name, wc)
		if err != nil {
			return fmt.Errorf("cgroup %s: workload %d: %w", name, i, err)
		}
		h, err := workload.Spawn(wc, append(opts, churn...)...)
		if err != nil {
			return fmt.Errorf("cgroup %s: workload %d: %w", name, i, err)
		}
		if r.cfg.StopTimeout > 0 {
			h.SetStopTimeout(r.cfg.StopTimeout)
		}
		r.handles = append(r.handles, &handle{cgroup: name, first: first, h: h})
		r.changed = true
		first += h.Len()
		if len(opts) > 0 {
			continue // spawned in place
		}
		if err := r.place(h, name); err != nil {
			return fmt.Errorf("cgroup %s: workload %d: %w", name, i, err)
		}
	}
	return nil
}

// place moves a handle's workers into cgroup name: thread workers, process
// workers on a plain-file cgroup tree (tests), and every move step.
func (r *runner) place(h *workload.WorkloadHandle, name string) error {
	if h.IsThread() {
		// The threads' process must sit in the threaded domain, the
		// manager's root.
		if !r.threads {
			if err := r.mgr.MoveToRoot(syscall.Getpid()); err != nil {
				return fmt.Errorf("move agent to the job cgroup for thread workers: %w", err)
			}
			r.threads = true
		}
		return r.mgr.MoveThreads(name, h.WorkerTIDs())
	}
	pids, err := h.WorkerPIDsForCgroupProcs()
	if err != nil {
		return err
	}
	return r.mgr.MoveTasks(name, pids)
}

// run waits for the scenario's duration, applying steps and sending
// progress, until the duration ends, a step fails or ctx ends.
func (r *runner) run(ctx context.Context) error {
	steps := slices.Clone(r.sc.Steps)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].At < steps[j].At })
	// The run ends Duration after r.start, like the workers' deadline
	// and the steps' times, not after the time it took to start them.
	end := time.NewTimer(time.Until(r.start.Add(r.sc.Duration)))
	defer end.Stop()
	var tick <-chan time.Time
	if r.cfg.Interval > 0 && r.cfg.Progress != nil {
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		tick = t.C
		r.progress()
	}
	next := time.NewTimer(time.Hour)
	defer next.Stop()
	arm := func() {
		if len(steps) > 0 {
			next.Reset(time.Until(r.start.Add(steps[0].At)))
		}
	}
	arm()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("scenario %q: %w", r.sc.Name, ctx.Err())
		case <-end.C:
			r.progress()
			return nil
		case <-tick:
			r.progress()
		case <-next.C:
			for len(steps) > 0 && !time.Now().Before(r.start.Add(steps[0].At)) {
				s := steps[0]
				steps = steps[1:]
				r.cfg.Logf("scenario %s: step %s at %v", r.sc.Name, s.Action, s.At)
				if err := r.step(ctx, s); err != nil {
					return fmt.Errorf("scenario %q: step %s at %v: %w", r.sc.Name, s.Action, s.At, err)
				}
				if r.changed {
					r.progress()
				}
			}
			arm()
		}
	}
}

func (r *runner) progress() {
	if r.cfg.Progress == nil || r.cfg.Interval < 0 {
		return
	}
	p := Progress{At: time.Since(r.start)}
	for _, h := range r.handles {
		p.Iterations = append(p.Iterations, h.h.SnapshotIterations()...)
	}
	if r.changed {
		p.Workers = r.workers()
		r.changed = false
	}
	r.cfg.Progress(p)
}

// workers lists every worker in report order.
func (r *runner) workers() []protocol.WorkerInfo {
	var out []protocol.WorkerInfo
	for _, h := range r.handles {
		for i, tid := range h.h.WorkerTIDs() {
			out = append(out, protocol.WorkerInfo{Cgroup: h.cgroup, Index: h.first + i, PID: tid})
		}
	}
	return out
}

// worker finds worker idx of cgroup name.
func (r *runner) worker(name string, idx int) (*workload.WorkloadHandle, int, error) {
	for _, h := range r.handles {
		if h.cgroup == name && idx >= h.first && idx < h.first+h.h.Len() {
			return h.h, idx - h.first, nil
		}
	}
	return nil, 0, fmt.Errorf("cgroup %s has no worker %d", name, idx)
}

func signalOf(s spec.Step) syscall.Signal {
	if s.Signal == 0 {
		return syscall.SIGKILL
	}
	return syscall.Signal(s.Signal)
}

func (r *runner) step(ctx context.Context, s spec.Step) error {
	switch s.Action {
	case spec.StepSetCpuset:
		if s.CPUs == "" {
			if err := r.mgr.ClearCPUs(s.Cgroup); err != nil {
				return err
			}
		} else if err := r.mgr.SetCPUs(s.Cgroup, s.CPUs); err != nil {
			return err
		}
		r.cpus[s.Cgroup] = s.CPUs
	case spec.StepSwapCpusets:
		a, b := r.cpus[s.Cgroup], r.cpus[s.Target]
		for _, x := range []struct{ name, cpus string }{{s.Cgroup, b}, {s.Target, a}} {
			var err error
			if x.cpus == "" {
				err = r.mgr.ClearCPUs(x.name)
			} else {
				err = r.mgr.SetCPUs(x.name, x.cpus)
			}
			if err != nil {
				return err
			}
		}
		r.cpus[s.Cgroup], r.cpus[s.Target] = b, a
	case spec.StepAddCgroup:
		if err := r.addCgroup(s.Cgroup, s.CPUs); err != nil {
			return err
		}
		return r.spawnStarted(s.Cgroup, s.Workloads)
	case spec.StepRemoveCgroup:
		if err := r.mgr.Drain(s.Cgroup); err != nil {
			return err
		}
		if err := r.mgr.Remove(s.Cgroup); err != nil {
			return err
		}
		delete(r.cpus, s.Cgroup)
	case spec.StepMoveTasks:
		for _, h := range r.handles {
			if h.cgroup == s.Cgroup {
				if err := r.place(h.h, s.Target); err != nil {
					return err
				}
			}
		}
	case spec.StepSetAffinity:
		h, i, err := r.worker(s.Cgroup, s.Worker)
		if err != nil {
			return err
		}
		set, err := spec.ParseCPUSet(s.CPUs)
		if err != nil {
			return err
		}
		return h.SetAffinity(i, set.Slice())
	case spec.StepSpawn:
		return r.spawnStarted(s.Cgroup, s.Workloads)
	case spec.StepKillWorker:
		h, i, err := r.worker(s.Cgroup, s.Worker)
		if err != nil {
			return err
		}
		return h.Signal(i, signalOf(s))
	case spec.StepKillScheduler:
		if r.cfg.KillScheduler == nil {
			return errors.New("no scheduler to kill")
		}
		return r.cfg.KillScheduler(signalOf(s))
	case spec.StepSysRq:
		if r.cfg.SysRq == nil {
			return errors.New("sysrq not available")
		}
		return r.cfg.SysRq(s.Key)
	case spec.StepHang:
		if r.cfg.Hang == nil {
			return errors.New("hang not available")
		}
		r.cfg.Hang(ctx)
		return ctx.Err()
	}
	return nil
}

func (r *runner) spawnStarted(name string, wls []spec.WorkloadConfig) error {
	n := len(r.handles)
	err := r.spawn(name, wls)
	for _, h := range r.handles[n:] {
		r.startHandle(h.h)
	}
	return err
}

// startHandle starts h's workers with the end of the run as their
// deadline, so that they stop on time even when the agent does not get a
// cpu then (the scheduler under test decides when it runs). A payload the
// scenario waits for extends the run: its workers run until collected.
func (r *runner) startHandle(h *workload.WorkloadHandle) {
	for _, p := range r.sc.Payloads {
		if p.Waited() {
			h.Start()
			return
		}
	}
	h.StartFor(time.Until(r.start.Add(r.sc.Duration)))
}

// collect stops every workload at once (each has its own deadline, so
// stopping them in parallel bounds the total) and returns the reports in
// worker order.
func (r *runner) collect() []protocol.CgroupReport {
	reps := make([][]spec.WorkerReport, len(r.handles))
	var wg sync.WaitGroup
	for i, h := range r.handles {
		wg.Go(func() { reps[i] = h.h.StopAndCollect() })
	}
	wg.Wait()
	var out []protocol.CgroupReport
	for i, h := range r.handles {
		for _, rep := range reps[i] {
			rep.Index += h.first
			out = append(out, protocol.CgroupReport{Cgroup: h.cgroup, Report: rep})
		}
	}
	return out
}

// cleanup closes every handle, kills payloads and removes every cgroup.
func (r *runner) cleanup() error {
	var errs []error
	if r.payload != nil {
		r.payload.finish()
	}
	for _, h := range r.handles {
		if err := h.h.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.threads {
		// Back to the hierarchy root so that the job cgroup can go.
		if err := writeProcs(r.cfg.CgroupParent, syscall.Getpid()); err != nil {
			errs = append(errs, err)
		}
	}
	if r.grp != nil {
		if err := r.grp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("remove scenario cgroups: %w", err))
		}
	}
	if r.mgr != nil {
		if err := r.mgr.Cleanup(); err != nil {
			errs = append(errs, fmt.Errorf("remove job cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// writeProcs moves pid into the cgroup directory dir.
func writeProcs(dir string, pid int) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("move agent back to %s: %w", dir, err)
	}
	return nil
}
