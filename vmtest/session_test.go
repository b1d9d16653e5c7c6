package vmtest

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// fakeVM plays QEMU: Accept hands out one end of a pipe whose other end a
// fake agent drives; the "guest" exits when the agent function returns or
// when Kill is called.
type fakeVM struct {
	host, guest net.Conn
	exited      chan struct{}
	once        sync.Once
	mu          sync.Mutex
	console     []string
	incidents   []Incident
	killed      bool
	started     time.Time
	panics      chan Incident
}

func newFakeVM(agent func(c *protocol.Conn, vm *fakeVM)) *fakeVM {
	h, g := net.Pipe()
	vm := &fakeVM{host: h, guest: g, exited: make(chan struct{}), started: time.Now(), panics: make(chan Incident, 1)}
	go func() {
		c := protocol.NewConn(g)
		agent(c, vm)
		vm.exit()
	}()
	return vm
}

func (v *fakeVM) exit() {
	v.once.Do(func() {
		v.guest.Close()
		close(v.exited)
		close(v.panics)
	})
}

func (v *fakeVM) Panics() <-chan Incident { return v.panics }

// panicHang shows a panic on the console but keeps the guest running, as
// a kernel does while it waits for its other cpus to stop.
func (v *fakeVM) panicHang() {
	inc := Incident{Kind: ktext.Panic, Line: "Kernel panic - not syncing: sysrq triggered crash", Excerpt: []string{"sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash"}}
	v.mu.Lock()
	v.console = append(v.console, inc.Excerpt...)
	v.incidents = append(v.incidents, inc)
	v.mu.Unlock()
	v.panics <- inc
}

// panicNow writes a panic on the console and ends the guest, as QEMU does
// with panic=-1 and -no-reboot.
func (v *fakeVM) panicNow() {
	v.mu.Lock()
	v.console = append(v.console, "sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash", "CPU: 1 PID: 1 Comm: init")
	v.incidents = append(v.incidents, Incident{Kind: ktext.Panic, Line: "Kernel panic - not syncing: sysrq triggered crash", Excerpt: v.console})
	v.mu.Unlock()
	v.exit()
}

func (v *fakeVM) Accept(ctx context.Context) (io.ReadWriteCloser, error) { return v.host, nil }
func (v *fakeVM) Wait() error                                            { <-v.exited; return nil }
func (v *fakeVM) Kill() error {
	v.mu.Lock()
	v.killed = true
	v.mu.Unlock()
	v.exit()
	return nil
}
func (v *fakeVM) Close() error         { v.Kill(); v.host.Close(); return nil }
func (v *fakeVM) Accel() string        { return "tcg" }
func (v *fakeVM) Transport() string    { return "virtio-serial" }
func (v *fakeVM) Since() time.Duration { return time.Since(v.started) }
func (v *fakeVM) ConsoleTail(n int) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return tailLines(append([]string{}, v.console...), n)
}
func (v *fakeVM) Incidents() []Incident {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Incident{}, v.incidents...)
}

func hello() *protocol.Hello {
	return &protocol.Hello{
		ProtocolVersion: protocol.Version, KernelRelease: "7.3.4+deb13-amd64",
		SchedExt: protocol.SchedExtInfo{Available: true, State: "disabled"},
		Topology: protocol.GuestTopology{CPUs: 2, Layout: spec.Topology{}.WithDefaults()},
		Agent:    protocol.CurrentBuild(),
	}
}

// watchSummary is the stall watch's summary of a job in which no task
// waited.
func watchSummary(job *protocol.Job) *protocol.RunnableWaits {
	return &protocol.RunnableWaits{JobID: job.ID, Final: true, Floor: 500 * time.Millisecond,
		Stats: protocol.WatchStats{Interval: 500 * time.Millisecond, Samples: 4, Watched: 2 * time.Second}}
}

