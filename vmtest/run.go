package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/initramfs"
	"github.com/scxvm/scxvm/internal/suggest"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// Run boots the configured kernel, runs every scenario in one boot and
// judges the reports. The returned Result is non-nil as soon as anything
// ran, even when err is not nil. err is nil when every scenario passed;
// otherwise it is one of:
//   - a *ConfigError (or *spec.ValidationError) for an invalid Config;
//   - an error wrapping ErrNotSupported when the kernel lacks sched_ext
//     (unless the scheduler is "none");
//   - an *InfraError when the test infrastructure failed (no QEMU, no
//     kernel in the cache, image build failure), or when the kernel file
//     is not a usable kernel image (then it wraps ErrBadKernel); nothing
//     boots then;
//   - a *Failure when the scheduler, the kernel or a check failed; it is
//     also Result.Failure.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(cfg.Exec) > 0 {
		guestPath, files, err := cfg.resolveExec()
		if err != nil {
			return nil, err
		}
		cfg.Exec = append([]string{guestPath}, cfg.Exec[1:]...)
		cfg.ExtraFiles = files
	}
	scenarios, _ := cfg.scenarios()
	g, err := prepareKernel(ctx, &cfg, start)
	if err != nil {
		return nil, err
	}
	defer g.Close() // the image is held in the cache until QEMU is gone
	k, info := g.kernel, g.info
	res := &Result{
		Kernel:    KernelInfo{Name: k.Name, Image: k.Image, Release: g.release()},
		Scheduler: cfg.Scheduler.String(),
		Topology:  cfg.Topology.String(),
		Repeat:    cfg.Repeat,
	}
	if cmp, ok := cfg.compareScheduler(); ok {
		res.Compare = cmp.String()
	}
	if !info.SchedExt && cfg.needsSchedExt() {
		return res, fmt.Errorf("kernel %s cannot run scheduler %s: %w", k.Name, cfg.Scheduler, info.SupportError())
	}

	schedPath, err := resolveSchedulerBinary(g.cacheDir, k, cfg.Scheduler)
	if err != nil {
		return res, err
	}
	if cmp, ok := cfg.compareScheduler(); ok {
		if _, err := resolveSchedulerBinary(g.cacheDir, k, cmp); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.Field = "compare"
			}
			return res, err
		}
	}
	schedPaths, err := resolveSchedulerBinaries(g.cacheDir, k, cfg.schedulerSpecs())
	if err != nil {
		return res, err
	}
	transport := resolveTransport(cfg.Transport)
	if err := g.checkShares(&cfg); err != nil {
		return res, err
	}
	if err := g.buildImage(ctx, &cfg, imageOptions{modules: needsModules(transport), binaries: binaryPaths(schedPaths), shares: len(cfg.Shares) > 0, base: true}); err != nil {
		return res, err
	}
	overlay, err := initramfs.Overlay(ctx, initramfs.Config{Binaries: binaryPaths(schedPaths), Files: extraFiles(&cfg), CacheDir: g.cacheDir, CacheMax: cfg.CacheMax})
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, &InfraError{Op: "list the guest's files", Err: err}
	}

	console := cfg.ConsoleLog
	if console == "" {
		f, err := os.CreateTemp("", "scxvm-console-*.log")
		if err != nil {
			return res, &InfraError{Op: "create console log", Err: err}
		}
		f.Close()
		console = f.Name()
	}
	res.ConsoleLog = console
	if cfg.ConsoleLog == "" {
		defer dropConsoleLog(res)
	}

	state := host.StateAuto
	if cfg.Cold || len(cfg.Shares) > 0 {
		state = host.StateOff
	}
	var restoreNote string
	for {
		s := &session{cfg: &cfg, res: res, start: start, scenarios: scenarios, schedPath: schedPath, schedPaths: schedPaths, agentPath: g.agent,
			warm: &warmRun{overlay: overlay}}
		s.emit(Event{Kind: EventBuilt, Message: fmt.Sprintf("booting %s (%s) with scheduler %s", k.Name, res.Kernel.Release, res.Scheduler)})
		vc := g.vmConfig(&cfg, transport)
		vc.Timeout, vc.ConsoleLog, vc.State = s.hardTimeout(), console, state
		vm, err := startVM(ctx, vc)
		if err != nil {
			res.Wall = time.Since(start)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, &InfraError{Op: "start qemu", Err: err}
		}
		s.vm = vm
		if b, ok := vm.(interface{ Boot() host.BootInfo }); ok {
			bi := b.Boot()
			res.Kernel.Boot, res.Kernel.BootFile, res.Kernel.BootReason = bi.Method, bi.Kernel, bi.Reason
		}
		s.startInfo()
		if restoreNote != "" {
			res.StartNote = restoreNote
		}
		err = s.run(ctx)
		var re *restoreError
		if errors.As(err, &re) && state == host.StateAuto {
			// A snapshot that does not restore is deleted, and the run
			// boots cold (and saves a new one).
			if sv, ok := vm.(stateVM); ok {
				if derr := sv.DropState(); derr != nil {
					cfg.logf("delete snapshot: %v", derr)
				}
			}
			restoreNote = fmt.Sprintf("snapshot %s failed to restore and was deleted (%v); booted cold", res.Snapshot.Path, re.err)
			cfg.logf("%s", restoreNote)
			*res = Result{Kernel: res.Kernel, Scheduler: res.Scheduler, Topology: res.Topology, ConsoleLog: res.ConsoleLog,
				Repeat: res.Repeat, Compare: res.Compare}
			state = host.StateSave
			continue
		}
		res.Summary = Summarize(res)
		if err == nil {
			err = collectError(res)
		}
		res.Wall = time.Since(start)
		cfg.logf("run finished in %v", res.Wall)
		return res, err
	}
}

