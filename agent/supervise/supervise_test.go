package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scxvm/scxvm/agent/builtin"
	"github.com/scxvm/scxvm/agent/kmsg"
	"github.com/scxvm/scxvm/agent/scxfs"
	"github.com/scxvm/scxvm/ktext"
)

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds() []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var k []EventKind
	for _, e := range r.events {
		k = append(k, e.Kind)
	}
	return k
}

func (r *recorder) last() Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[len(r.events)-1]
}

func setup(t *testing.T) (*scxfs.Fake, Config, *recorder) {
	t.Helper()
	fake, err := scxfs.NewFake(filepath.Join(t.TempDir(), "sched_ext"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg := Config{
		SchedExtDir:   fake.Dir,
		AttachTimeout: 2 * time.Second,
		PollInterval:  20 * time.Millisecond,
		TrailingWait:  50 * time.Millisecond,
		ExitWait:      300 * time.Millisecond,
		StopGrace:     time.Second,
		OnEvent:       rec.add,
		Logf:          t.Logf,
	}
	return fake, cfg, rec
}

// script writes an executable shell script; $SCX is the fake sched_ext dir.
func script(t *testing.T, fake *scxfs.Fake, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "loader.sh")
	src := "#!/bin/sh\nSCX=" + fake.Dir + "\n" + body + "\n"
	if err := os.WriteFile(p, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// attach is shell that "attaches" like a loader: root/ops, enable_seq,
// then state, printing a banner.
const attach = `mkdir -p $SCX/root
echo fake > $SCX/root/ops
echo $(( $(cat $SCX/enable_seq) + 1 )) > $SCX/enable_seq
echo enabled > $SCX/state
echo "fake scheduler attached"
trap 'echo "EXIT: unregistered from user space"; echo disabled > $SCX/state; rm -rf $SCX/root; exit 0' INT
`

func kernelLine(s *Supervisor, seq uint64, text string) {
	s.Kernel(kmsg.Record{Seq: seq, Level: 3, Text: text})
}

func waitDone(t *testing.T, s *Supervisor) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no terminal event within 5s")
	}
}

func TestLoaderNeverAttaches(t *testing.T) {
	fake, cfg, rec := setup(t)
	cfg.AttachTimeout = 300 * time.Millisecond
	s := New(Spec{Path: script(t, fake, "echo loading; exec sleep 30"), Ops: "fake"}, cfg)
	start := time.Now()
	err := s.Start(context.Background())
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Start err = %v, want *LoadError", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Start took %v, want ~300ms", d)
	}
	e := le.Event
	if e.Kind != LoadFailed || !strings.Contains(e.Reason, "not attached within 300ms") {
		t.Errorf("event = %+v", e)
	}
	if !e.Exited || e.Signal != int(syscall.SIGKILL) {
		t.Errorf("loader not reported killed: exited %v signal %d", e.Exited, e.Signal)
	}
	if !strings.Contains(e.Log, "loading") {
		t.Errorf("log = %q, want the loader's output", e.Log)
	}
	if k := rec.kinds(); len(k) != 1 || k[0] != LoadFailed {
		t.Errorf("events = %v, want [load_failed]", k)
	}
}

func TestLoaderDiesAtOnce(t *testing.T) {
	fake, cfg, rec := setup(t)
	body := `echo "libbpf: prog 'simple_enqueue': BPF program load failed: Permission denied"
echo "0: R1=ctx() R10=fp0" >&2
echo "1: (79) r2 = *(u64 *)(r1 +8)" >&2
echo "R1 invalid mem access 'scalar'" >&2
echo "processed 12 insns (limit 1000000)" >&2
exit 3`
	s := New(Spec{Path: script(t, fake, body)}, cfg)
	err := s.Start(context.Background())
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Start err = %v, want *LoadError", err)
	}
	e := le.Event
	if e.Kind != LoadFailed || !e.Exited || e.ExitCode != 3 || !strings.Contains(e.Reason, "exited before attaching") {
		t.Errorf("event = %+v", e)
	}
	for _, want := range []string{"BPF program load failed", "R1 invalid mem access 'scalar'", "processed 12 insns"} {
		if !strings.Contains(e.Log, want) {
			t.Errorf("log lacks %q: %q", want, e.Log)
		}
	}
	if k := rec.kinds(); len(k) != 1 || k[0] != LoadFailed {
		t.Errorf("events = %v, want [load_failed]", k)
	}
}