// healthyReports answers a job with a report per configured worker.
func healthyReports(job *protocol.Job) *protocol.Reports {
	r := &protocol.Reports{JobID: job.ID}
	for _, cg := range job.Scenario.Cgroups {
		i := 0
		for _, w := range cg.Workloads {
			for range w.NumWorkers {
				rep := spec.WorkerReport{Index: i, TID: 100 + i, Completed: true, Iterations: 1000, WorkUnits: 1024000,
					CPUTimeNs: uint64(time.Second), WallTimeNs: uint64(2 * time.Second), MaxGapMs: 30, CPUsUsed: []int{0, 1}}
				r.Workers = append(r.Workers, protocol.CgroupReport{Cgroup: cg.Name, Report: rep})
				i++
			}
		}
	}
	return r
}

// serveJobs is a well-behaved agent: each job gets progress, an attach
// event, healthy reports and an OK result, edited by tweak.
func serveJobs(tweak func(job *protocol.Job, c *protocol.Conn) bool) func(*protocol.Conn, *fakeVM) {
	return func(c *protocol.Conn, vm *fakeVM) {
		if err := c.Send(hello()); err != nil {
			return
		}
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			switch m := m.(type) {
			case *protocol.Bye:
				c.Send(&protocol.Bye{Reason: "host said bye"})
				return
			case *protocol.Job:
				if tweak != nil && !tweak(m, c) {
					continue
				}
				c.Send(&protocol.Progress{JobID: m.ID, At: 100 * time.Millisecond, Iterations: []uint64{10, 10},
					Workers: []protocol.WorkerInfo{{Cgroup: "steady", Index: 0}, {Cgroup: "steady", Index: 1}}, SchedState: "enabled"})
				c.Send(&protocol.Progress{JobID: m.ID, At: 200 * time.Millisecond, Iterations: []uint64{20, 30}, SchedState: "enabled"})
				c.Send(healthyReports(m))
				c.Send(watchSummary(m))
				c.Send(&protocol.JobResult{JobID: m.ID, Status: protocol.StatusOK, SchedStateStart: "enabled", SchedStateEnd: "enabled", EnableSeqStart: 1, EnableSeqEnd: 1})
			}
		}
	}
}

func newSession(t *testing.T, cfg Config, vm vmHandle) *session {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ss, _ := cfg.scenarios()
	return &session{cfg: &cfg, res: &Result{Scheduler: cfg.Scheduler.String()}, start: time.Now(), scenarios: ss, vm: vm}
}

func runSession(t *testing.T, cfg Config, agent func(*protocol.Conn, *fakeVM)) (*Result, error) {
	t.Helper()
	vm := newFakeVM(agent)
	s := newSession(t, cfg, vm)
	err := s.run(context.Background())
	return s.res, err
}

func TestSessionPass(t *testing.T) {
	var events []EventKind
	cfg := Config{Compare: spec.SchedulerNone, Progress: func(e Event) { events = append(events, e.Kind) }}
	var specs []protocol.SchedulerKind
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		specs = append(specs, job.Scheduler.Kind)
		return true
	}))
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, res.Failure)
	}
	if !res.Passed || len(res.Scenarios) != 2 {
		t.Fatalf("passed %v, %d scenarios", res.Passed, len(res.Scenarios))
	}
	if specs[0] != protocol.SchedulerBuiltin || specs[1] != protocol.SchedulerNone {
		t.Errorf("scheduler kinds %v, want builtin then none", specs)
	}
	if b := res.Baseline("steady"); b == nil || b.Scheduler != "none" {
		t.Errorf("no baseline: %+v", res.Scenarios)
	}
	sr := res.Scenario("steady")
	if len(sr.Workers) != 4 || sr.Workers[0].Kind != spec.CpuSpin {
		t.Errorf("workers: %+v", sr.Workers)
	}
	if len(sr.Progress) != 2 || sr.Progress[1].Rates["steady"] != 300 {
		t.Errorf("progress: %+v", sr.Progress)
	}
	if res.Guest == nil || res.Guest.CPUs != 2 || res.Accel != "tcg" {
		t.Errorf("guest info: %+v accel %q", res.Guest, res.Accel)
	}
	if len(events) == 0 || events[0] != EventHello {
		t.Errorf("events: %v", events)
	}
}