// resolveSchedulerBinary returns the host path of the scheduler binary to
// put in the image, or "" for built-in schedulers and none.
func resolveSchedulerBinary(cacheDir string, k *kernel.Kernel, sched spec.Scheduler) (string, error) {
	switch {
	case sched.Path != "":
		st, err := os.Stat(sched.Path)
		if err != nil {
			return "", &ConfigError{Field: "scheduler", Err: err}
		}
		if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			return "", &ConfigError{Field: "scheduler", Msg: fmt.Sprintf("%s is not an executable file", sched.Path)}
		}
		return filepath.Abs(sched.Path)
	case sched.IsNone(), sched.IsBuiltin():
		return "", nil
	}
	scheds, err := kernel.Schedulers(cacheDir, k)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &InfraError{Op: "find scheduler " + sched.Name, Err: err}
		}
		return "", &InfraError{Op: "find scheduler " + sched.Name, Err: err}
	}
	p, ok := scheds[sched.Name]
	if !ok {
		var names []string
		for n := range scheds {
			names = append(names, n)
		}
		names = append(names, spec.BuiltinSchedulers...)
		names = append(names, spec.SchedulerNone)
		msg := fmt.Sprintf("unknown scheduler %q for kernel %s (known: %s, or a path)", sched.Name, k.Name, strings.Join(sorted(names), ", "))
		if s := suggest.Closest(sched.Name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return "", &ConfigError{Field: "scheduler", Msg: msg}
	}
	return p, nil
}

// session is one boot: the VM, the channel and the results so far.
type session struct {
	cfg       *Config
	res       *Result
	start     time.Time
	scenarios []spec.Scenario
	schedPath string
	// agentPath is the host file of the guest's /init, named when its
	// build does not match.
	agentPath string
	// schedPaths are the host binaries of every scheduler of the run,
	// keyed by spec.Scheduler.binaryKey (see multisched.go).
	schedPaths map[string]string
	vm         vmHandle
	conn       *protocol.Conn
	nextID     uint32
	// jobs are the jobs sent so far, by ID: scheduler events name the
	// job they belong to.
	jobs    map[uint32]*jobState
	userCtx context.Context
	// jobWait overrides jobTimeout (tests).
	jobWait time.Duration
	// collectNext makes the next job copy Config.Collect (the run's last
	// job).
	collectNext bool
	// cpuNode maps guest cpus to NUMA nodes, from the agent's Hello.
	cpuNode []int

	// vmDone is closed when QEMU has exited; vmErr is Wait's error.
	vmDone chan struct{}
	vmErr  error

	// warm is the warm start plan (Run); nil: the agent's first Hello
	// starts the jobs (tests of the session alone).
	warm *warmRun
}

func (s *session) emit(e Event) {
	e.Elapsed = time.Since(s.start)
	s.cfg.emit(e)
}

