package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/agent/builtin"
	"github.com/scxvm/scxvm/agent/scxfs"
	"github.com/scxvm/scxvm/agent/supervise"
	"github.com/scxvm/scxvm/internal/leakcheck"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/workload"
	"github.com/scxvm/scxvm/workload/cgroup"
)

func TestMain(m *testing.M) {
	workload.RunWorkerIfChild()
	os.Exit(leakcheck.Main(m))
}

// socketPair returns two connected stream sockets, like a virtio-serial
// port and the host's end of its chardev.
func socketPair(t *testing.T) (agentSide, hostSide net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

// fakeBuiltin attaches through the fake sched_ext tree.
type fakeBuiltin struct {
	fake *scxfs.Fake
	name string
}

func (b *fakeBuiltin) Name() string { return b.name }
func (b *fakeBuiltin) Close() error { return b.fake.Disable() }

// guest is a fake guest: sysfs trees, a kernel log pipe and a session.
type guest struct {
	t      *testing.T
	fake   *scxfs.Fake
	kmsgW  *io.PipeWriter
	host   *protocol.Conn
	done   chan error
	cfg    Config
	agent  *firstWrite
	loads  int
	loadMu sync.Mutex
}

func newGuest(t *testing.T, tweak func(*Config)) *guest {
	t.Helper()
	root := t.TempDir()
	for name, v := range map[string]string{
		"proc/cmdline":                                             "console=ttyS0 panic=-1 quiet\n",
		"proc/meminfo":                                             "MemTotal:        1014520 kB\nMemFree: 1 kB\n",
		"sys/devices/system/cpu/online":                            "0-1\n",
		"sys/devices/system/cpu/possible":                          "0-1\n",
		"sys/devices/system/cpu/cpu0/topology/core_id":             "0\n",
		"sys/devices/system/cpu/cpu0/topology/physical_package_id": "0\n",
		"sys/devices/system/cpu/cpu1/topology/core_id":             "1\n",
		"sys/devices/system/cpu/cpu1/topology/physical_package_id": "0\n",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fake, err := scxfs.NewFake(filepath.Join(root, "sys/kernel/sched_ext"))
	if err != nil {
		t.Fatal(err)
	}
	kr, kw := io.Pipe()
	g := &guest{t: t, fake: fake, kmsgW: kw, done: make(chan error, 1)}
	g.cfg = Config{
		Transport:     protocol.TransportVirtioSerial,
		SysRoot:       root,
		SchedExtDir:   fake.Dir,
		CgroupParent:  filepath.Join(root, "sys/fs/cgroup"),
		CgroupOptions: []cgroup.Option{cgroup.WithoutFSCheck()},
		Kmsg:          kr,
		IdleTimeout:   10 * time.Second,
		SysRq:         func(string) error { return nil },
		Logf:          t.Logf,
		Supervise: supervise.Config{
			PollInterval: 20 * time.Millisecond,
			TrailingWait: 50 * time.Millisecond,
			ExitWait:     100 * time.Millisecond,
			LoadBuiltin: func(name string, opts builtin.Options) (supervise.Builtin, error) {
				g.loadMu.Lock()
				g.loads++
				g.loadMu.Unlock()
				ops, err := builtin.OpsName(name)
				if err != nil {
					return nil, err
				}
				return &fakeBuiltin{fake: fake, name: ops}, fake.Enable(ops)
			},
		},
	}
	if tweak != nil {
		tweak(&g.cfg)
	}
	a, h := socketPair(t)
	g.host = protocol.NewConn(h)
	g.agent = &firstWrite{Conn: a}
	finished := make(chan struct{})
	t.Cleanup(func() {
		// The host goes away; the session must end (and stop logging)
		// before the test does.
		g.host.Close()
		kw.Close()
		select {
		case <-finished:
		case <-time.After(20 * time.Second):
			t.Error("Serve still running 20s after the host closed")
		}
	})
	go func() {
		defer close(finished)
		if g.cfg.Start.IsZero() {
			g.cfg.Start = time.Now()
		}
		g.done <- Serve(context.Background(), g.agent, g.cfg)
	}()
	return g
}

// firstWrite records when the agent first wrote to its stream.
type firstWrite struct {
	net.Conn
	once sync.Once
	at   time.Time
}

func (f *firstWrite) Write(p []byte) (int, error) {
	f.once.Do(func() { f.at = time.Now() })
	return f.Conn.Write(p)
}

func (g *guest) kernel(seq int, text string) {
	fmt.Fprintf(g.kmsgW, "3,%d,%d,-;%s\n", seq, seq*1000, text)
}

func (g *guest) recv() protocol.Message {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := g.host.RecvContext(ctx)
	if err != nil {
		g.t.Fatalf("host receive: %v", err)
	}
	return m
}

// jobMessages collects a job's messages up to its JobResult, skipping
// KernelLog batches (returned separately).
func (g *guest) jobMessages() (msgs []protocol.Message, klog []protocol.KernelLine) {
	g.t.Helper()
	for {
		m := g.recv()
		switch m := m.(type) {
		case *protocol.KernelLog:
			klog = append(klog, m.Lines...)
			continue
		case *protocol.Error:
			g.t.Fatalf("agent error: %+v", m)
		}
		msgs = append(msgs, m)
		if _, ok := m.(*protocol.JobResult); ok {
			return msgs, klog
		}
	}
}

func steadyJob(id uint32, sched protocol.SchedulerSpec) *protocol.Job {
	return &protocol.Job{
		ID:        id,
		Scheduler: sched,
		Scenario: spec.Scenario{
			Name:     "steady",
			Duration: 300 * time.Millisecond,
			Cgroups: []spec.Cgroup{{Name: "cg0", CPUs: "0-1", Workloads: []spec.WorkloadConfig{
				{NumWorkers: 2, WorkType: spec.WorkType{Kind: spec.CpuSpin}},
			}}},
		},
		ProgressInterval: 100 * time.Millisecond,
	}
}

type summary struct {
	events   []protocol.SchedEventKind
	progress int
	reports  []protocol.CgroupReport
	result   *protocol.JobResult
	waits    *protocol.RunnableWaits // the final stall watch report
}

func summarize(t *testing.T, id uint32, msgs []protocol.Message) summary {
	t.Helper()
	var s summary
	for _, m := range msgs {
		switch m := m.(type) {
		case *protocol.SchedEvent:
			if m.JobID != id {
				t.Errorf("sched event for job %d during job %d", m.JobID, id)
			}
			s.events = append(s.events, m.Kind)
		case *protocol.Progress:
			if m.JobID != id {
				t.Errorf("progress for job %d during job %d", m.JobID, id)
			}
			s.progress++
		case *protocol.Reports:
			s.reports = append(s.reports, m.Workers...)
		case *protocol.JobResult:
			s.result = m
		case *protocol.RunnableWaits:
			if m.JobID != id || !m.Final || s.waits != nil || s.result != nil {
				t.Errorf("runnable waits %+v during job %d: want one final report before the result", m, id)
			}
			s.waits = m
		default:
			t.Errorf("unexpected %T during job %d", m, id)
		}
	}
	return s
}

func TestSessionTwoJobs(t *testing.T) {
	g := newGuest(t, nil)
	hello, ok := g.recv().(*protocol.Hello)
	helloAfter := g.agent.at.Sub(hello.AgentStart)
	if !ok {
		t.Fatalf("first message is not Hello")
	}
	if err := protocol.CheckHello(hello); err != nil {
		t.Fatal(err)
	}
	t.Logf("hello written %v after the agent started", helloAfter)
	if helloAfter <= 0 {
		t.Errorf("Hello %v after the agent started, want it after", helloAfter)
	}
	if hello.KernelCmdline != "console=ttyS0 panic=-1 quiet" || !hello.SchedExt.Available || hello.SchedExt.State != "disabled" ||
		hello.Topology.CPUs != 2 || hello.Topology.Online != "0-1" || hello.Topology.Layout != (spec.Topology{NUMANodes: 1, LLCs: 1, CoresPerLLC: 2, ThreadsPerCore: 1}) || len(hello.Topology.CPULLC) != 2 || hello.Topology.MemoryBytes != 1014520<<10 ||
		hello.Transport != "virtio-serial" || hello.KernelRelease == "" || hello.BootTime == 0 {
		t.Errorf("hello = %+v", hello)
	}

	fifo := protocol.SchedulerSpec{Kind: protocol.SchedulerBuiltin, Name: "fifo"}
	g.kernel(1, "Linux version 6.12.117")
	for id := uint32(1); id <= 2; id++ {
		if err := g.host.Send(steadyJob(id, fifo)); err != nil {
			t.Fatal(err)
		}
		msgs, _ := g.jobMessages()
		s := summarize(t, id, msgs)
		if s.result.Status != protocol.StatusOK || s.result.Error != "" {
			t.Fatalf("job %d result = %+v", id, s.result)
		}
		if s.waits == nil || s.waits.Stats.Samples == 0 {
			t.Errorf("job %d: stall watch report %+v, want samples of the guest's /proc", id, s.waits)
		}
		if id == 1 && (len(s.events) != 1 || s.events[0] != protocol.SchedAttached) {
			t.Errorf("job 1 events = %v, want [attached]", s.events)
		}
		if id == 2 && len(s.events) != 0 {
			t.Errorf("job 2 events = %v, want none (same scheduler kept)", s.events)
		}
		if s.progress < 2 {
			t.Errorf("job %d: %d progress messages in 300ms at 100ms, want >= 2", id, s.progress)
		}
		if len(s.reports) != 2 || s.reports[0].Cgroup != "cg0" || !s.reports[1].Report.Completed {
			t.Errorf("job %d reports = %+v", id, s.reports)
		}
		if s.result.SchedStateEnd != "enabled" || s.result.EnableSeqStart != 1 || s.result.EnableSeqEnd != 1 {
			t.Errorf("job %d sched state = %q seq %d..%d", id, s.result.SchedStateEnd, s.result.EnableSeqStart, s.result.EnableSeqEnd)
		}
		if s.result.Timings.Run < 300*time.Millisecond || s.result.Timings.Total < s.result.Timings.Run {
			t.Errorf("job %d timings = %+v", id, s.result.Timings)
		}
	}
	if g.loads != 1 {
		t.Errorf("scheduler loaded %d times, want 1", g.loads)
	}
	if err := g.host.Send(&protocol.Bye{}); err != nil {
		t.Fatal(err)
	}
	var klines []string
	for {
		m := g.recv()
		if kl, ok := m.(*protocol.KernelLog); ok {
			for _, l := range kl.Lines {
				klines = append(klines, l.Text)
			}
			continue
		}
		if _, ok := m.(*protocol.Bye); !ok {
			t.Fatalf("after Bye got %T, want Bye", m)
		}
		break
	}
	if err := <-g.done; err != nil {
		t.Errorf("Serve = %v, want nil after Bye", err)
	}
	st, _ := scxfs.Read(g.fake.Dir)
	if st.State != "disabled" {
		t.Errorf("scheduler still %s after Bye", st.State)
	}
	_ = klines
}

// TestSessionRestartKeepsEndState checks that a job asking for a restart
// reports the scheduler state of its run, not the state after the restart
// unloaded it.
func TestSessionRestartKeepsEndState(t *testing.T) {
	g := newGuest(t, nil)
	g.recv() // Hello
	fifo := protocol.SchedulerSpec{Kind: protocol.SchedulerBuiltin, Name: "fifo", Restart: true}
	for id := uint32(1); id <= 2; id++ {
		if err := g.host.Send(steadyJob(id, fifo)); err != nil {
			t.Fatal(err)
		}
		msgs, _ := g.jobMessages()
		s := summarize(t, id, msgs)
		if s.result.Status != protocol.StatusOK {
			t.Fatalf("job %d result = %+v", id, s.result)
		}
		if s.result.SchedStateEnd != "enabled" {
			t.Errorf("job %d: sched state at the end = %q, want enabled (read before the restart)", id, s.result.SchedStateEnd)
		}
		want := []protocol.SchedEventKind{protocol.SchedAttached, protocol.SchedDetached}
		if !slices.Equal(s.events, want) {
			t.Errorf("job %d events = %v, want %v", id, s.events, want)
		}
	}
	if g.loads != 2 {
		t.Errorf("scheduler loaded %d times, want 2 (restarted)", g.loads)
	}
}

func TestSessionKernelLogAndEjection(t *testing.T) {
	g := newGuest(t, nil)
	g.recv() // Hello
	job := steadyJob(7, protocol.SchedulerSpec{Kind: protocol.SchedulerBuiltin, Name: "stall"})
	job.Scenario.Duration = time.Second
	if err := g.host.Send(job); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		g.kernel(10, `sched_ext: BPF scheduler "scxvm_stall" enabled`)
		time.Sleep(200 * time.Millisecond)
		g.fake.Disable()
		g.kernel(11, `sched_ext: BPF scheduler "scxvm_stall" disabled (runnable task stall)`)
		g.kernel(12, `sched_ext: scxvm_stall: kworker/0:1[23] failed to run for 3.012s`)
	}()
	msgs, klog := g.jobMessages()
	s := summarize(t, 7, msgs)
	if len(s.events) != 2 || s.events[1] != protocol.SchedEjected {
		t.Fatalf("events = %v, want [attached ejected]", s.events)
	}
	var ej *protocol.SchedEvent
	for _, m := range msgs {
		if e, ok := m.(*protocol.SchedEvent); ok && e.Kind == protocol.SchedEjected {
			ej = e
		}
	}
	if ej.Reason != "runnable task stall" || len(ej.KernelLines) != 2 || !strings.Contains(ej.KernelLines[1], "failed to run for 3.012s") || ej.At <= 0 {
		t.Errorf("ejected event = %+v", ej)
	}
	if s.result.Status != protocol.StatusOK || s.result.SchedStateEnd != "disabled" || len(s.reports) != 2 {
		t.Errorf("result = %+v, %d reports", s.result, len(s.reports))
	}
	if len(klog) < 3 || klog[len(klog)-1].Text != `sched_ext: scxvm_stall: kworker/0:1[23] failed to run for 3.012s` || klog[len(klog)-1].Level != 3 || klog[len(klog)-1].Seq != 12 {
		t.Errorf("kernel log = %+v", klog)
	}

	// The ejected scheduler is replaced for the next job even with the
	// same spec.
	if err := g.host.Send(steadyJob(8, job.Scheduler)); err != nil {
		t.Fatal(err)
	}
	msgs, _ = g.jobMessages()
	if s := summarize(t, 8, msgs); len(s.events) < 1 || s.events[len(s.events)-1] != protocol.SchedAttached {
		t.Errorf("job 8 events = %v, want a fresh attach", s.events)
	}
}

func TestSessionLoadFailureThenNone(t *testing.T) {
	g := newGuest(t, nil)
	g.recv()
	dir := t.TempDir()
	loader := filepath.Join(dir, "scx_broken")
	os.WriteFile(loader, []byte("#!/bin/sh\necho 'libbpf: failed to load object: -22'\necho 'R1 invalid mem access' >&2\nexit 1\n"), 0o755)
	if err := g.host.Send(steadyJob(1, protocol.SchedulerSpec{Kind: protocol.SchedulerBinary, Path: loader})); err != nil {
		t.Fatal(err)
	}
	msgs, _ := g.jobMessages()
	s := summarize(t, 1, msgs)
	if s.result.Status != protocol.StatusSchedulerFailed || len(s.events) != 1 || s.events[0] != protocol.SchedLoadFailed || len(s.reports) != 0 {
		t.Fatalf("load failure job: %+v", s)
	}
	ev := msgs[0].(*protocol.SchedEvent)
	if !strings.Contains(ev.Log, "R1 invalid mem access") || ev.Exit == nil || ev.Exit.Code != 1 {
		t.Errorf("load_failed event = %+v", ev)
	}
	// The session goes on: the next job runs under the default scheduler.
	if err := g.host.Send(steadyJob(2, protocol.SchedulerSpec{Kind: protocol.SchedulerNone})); err != nil {
		t.Fatal(err)
	}
	msgs, _ = g.jobMessages()
	if s := summarize(t, 2, msgs); s.result.Status != protocol.StatusOK || len(s.events) != 0 || len(s.reports) != 2 {
		t.Errorf("none job: %+v", s)
	}
}

func TestSessionIdleWatchdog(t *testing.T) {
	g := newGuest(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	g.recv()
	var got []string
	for len(got) < 2 {
		switch m := g.recv().(type) {
		case *protocol.Error:
			if !m.Fatal || m.Op != "watchdog" {
				t.Errorf("error = %+v", m)
			}
			got = append(got, "error")
		case *protocol.Bye:
			got = append(got, "bye")
		}
	}
	if strings.Join(got, ",") != "error,bye" {
		t.Errorf("got %v", got)
	}
	if err := <-g.done; !errors.Is(err, ErrIdle) {
		t.Errorf("Serve = %v, want ErrIdle", err)
	}
}

func TestSessionJobTimeoutAndWatchdog(t *testing.T) {
	g := newGuest(t, nil)
	g.recv()
	job := steadyJob(3, protocol.SchedulerSpec{})
	job.Scenario.Duration = 10 * time.Second
	job.Timeout = 500 * time.Millisecond
	if err := g.host.Send(job); err != nil {
		t.Fatal(err)
	}
	msgs, _ := g.jobMessages()
	s := summarize(t, 3, msgs)
	if s.result.Status != protocol.StatusTimedOut || len(s.reports) != 2 || !s.reports[0].Report.Completed {
		t.Errorf("timed out job: status %s, reports %+v", s.result.Status, s.reports)
	}

	// A hang step silences the agent; the job watchdog ends the session.
	job = steadyJob(4, protocol.SchedulerSpec{})
	job.Scenario.Steps = []spec.Step{{At: 50 * time.Millisecond, Action: spec.StepHang}}
	job.Timeout = 10 * time.Second
	job.Watchdog = 700 * time.Millisecond
	if err := g.host.Send(job); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var err error
	select {
	case err = <-g.done:
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end after the job watchdog")
	}
	if !errors.Is(err, ErrWatchdog) || time.Since(start) < 600*time.Millisecond {
		t.Errorf("Serve = %v after %v, want ErrWatchdog after ~700ms", err, time.Since(start))
	}
	// The abandoned job ends with the session's context and removes its
	// cgroup; wait for that, so that it does not race the test's cleanup.
	jobDir := filepath.Join(g.cfg.CgroupParent, "scxvm-job-4")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(jobDir); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there 5s after the session ended", jobDir)
		}
	}
	// Nothing but the start of the job came before the hang.
	g.host.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		m, err := g.host.Recv()
		if err != nil {
			break
		}
		if _, ok := m.(*protocol.Progress); !ok {
			if _, ok := m.(*protocol.KernelLog); !ok {
				t.Errorf("after hang: %T", m)
			}
		}
	}
}