// TestSessionStaleAgent: an agent built from other code is refused at the
// handshake, before any job, as infrastructure trouble that names the
// agent's file and both builds.
func TestSessionStaleAgent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stale func(*protocol.Hello)
		want  []string
	}{
		{"schema", func(h *protocol.Hello) { h.Agent.Schema = "000000000000" }, []string{"schema 000000000000", "schema " + protocol.Schema()}},
		{"version", func(h *protocol.Hello) { h.ProtocolVersion = 99 }, []string{"host speaks", "agent speaks 99"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs := 0
			vm := newFakeVM(func(c *protocol.Conn, vm *fakeVM) {
				h := hello()
				tc.stale(h)
				if err := c.Send(h); err != nil {
					return
				}
				for {
					m, err := c.Recv()
					if err != nil {
						return
					}
					if _, ok := m.(*protocol.Job); ok {
						jobs++
					}
				}
			})
			s := newSession(t, Config{}, vm)
			s.agentPath = "/somewhere/scxvm-agent"
			err := s.run(context.Background())
			var ie *InfraError
			if !errors.As(err, &ie) {
				t.Fatalf("run: %v, want an *InfraError", err)
			}
			for _, want := range append(tc.want, "/somewhere/scxvm-agent") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if jobs != 0 {
				t.Errorf("%d jobs sent to a stale agent", jobs)
			}
		})
	}
}

// TestSessionNoEvidence: a job that ends "ok" without the data a verdict
// needs fails with FailNoEvidence naming what is missing.
func TestSessionNoEvidence(t *testing.T) {
	progress := func(c *protocol.Conn, job *protocol.Job) {
		c.Send(&protocol.Progress{JobID: job.ID, At: 100 * time.Millisecond, Iterations: []uint64{10, 10, 10, 10},
			Workers: []protocol.WorkerInfo{{Cgroup: "steady", Index: 0}, {Cgroup: "steady", Index: 1}, {Cgroup: "steady", Index: 2}, {Cgroup: "steady", Index: 3}}, SchedState: "enabled"})
	}
	ok := func(job *protocol.Job) *protocol.JobResult {
		return &protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK, SchedStateStart: "enabled", SchedStateEnd: "enabled", EnableSeqStart: 1, EnableSeqEnd: 1}
	}
	for _, tc := range []struct {
		name  string
		sched spec.Scheduler
		serve func(job *protocol.Job, c *protocol.Conn)
		want  []string
	}{
		{"ok and nothing else", spec.Scheduler{}, func(job *protocol.Job, c *protocol.Conn) {
			c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK})
		}, []string{"0 of 4 configured workers reported", "no progress sample", "stall watch sent no summary", `state "unknown" when the workers started`, `state "unknown" at the end`}},
		{"one report dropped", spec.Scheduler{}, func(job *protocol.Job, c *protocol.Conn) {
			progress(c, job)
			r := healthyReports(job)
			r.Workers = r.Workers[1:]
			c.Send(r)
			c.Send(ok(job))
		}, []string{"3 of 4 configured workers reported"}},
		{"no progress", spec.Scheduler{}, func(job *protocol.Job, c *protocol.Conn) {
			c.Send(healthyReports(job))
			c.Send(ok(job))
		}, []string{"no progress sample"}},
		{"scheduler not attached at the start", spec.Scheduler{}, func(job *protocol.Job, c *protocol.Conn) {
			progress(c, job)
			c.Send(healthyReports(job))
			r := ok(job)
			r.SchedStateStart = "disabled"
			c.Send(r)
		}, []string{`state "disabled" when the workers started`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runSession(t, Config{Scheduler: tc.sched}, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
				tc.serve(job, c)
				return false
			}))
			var f *Failure
			if !errors.As(err, &f) || f.Kind != FailNoEvidence {
				t.Fatalf("run: %v, want a %s failure", err, FailNoEvidence)
			}
			if res.Passed || res.Scenarios[0].Passed {
				t.Error("passed without evidence")
			}
			for _, w := range tc.want {
				if !strings.Contains(f.Message, w) {
					t.Errorf("failure %q lacks %q", f.Message, w)
				}
			}
		})
	}
	// With scheduler none, the scheduler's state is no evidence needed.
	res, err := runSession(t, Config{Scheduler: spec.Scheduler{Name: spec.SchedulerNone}}, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		progress(c, job)
		c.Send(healthyReports(job))
		c.Send(watchSummary(job))
		c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK})
		return false
	}))
	if err != nil || !res.Passed {
		t.Errorf("scheduler none with reports and progress: %v", err)
	}
}

func TestSessionFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sched  spec.Scheduler
		agent  func(*protocol.Conn, *fakeVM)
		kind   FailureKind
		detail []string // substrings of the failure's message and detail
	}{
		{
			name: "ejected",
			agent: serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
				c.Send(&protocol.SchedEvent{JobID: job.ID, Kind: protocol.SchedEjected, Scheduler: "stall", Reason: "runnable task stall",
					KernelLines: []string{`sched_ext: BPF scheduler "stall" disabled (runnable task stall)`, "sched_ext: stall: kworker/0:1[12] failed to run for 5.100s"}})
				return true
			}),
			kind:   FailEjected,
			detail: []string{`ejected scheduler "stall" (runnable task stall)`, "failed to run for 5.100s"},
		},
		{
			name:  "load failure",
			sched: spec.Scheduler{Name: "error"},
			agent: serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
				c.Send(&protocol.SchedEvent{JobID: job.ID, Kind: protocol.SchedLoadFailed, Log: "libbpf: prog 'enqueue': BPF program load failed: Permission denied\nverifier: R1 invalid mem access",
					Exit: &protocol.ExitStatus{Code: 1}})
				c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusSchedulerFailed, Error: "scheduler did not attach"})
				return false
			}),
			kind:   FailLoad,
			detail: []string{"did not load", "loader exit 1", "R1 invalid mem access"},
		},
		{
			name: "worker crash",
			agent: serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
				r := healthyReports(job)
				r.Workers[2].Report.Completed = false
				r.Workers[2].Report.Exit = spec.ExitInfo{Kind: spec.ExitSignaled, Signal: 11}
				c.Send(r)
				c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK})
				return false
			}),
			kind:   FailWorkerCrash,
			detail: []string{"killed by signal 11"},
		},
		{
			name: "panic",
			agent: func(c *protocol.Conn, vm *fakeVM) {
				c.Send(hello())
				c.Recv()
				time.Sleep(50 * time.Millisecond)
				vm.panicNow()
			},
			kind:   FailPanic,
			detail: []string{"Kernel panic - not syncing: sysrq triggered crash", "CPU: 1 PID: 1"},
		},
		{
			name: "panic while qemu lingers",
			agent: func(c *protocol.Conn, vm *fakeVM) {
				c.Send(hello())
				c.Recv()
				vm.panicHang()
				<-vm.exited
			},
			kind:   FailPanic,
			detail: []string{"Kernel panic - not syncing: sysrq triggered crash"},
		},
		{
			name: "transport lost",
			agent: func(c *protocol.Conn, vm *fakeVM) {
				c.Send(hello())
				c.Recv()
			},
			kind:   FailGuestExited,
			detail: []string{"before the agent's bye"},
		},
		{
			name: "stall check",
			agent: serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
				r := healthyReports(job)
				r.Workers[0].Report.MaxGapMs = 4000
				c.Send(r)
				c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusOK})
				return false
			}),
			kind:   FailChecks,
			detail: []string{"max_gap", "stalled for 4s"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res, err := runSession(t, Config{Scheduler: tc.sched}, tc.agent)
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("error %v is not a *Failure", err)
			}
			if f.Kind != tc.kind || res.Passed || res.Failure != f {
				t.Fatalf("failure %s, want %s (passed %v)", f.Long(), tc.kind, res.Passed)
			}
			long := f.Long()
			for _, d := range tc.detail {
				if !strings.Contains(long, d) {
					t.Errorf("failure %q lacks %q", long, d)
				}
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("attribution took %v", d)
			}
		})
	}
}