// hardTimeout is the VM's hard limit.
func (s *session) hardTimeout() time.Duration {
	if s.cfg.Timeout > 0 {
		return s.cfg.Timeout
	}
	d := s.cfg.bootTimeout() + 30*time.Second
	if s.warm != nil {
		d += s.warm.filesTime() + 30*time.Second // the files, a snapshot's save
	}
	n := s.cfg.repeats()
	if s.cfg.Compare != "" {
		n *= 2
	}
	for _, sc := range s.scenarios {
		d += time.Duration(n) * (sc.JobTimeout() + 10*time.Second)
	}
	return d
}

// jobTimeout is how long the host waits for a job's JobResult: the agent
// gives up at sc.JobTimeout() and its watchdog fires DefaultTimeoutSlack
// later.
func jobTimeout(sc spec.Scenario) time.Duration {
	return sc.JobTimeout() + spec.DefaultTimeoutSlack + 10*time.Second
}

// acceptHello refuses, after a Bye, the Hello of an agent of another
// build or of a guest whose shares did not mount.
func (s *session) acceptHello(live context.Context, hello *protocol.Hello) error {
	if err := protocol.CurrentBuild().Compatible(hello.Agent); err != nil {
		s.bye(live)
		return &InfraError{Op: "handshake", Err: fmt.Errorf("agent %s: %w; rebuild it from this scxvm (make build, or vmtest.BuildAgent)", s.agentPath, err)}
	}
	if err := shareErrors(hello); err != nil {
		s.bye(live)
		return err
	}
	return nil
}

// watchVM records QEMU's end: s.vmErr, then s.vmDone closed.
func (s *session) watchVM() {
	s.vmDone = make(chan struct{})
	go func() {
		s.vmErr = s.vm.Wait()
		close(s.vmDone)
	}()
}

// run drives the conversation; it always leaves the VM stopped.
func (s *session) run(ctx context.Context) (err error) {
	defer s.vm.Close()
	defer func() { s.res.VMTime = s.vm.Since() }()
	res := s.res
	res.Accel, res.Transport = s.vm.Accel(), s.vm.Transport()
	s.userCtx = ctx
	s.watchVM()
	// live is cancelled when QEMU exits, so that no read outlives the guest.
	live, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		panics := s.vm.Panics()
		for {
			select {
			case <-s.vmDone:
				cancel()
				return
			case inc, ok := <-panics:
				if !ok {
					panics = nil // QEMU is exiting; vmDone follows
					continue
				}
				// Do not wait for the dying kernel to stop its cpus.
				s.cfg.logf("console: %s; stopping the guest", inc)
				s.vm.Kill()
				cancel()
				return
			case <-live.Done():
				return
			}
		}
	}()
	defer func() {
		if err == nil && res.Failure == nil {
			res.Passed = true
			return
		}
		if ctx.Err() != nil && res.Failure == nil {
			err = ctx.Err()
			return
		}
		if res.Failure != nil {
			res.ConsoleExcerpt = s.vm.ConsoleTail(40)
			err = res.Failure
		}
	}()

	if s.warm != nil && s.warm.restored {
		return s.runRestored(ctx, live)
	}
	bootCtx, bootCancel := context.WithTimeout(live, s.cfg.bootTimeout())
	defer bootCancel()
	stream, err := s.vm.Accept(bootCtx)
	s.cfg.logf("agent channel open after %v", s.vm.Since())
	if err != nil {
		return s.guestFailure(ctx, bootCtx, "", fmt.Errorf("wait for the agent to connect: %w", err))
	}
	s.conn = protocol.NewConn(stream)
	defer s.conn.Close()
	hello, err := s.conn.AcceptHello(bootCtx)
	if err != nil {
		var ve *protocol.VersionError
		if errors.As(err, &ve) {
			s.bye(live)
			return &InfraError{Op: "handshake", Err: fmt.Errorf("agent %s: %w", s.agentPath, ve)}
		}
		s.cfg.logf("no hello after %v: %v", s.vm.Since(), err)
		return s.guestFailure(ctx, bootCtx, "", fmt.Errorf("wait for the agent's hello: %w", err))
	}
	if err := s.acceptHello(live, hello); err != nil {
		return err
	}
	helloAt := s.vm.Since()
	if s.warm != nil {
		if s.warm.save {
			s.saveState(live)
		}
		rctx, rcancel := context.WithTimeout(live, s.cfg.bootTimeout()+s.warm.filesTime())
		defer rcancel()
		if hello, err = s.resume(rctx); err != nil {
			var ie *InfraError
			if errors.As(err, &ie) {
				s.bye(live)
				return err
			}
			return s.guestFailure(ctx, rctx, "", fmt.Errorf("send the run's files: %w", err))
		}
		if err := protocol.CurrentBuild().Compatible(hello.Agent); err != nil {
			s.bye(live)
			return &InfraError{Op: "handshake", Err: fmt.Errorf("agent %s: %w", s.agentPath, err)}
		}
	}
	return s.welcome(ctx, live, hello, helloAt)
}