func TestLoaderMissing(t *testing.T) {
	_, cfg, _ := setup(t)
	err := New(Spec{Path: "/nonexistent/scx_nothing"}, cfg).Start(context.Background())
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(le.Event.Reason, "start loader") {
		t.Fatalf("Start err = %v, want load failure naming the start", err)
	}
}

func TestNoSchedExt(t *testing.T) {
	_, cfg, _ := setup(t)
	cfg.SchedExtDir = filepath.Join(t.TempDir(), "missing")
	err := New(Spec{Path: "/bin/true"}, cfg).Start(context.Background())
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(le.Event.Reason, "not supported") {
		t.Fatalf("Start err = %v, want load failure saying sched_ext is not supported", err)
	}
}

func TestLoaderEjected(t *testing.T) {
	fake, cfg, rec := setup(t)
	// The loader exits by itself once the kernel disabled it, printing its
	// exit info, like the example schedulers do.
	body := attach + `while [ "$(cat $SCX/state)" = enabled ]; do sleep 0.02; done
echo "EXIT: runnable task stall"
exit 0`
	s := New(Spec{Path: script(t, fake, body), Ops: "fake"}, cfg)
	// A previous scheduler's disable line still in the feed must not count.
	kernelLine(s, 1, `sched_ext: BPF scheduler "fake" disabled (unregistered from user space)`)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	kernelLine(s, 2, `sched_ext: BPF scheduler "fake" enabled`)
	time.Sleep(100 * time.Millisecond)
	select {
	case <-s.Done():
		t.Fatalf("terminal event before the ejection: %+v", rec.last())
	default:
	}
	if err := fake.Disable(); err != nil {
		t.Fatal(err)
	}
	kernelLine(s, 3, `sched_ext: BPF scheduler "fake" disabled (runnable task stall)`)
	kernelLine(s, 4, `sched_ext: fake: kworker/0:1[23] failed to run for 3.012s`)
	kernelLine(s, 5, `   scx_watchdog_workfn+0x15c/0x1e0`)
	kernelLine(s, 6, `random: crng init done`)
	waitDone(t, s)
	e := rec.last()
	if e.Kind != Ejected || e.Reason != ktext.ReasonStall || e.Scheduler != "fake" {
		t.Fatalf("event = %+v", e)
	}
	if e.KernelLine != `sched_ext: BPF scheduler "fake" disabled (runnable task stall)` {
		t.Errorf("KernelLine = %q", e.KernelLine)
	}
	if len(e.KernelLines) != 2 || !strings.Contains(e.KernelLines[0], "failed to run for 3.012s") {
		t.Errorf("KernelLines = %q", e.KernelLines)
	}
	if !e.Exited || e.ExitCode != 0 || !strings.Contains(e.Log, "EXIT: runnable task stall") {
		t.Errorf("loader exit not in event: exited %v code %d log %q", e.Exited, e.ExitCode, e.Log)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if k := rec.kinds(); fmt.Sprint(k) != "[attached ejected]" {
		t.Errorf("events = %v, want [attached ejected]", k)
	}
}

func TestLoaderEjectedStaysAlive(t *testing.T) {
	fake, cfg, rec := setup(t)
	s := New(Spec{Path: script(t, fake, attach+"while :; do sleep 0.02; done")}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	// No kernel feed at all: the state poll alone must catch it.
	if err := fake.Disable(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s)
	e := rec.last()
	if e.Kind != Ejected || e.Exited || !strings.Contains(e.Reason, "without a kernel log line") {
		t.Fatalf("event = %+v", e)
	}
	start := time.Now()
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Stop took %v: SIGINT ignored?", d)
	}
	if k := rec.kinds(); fmt.Sprint(k) != "[attached ejected]" {
		t.Errorf("events = %v", k)
	}
}

func TestLoaderKilled(t *testing.T) {
	fake, cfg, rec := setup(t)
	s := New(Spec{Path: script(t, fake, attach+"while :; do sleep 0.02; done")}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	kernelLine(s, 1, `sched_ext: BPF scheduler "fake" enabled`)
	if err := s.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The kernel unregisters it when the link's last fd goes.
	fake.Disable()
	kernelLine(s, 2, `sched_ext: BPF scheduler "fake" disabled (unregistered from user space)`)
	waitDone(t, s)
	e := rec.last()
	if e.Kind != Died || e.Signal != int(syscall.SIGKILL) || !strings.Contains(e.Reason, "killed by signal 9") {
		t.Fatalf("event = %+v", e)
	}
	if !strings.Contains(e.Log, "fake scheduler attached") {
		t.Errorf("log = %q", e.Log)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestLoaderStop(t *testing.T) {
	fake, cfg, rec := setup(t)
	s := New(Spec{Path: script(t, fake, attach+"while :; do sleep 0.02; done")}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if s.Ops() != "fake" {
		t.Errorf("Ops = %q", s.Ops())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	e := rec.last()
	if e.Kind != Detached || !e.Exited || e.ExitCode != 0 || !strings.Contains(e.Log, "EXIT: unregistered") {
		t.Fatalf("event = %+v", e)
	}
	st, _ := scxfs.Read(fake.Dir)
	if st.State != scxfs.StateDisabled {
		t.Errorf("state after Stop = %q", st.State)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if k := rec.kinds(); fmt.Sprint(k) != "[attached detached]" {
		t.Errorf("events = %v", k)
	}
}

func TestLoaderIgnoresSIGINT(t *testing.T) {
	fake, cfg, rec := setup(t)
	cfg.StopGrace = 200 * time.Millisecond
	body := strings.Replace(attach, "trap '", "trap '' INT; : '", 1) + "while :; do sleep 0.02; done"
	s := New(Spec{Path: script(t, fake, body)}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	go func() {
		// The kernel disables the scheduler once the loader is gone.
		<-s.Done()
	}()
	done := make(chan error)
	go func() { done <- s.Stop(context.Background()) }()
	time.Sleep(400 * time.Millisecond)
	fake.Disable()
	if err := <-done; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	e := rec.last()
	if e.Kind != Detached || e.Signal != int(syscall.SIGKILL) {
		t.Fatalf("event = %+v, want detached after SIGKILL", e)
	}
}

// fakeBuiltin attaches through the fake sysfs.
type fakeBuiltin struct {
	fake   *scxfs.Fake
	name   string
	closed int
}

func (b *fakeBuiltin) Name() string { return b.name }
func (b *fakeBuiltin) Close() error {
	b.closed++
	return b.fake.Disable()
}

func TestBuiltin(t *testing.T) {
	fake, cfg, rec := setup(t)
	var fb *fakeBuiltin
	cfg.LoadBuiltin = func(name string, opts builtin.Options) (Builtin, error) {
		if name != "fifo" {
			return nil, fmt.Errorf("load %s: %w", name, builtin.ErrUnknown)
		}
		opts.Logf("builtin %s: resolved kfunc", name)
		fb = &fakeBuiltin{fake: fake, name: "scxvm_fifo"}
		return fb, fake.Enable("scxvm_fifo")
	}
	s := New(Spec{Builtin: "fifo"}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if s.Ops() != "scxvm_fifo" {
		t.Errorf("Ops = %q", s.Ops())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	e := rec.last()
	if e.Kind != Detached || fb.closed == 0 || !strings.Contains(e.Log, "resolved kfunc") {
		t.Fatalf("event = %+v, closed %d", e, fb.closed)
	}

	// A load failure carries the error text as the log.
	err := New(Spec{Builtin: "nope"}, cfg).Start(context.Background())
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(le.Event.Log, "unknown built-in scheduler") {
		t.Fatalf("Start(nope) = %v", err)
	}
}

func TestBuiltinEjectedAndKilled(t *testing.T) {
	fake, cfg, rec := setup(t)
	cfg.LoadBuiltin = func(name string, opts builtin.Options) (Builtin, error) {
		ops, _ := builtin.OpsName(name)
		return &fakeBuiltin{fake: fake, name: ops}, fake.Enable(ops)
	}
	s := New(Spec{Builtin: "stall"}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	kernelLine(s, 1, `sched_ext: BPF scheduler "scxvm_stall" enabled`)
	fake.Disable()
	kernelLine(s, 2, `sched_ext: BPF scheduler "scxvm_stall" disabled (runnable task stall)`)
	kernelLine(s, 3, `sched_ext: scxvm_stall: kworker/0:1[23] failed to run for 3.012s`)
	waitDone(t, s)
	if e := rec.last(); e.Kind != Ejected || e.Reason != ktext.ReasonStall || len(e.KernelLines) != 1 {
		t.Fatalf("event = %+v", e)
	}
	s.Stop(context.Background())

	s = New(Spec{Builtin: "fifo"}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s)
	if e := rec.last(); e.Kind != Died || e.Signal != 9 {
		t.Fatalf("event = %+v", e)
	}
	s.Stop(context.Background())
}

func TestNone(t *testing.T) {
	_, cfg, rec := setup(t)
	s := New(Spec{}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if k := rec.kinds(); len(k) != 0 {
		t.Errorf("events = %v, want none", k)
	}
}

func TestStartCancelled(t *testing.T) {
	fake, cfg, _ := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := New(Spec{Path: script(t, fake, "exec sleep 30")}, cfg).Start(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want deadline exceeded", err)
	}
}

// TestLateDisableLine: the kernel changes the state before it prints the
// reason, and the log can lag well behind: the reason must still be found.
func TestLateDisableLine(t *testing.T) {
	fake, cfg, rec := setup(t)
	cfg.ExitWait = 2 * time.Second // the wait for the line, once the state left
	cfg.LoadBuiltin = func(name string, opts builtin.Options) (Builtin, error) {
		return &fakeBuiltin{fake: fake, name: "scxvm_fifo"}, fake.Enable("scxvm_fifo")
	}
	s := New(Spec{Builtin: "fifo"}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	kernelLine(s, 1, `sched_ext: BPF scheduler "scxvm_fifo" enabled`)
	fake.Disable()
	time.Sleep(3 * cfg.TrailingWait)
	kernelLine(s, 2, `sched_ext: BPF scheduler "scxvm_fifo" disabled (disabled by sysrq-S)`)
	waitDone(t, s)
	if e := rec.last(); e.Kind != Ejected || e.Reason != ktext.ReasonSysRq {
		t.Fatalf("event = %+v", e)
	}
	s.Stop(context.Background())
}

// TestEjectedWhileAttaching: a stalling scheduler can be enabled and
// ejected before the first poll sees it enabled. That is an attach and an
// ejection, not a load failure.
func TestEjectedWhileAttaching(t *testing.T) {
	fake, cfg, rec := setup(t)
	var s *Supervisor
	cfg.LoadBuiltin = func(name string, opts builtin.Options) (Builtin, error) {
		fake.Enable("scxvm_stall")
		kernelLine(s, 1, `sched_ext: BPF scheduler "scxvm_stall" enabled`)
		fake.Disable()
		kernelLine(s, 2, `sched_ext: BPF scheduler "scxvm_stall" disabled (runnable task stall)`)
		kernelLine(s, 3, `sched_ext: scxvm_stall: init[74] failed to run for 2.984s`)
		return &fakeBuiltin{fake: fake, name: "scxvm_stall"}, nil
	}
	s = New(Spec{Builtin: "stall"}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitDone(t, s)
	if k := rec.kinds(); fmt.Sprint(k) != "[attached ejected]" {
		t.Fatalf("events = %v, want [attached ejected]", k)
	}
	if e := rec.last(); e.Reason != ktext.ReasonStall || e.Scheduler != "scxvm_stall" || len(e.KernelLines) != 1 {
		t.Errorf("ejected = %+v", e)
	}
	s.Stop(context.Background())
}

// TestLoadFailedKernelLines: when the kernel refuses the scheduler (its
// ops.init() fails, say), the load failure carries the kernel's lines.
func TestLoadFailedKernelLines(t *testing.T) {
	fake, cfg, _ := setup(t)
	s := New(Spec{Path: script(t, fake, "echo 'scx_fake: init failed'; exit 1"), Ops: "fake"}, cfg)
	kernelLine(s, 1, `sched_ext: BPF scheduler "fake" disabled (runtime error)`)
	kernelLine(s, 2, `sched_ext: fake: ops.init() failed (-22)`)
	kernelLine(s, 3, `random: crng init done`)
	err := s.Start(context.Background())
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Start = %v", err)
	}
	e := le.Event
	if !strings.Contains(e.KernelLine, "disabled (runtime error)") || len(e.KernelLines) != 1 || !strings.Contains(e.KernelLines[0], "ops.init() failed") {
		t.Errorf("kernel evidence: %q %q", e.KernelLine, e.KernelLines)
	}
}

// TestAwaitEnd: a job that ends while the kernel disables its scheduler
// waits for the verdict; one whose scheduler is attached does not wait.
func TestAwaitEnd(t *testing.T) {
	fake, cfg, _ := setup(t)
	cfg.LoadBuiltin = func(name string, opts builtin.Options) (Builtin, error) {
		ops, _ := builtin.OpsName(name)
		return &fakeBuiltin{fake: fake, name: ops}, fake.Enable(ops)
	}
	cfg.PollInterval = time.Hour // only the state read by AwaitEnd sees the end
	s := New(Spec{Builtin: "error"}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Stop(context.Background())
	t0 := time.Now()
	s.AwaitEnd(context.Background())
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Errorf("AwaitEnd waited %v on an attached scheduler", d)
	}
	kernelLine(s, 1, `sched_ext: BPF scheduler "scxvm_error" enabled`)
	fake.Disable()
	go func() {
		// The reason reaches the supervisor later than the state.
		time.Sleep(100 * time.Millisecond)
		kernelLine(s, 2, `sched_ext: BPF scheduler "scxvm_error" disabled (runtime error)`)
	}()
	s.AwaitEnd(context.Background())
	if e, ok := s.Terminal(); !ok || e.Kind != Ejected {
		t.Errorf("after AwaitEnd: terminal %+v (%v), want the ejection", e, ok)
	}
}

// TestTransientStateRead: one read that shows the scheduler gone, with no
// kernel line and the state attached again when the monitor decides, is
// no ejection; a real one later still is.
func TestTransientStateRead(t *testing.T) {
	fake, cfg, rec := setup(t)
	cfg.LoadBuiltin = func(name string, opts builtin.Options) (Builtin, error) {
		ops, _ := builtin.OpsName(name)
		return &fakeBuiltin{fake: fake, name: ops}, fake.Enable(ops)
	}
	s := New(Spec{Builtin: "error"}, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Stop(context.Background())
	kernelLine(s, 1, `sched_ext: BPF scheduler "scxvm_error" enabled`)
	ops := filepath.Join(fake.Dir, "root", "ops")
	if err := os.WriteFile(ops, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * cfg.PollInterval) // the monitor reads it
	if err := os.WriteFile(ops, []byte("scxvm_error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.AwaitEnd(context.Background())
	time.Sleep(cfg.TrailingWait + 2*cfg.ExitWait) // past the monitor's decision
	if e, ok := s.Terminal(); ok {
		t.Fatalf("terminal event %+v after a transient read", e)
	}
	fake.Disable()
	kernelLine(s, 2, `sched_ext: BPF scheduler "scxvm_error" disabled (runtime error)`)
	waitDone(t, s)
	if e := rec.last(); e.Kind != Ejected {
		t.Errorf("event = %+v, want the ejection", e)
	}
}