func TestSessionLoadFailureSkipsLaterScenarios(t *testing.T) {
	jobs := 0
	cfg := Config{Scheduler: spec.Scheduler{Name: spec.SchedulerError}, Compare: spec.SchedulerNone}
	cfg.Scenarios = scenariosNamed(t, "steady", "pingpong")
	res, err := runSession(t, cfg, serveJobs(func(job *protocol.Job, c *protocol.Conn) bool {
		jobs++
		if job.Scheduler.Kind == protocol.SchedulerNone {
			return true
		}
		c.Send(&protocol.SchedEvent{JobID: job.ID, Kind: protocol.SchedLoadFailed, Reason: "not attached within 30s"})
		c.Send(&protocol.JobResult{JobID: job.ID, Status: protocol.StatusSchedulerFailed})
		return false
	}))
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailLoad {
		t.Fatalf("got %v, want a load failure", err)
	}
	// steady: error (fails), none; pingpong: error (skipped), none.
	if jobs != 3 || len(res.Scenarios) != 4 {
		t.Fatalf("%d jobs, %d results; want 3 jobs, 4 results", jobs, len(res.Scenarios))
	}
	if sk := res.Scenario("pingpong"); sk.Failure == nil || !strings.Contains(sk.Failure.Message, `not run`) {
		t.Errorf("pingpong under error: %+v", sk.Failure)
	}
	if b := res.Baseline("pingpong"); b == nil || !b.Passed {
		t.Errorf("the EEVDF baseline of pingpong did not run or pass: %+v", b)
	}
}

func scenariosNamed(t *testing.T, names ...string) []spec.Scenario {
	t.Helper()
	ss, err := ResolveScenarios(names)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

func TestSessionHang(t *testing.T) {
	// The agent takes the job and goes silent: the host gives up after the
	// job timeout, kills QEMU and says the guest timed out.
	release := make(chan struct{})
	defer close(release)
	vm := newFakeVM(func(c *protocol.Conn, vm *fakeVM) {
		c.Send(hello())
		c.Recv()
		<-release
	})
	s := newSession(t, Config{}, vm)
	s.jobWait = 200 * time.Millisecond
	start := time.Now()
	err := s.run(context.Background())
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailTimeout {
		t.Fatalf("got %v, want a timeout failure", err)
	}
	if !vm.killed {
		t.Errorf("QEMU was not killed")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestSessionCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	vm := newFakeVM(func(c *protocol.Conn, vm *fakeVM) {
		c.Send(hello())
		c.Recv()
		<-release
	})
	s := newSession(t, Config{}, vm)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := s.run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if !vm.killed {
		t.Errorf("QEMU was not killed")
	}
}

func TestWorkerResultsSets(t *testing.T) {
	sc, _ := LookupScenario("mixed")
	var reps []protocol.CgroupReport
	for _, cg := range []struct {
		name string
		n    int
	}{{"batch", 2}, {"interactive", 4}} {
		for i := range cg.n {
			reps = append(reps, protocol.CgroupReport{Cgroup: cg.name, Report: spec.WorkerReport{Index: i}})
		}
	}
	ws := workerResults(sc, reps)
	want := []struct {
		set  int
		kind spec.WorkKind
	}{{0, spec.CpuSpin}, {0, spec.CpuSpin}, {1, spec.Bursty}, {2, spec.IoSync}, {3, spec.YieldHeavy}, {3, spec.YieldHeavy}}
	for i, w := range want {
		if ws[i].Set != w.set || ws[i].Kind != w.kind {
			t.Errorf("worker %d: set %d kind %s, want %d %s", i, ws[i].Set, ws[i].Kind, w.set, w.kind)
		}
	}
}