// welcome records the agent's Hello and runs the jobs.
func (s *session) welcome(ctx, live context.Context, hello *protocol.Hello, helloAt time.Duration) error {
	res := s.res
	res.BootToHello = helloAt
	s.cpuNode = hello.Topology.CPUNode
	res.Guest = &GuestInfo{
		KernelRelease: hello.KernelRelease,
		Cmdline:       hello.KernelCmdline,
		AgentBuild:    hello.Agent.String(),
		SchedExt:      hello.SchedExt.State,
		CPUs:          hello.Topology.CPUs,
		LLCs:          hello.Topology.Layout.NUMANodes * hello.Topology.Layout.LLCs,
		NUMANodes:     hello.Topology.Layout.NUMANodes,
		Topology:      hello.Topology.Layout.String(),
	}
	if !hello.SchedExt.Available {
		res.Guest.SchedExt = "unavailable"
	}
	boot := "unknown boot"
	if res.Kernel.Boot != "" {
		boot = res.Kernel.Boot + " boot"
	}
	if res.Start == host.StartWarm {
		boot = "warm start"
	}
	s.emit(Event{Kind: EventHello, Message: fmt.Sprintf("guest up in %.2fs (%s, %s, %s, %s): %d cpus (%s), sched_ext %s",
		res.BootToHello.Seconds(), hello.KernelRelease, boot, res.Accel, res.Transport, hello.Topology.CPUs, hello.Topology.Layout, res.Guest.SchedExt)})
	if !hello.SchedExt.Available && s.cfg.needsSchedExt() {
		s.bye(live)
		return fmt.Errorf("guest kernel %s has no /sys/kernel/sched_ext: %w", hello.KernelRelease, ErrNotSupported)
	}
	if want := s.cfg.Topology.WithDefaults(); hello.Topology.Layout != want {
		s.cfg.logf("guest sees topology %v, %v requested", hello.Topology.Layout, want)
	}

	loadFailed := map[string]string{} // scheduler -> first scenario it failed to load in
	runs := []bool{false}
	if _, ok := s.cfg.compareScheduler(); ok {
		runs = append(runs, true)
	}
	for i, sc := range s.scenarios {
		for rep := range s.cfg.repeats() {
			for j, baseline := range runs {
				// Collection follows the last job.
				s.collectNext = i == len(s.scenarios)-1 && rep == s.cfg.repeats()-1 && j == len(runs)-1
				key := s.cfg.jobScheduler(sc, baseline).String()
				if first, ok := loadFailed[key]; ok {
					// The same loader would fail again after its attach timeout.
					res.Scenarios = append(res.Scenarios, ScenarioResult{
						Name: sc.Name, Scheduler: key, Baseline: baseline, Repeat: rep, Duration: sc.RunTime(), Checks: sc.Checks,
						Failure: &Failure{Kind: FailLoad, Scenario: sc.Name, Message: fmt.Sprintf("not run: scheduler %s failed to load in scenario %q", key, first)},
					})
					continue
				}
				sr, fatal := s.runJob(live, sc, baseline, rep)
				if sr.Failure != nil && sr.Failure.Kind == FailLoad {
					loadFailed[key] = sc.Name
				}
				if ctx.Err() != nil {
					s.vm.Kill()
					<-s.vmDone
					return ctx.Err()
				}
				res.Scenarios = append(res.Scenarios, *sr)
				if js := s.jobs[s.nextID]; js != nil && js.sr == sr {
					js.index = len(res.Scenarios) - 1
				}
				if !sr.Passed && res.Failure == nil {
					res.Failure = sr.Failure
					if res.Failure == nil {
						res.Failure = checksFailure(sr)
					}
				}
				if fatal != nil {
					if res.Failure == nil || res.Failure == sr.Failure {
						res.Failure = fatal
					}
					return nil
				}
			}
		}
	}
	s.bye(live)
	return nil
}