func TestSessionPanic(t *testing.T) {
	g := newGuest(t, func(c *Config) {
		c.Supervise.LoadBuiltin = func(string, builtin.Options) (supervise.Builtin, error) { panic("boom") }
	})
	g.recv()
	if err := g.host.Send(steadyJob(1, protocol.SchedulerSpec{Kind: protocol.SchedulerBuiltin, Name: "fifo"})); err != nil {
		t.Fatal(err)
	}
	var e *protocol.Error
	for e == nil {
		if m, ok := g.recv().(*protocol.Error); ok {
			e = m
		}
	}
	if !e.Fatal || !strings.Contains(e.Message, "boom") || e.JobID != 1 {
		t.Errorf("error = %+v", e)
	}
	if _, ok := g.recv().(*protocol.Bye); !ok {
		t.Error("no Bye after the fatal error")
	}
	if err := <-g.done; err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Serve = %v", err)
	}
}

func TestSessionHostEOF(t *testing.T) {
	g := newGuest(t, nil)
	g.recv()
	g.host.Close()
	select {
	case err := <-g.done:
		if err == nil {
			t.Error("Serve = nil after EOF without Bye")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after EOF")
	}
}

// A cgroup write that times out under a stalling scheduler is a symptom:
// the agent waits for the kernel's watchdog and sends the ejection before
// the job's result, so that the host blames the scheduler.
func TestSessionSetupTimeoutAwaitsEjection(t *testing.T) {
	var root string
	g := newGuest(t, func(c *Config) {
		root = c.CgroupParent
		c.CgroupOptions = append(c.CgroupOptions, cgroup.WithTimeout(100*time.Millisecond))
	})
	// A FIFO without a reader blocks its writer, as a cgroup interface
	// file does while the tasks it waits for do not run.
	dir := filepath.Join(root, "scxvm-job-7", "cg0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "cpuset.cpus"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.recv() // Hello
	job := steadyJob(7, protocol.SchedulerSpec{Kind: protocol.SchedulerBuiltin, Name: "stall", WatchdogTimeout: 2 * time.Second})
	if err := g.host.Send(job); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.kernel(10, `sched_ext: BPF scheduler "scxvm_stall" enabled`)
		time.Sleep(time.Second) // well after the write timed out
		g.fake.Disable()
		g.kernel(11, `sched_ext: BPF scheduler "scxvm_stall" disabled (runnable task stall)`)
	}()
	msgs, _ := g.jobMessages()
	s := summarize(t, 7, msgs)
	if len(s.events) != 2 || s.events[1] != protocol.SchedEjected {
		t.Errorf("events before the result = %v, want [attached ejected]", s.events)
	}
	if s.result.Status != protocol.StatusFailed || !strings.Contains(s.result.Error, "timed out after 100ms") {
		t.Errorf("result = %s %q, want failed on the timed-out write", s.result.Status, s.result.Error)
	}
}