// checksFailure summarises the failed checks of a scenario.
func checksFailure(sr *ScenarioResult) *Failure {
	f := &Failure{Kind: FailChecks, Scenario: sr.Name}
	var names []string
	for _, c := range sr.Failures {
		f.Detail = append(f.Detail, sr.FailureText(c))
		if len(names) == 0 || names[len(names)-1] != c.Check {
			names = append(names, c.Check)
		}
	}
	f.Message = fmt.Sprintf("%d check(s) failed under %s: %s", len(sr.Failures), sr.Scheduler, strings.Join(names, ", "))
	return f
}

// bye ends the conversation: Bye to the agent, its Bye back, QEMU's exit.
func (s *session) bye(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.conn.Send(&protocol.Bye{Reason: "done"}); err != nil {
		s.cfg.logf("send bye: %v", err)
	}
	for {
		m, err := s.conn.RecvContext(ctx)
		if err != nil {
			s.cfg.logf("wait for the agent's bye: %v", err)
			break
		}
		if _, ok := m.(*protocol.Bye); ok {
			break
		}
		if kl, ok := m.(*protocol.KernelLog); ok {
			s.kernelLines(kl, nil)
		}
	}
	select {
	case <-s.vmDone:
	case <-ctx.Done():
		s.cfg.logf("qemu did not exit after bye; killing it")
		s.vm.Kill()
		<-s.vmDone
	}
	s.res.Incidents = s.vm.Incidents()
}

// guestFailure attributes a lost guest: a kernel panic seen on the
// console, a hang (timeout), QEMU exiting, or the transport closing.
func (s *session) guestFailure(ctx, waitCtx context.Context, scenario string, cause error) error {
	if ctx.Err() != nil {
		s.vm.Kill()
		<-s.vmDone
		return ctx.Err()
	}
	f := s.attribute(waitCtx, scenario, cause)
	s.res.Failure = f
	return nil
}

// attribute builds the Failure for a guest that stopped answering, waiting
// up to 2 s for QEMU to exit so that a panic's console lines are in.
func (s *session) attribute(waitCtx context.Context, scenario string, cause error) *Failure {
	exited := false
	select {
	case <-s.vmDone:
		exited = true
	case <-time.After(2 * time.Second):
	}
	if !exited {
		s.cfg.logf("the guest is still running 2s after the channel failed; killing it")
		s.vm.Kill()
		<-s.vmDone
	}
	s.cfg.logf("qemu exited after %v: %v", s.vm.Since(), s.vmErr)
	s.res.Incidents = s.vm.Incidents()
	tail := s.vm.ConsoleTail(40)
	f := &Failure{Scenario: scenario}
	if inc := firstPanic(s.res.Incidents, tail); inc != nil {
		s.cfg.logf("console showed %s at %v", inc.Kind, inc.At)
		f.Kind = FailPanic
		f.Message = strings.TrimSpace(inc.Line)
		f.Detail = inc.Excerpt
		return f
	}
	switch {
	case waitCtx.Err() == context.DeadlineExceeded && !exited:
		f.Kind = FailTimeout
		f.Message = fmt.Sprintf("the guest stopped answering (%v)", cause)
	case exited:
		f.Kind = FailGuestExited
		f.Message = fmt.Sprintf("QEMU exited before the agent's bye (%v): %v", s.vmErr, cause)
	default:
		f.Kind = FailTransport
		f.Message = fmt.Sprintf("the channel to the agent was lost before its bye: %v", cause)
	}
	f.Detail = tail
	return f
}

// firstPanic returns the first panic, oops or BUG among the host's
// incidents, else among the console tail's lines (as an incident whose
// excerpt runs from a few lines before it to the end of the tail).
func firstPanic(incidents []Incident, tail []string) *Incident {
	for _, inc := range incidents {
		if inc.Kind.Fatal() {
			return &inc
		}
	}
	for i, l := range tail {
		if k, ok := ktext.Detect(l); ok && k.Fatal() {
			return &Incident{Kind: k, Line: strings.TrimSpace(l), Excerpt: tail[max(0, i-5):]}
		}
	}
	return nil
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

var _ io.Closer = (*protocol.Conn)(nil)
