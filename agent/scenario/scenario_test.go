package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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

// fakeConfig runs scenarios against a cgroup tree of plain files.
func fakeConfig(t *testing.T) (Config, string) {
	t.Helper()
	parent := t.TempDir()
	return Config{
		CgroupParent:  parent,
		Name:          "scxvm-job-1",
		CgroupOptions: []cgroup.Option{cgroup.WithoutFSCheck()},
		Interval:      50 * time.Millisecond,
		Hooks:         Hooks{Logf: t.Logf},
	}, parent
}

func spin(n int) []spec.WorkloadConfig {
	return []spec.WorkloadConfig{{NumWorkers: n, WorkType: spec.WorkType{Kind: spec.CpuSpin}}}
}

type progressLog struct {
	mu sync.Mutex
	ps []Progress
}

func (l *progressLog) add(p Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ps = append(l.ps, p)
}

func TestSteady(t *testing.T) {
	cfg, parent := fakeConfig(t)
	var pl progressLog
	cfg.Progress = pl.add
	sc := spec.Scenario{
		Name:     "steady",
		Duration: 400 * time.Millisecond,
		Cgroups: []spec.Cgroup{
			{Name: "a", CPUs: "0", Workloads: spin(2)},
			{Name: "b", Workloads: spin(1)},
		},
	}
	res, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Reports) != 3 {
		t.Fatalf("%d reports, want 3", len(res.Reports))
	}
	wantCg := []string{"a", "a", "b"}
	wantIdx := []int{0, 1, 0}
	for i, r := range res.Reports {
		if r.Cgroup != wantCg[i] || r.Report.Index != wantIdx[i] || !r.Report.Completed || r.Report.Iterations == 0 {
			t.Errorf("report %d: cgroup %q index %d completed %v iterations %d", i, r.Cgroup, r.Report.Index, r.Report.Completed, r.Report.Iterations)
		}
	}
	// The fake tree saw the cpuset and the moves.
	b, err := os.ReadFile(filepath.Join(parent, "scxvm-job-1", "a", "cpuset.cpus"))
	if err == nil && strings.TrimSpace(string(b)) != "0" {
		t.Errorf("cpuset.cpus of a = %q", b)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if len(pl.ps) < 3 {
		t.Fatalf("%d progress samples in 400ms at 50ms, want >= 3", len(pl.ps))
	}
	first, last := pl.ps[0], pl.ps[len(pl.ps)-1]
	if len(first.Workers) != 3 || first.Workers[2].Cgroup != "b" || first.Workers[1].Index != 1 {
		t.Errorf("first progress workers = %+v", first.Workers)
	}
	for _, p := range pl.ps[1:] {
		if p.Workers != nil {
			t.Errorf("workers resent at %v without a change", p.At)
		}
	}
	var sum uint64
	for _, it := range last.Iterations {
		sum += it
	}
	if len(last.Iterations) != 3 || sum == 0 {
		t.Errorf("last progress iterations = %v", last.Iterations)
	}
}

func TestSteps(t *testing.T) {
	cfg, parent := fakeConfig(t)
	var pl progressLog
	cfg.Progress = pl.add
	var sysrq, killed []string
	cfg.SysRq = func(k string) error { sysrq = append(sysrq, k); return nil }
	cfg.KillScheduler = func(sig syscall.Signal) error { killed = append(killed, sig.String()); return nil }
	sc := spec.Scenario{
		Name:     "steps",
		Duration: 600 * time.Millisecond,
		Cgroups: []spec.Cgroup{
			{Name: "a", CPUs: "0", Workloads: spin(2)},
			{Name: "b", CPUs: "1", Workloads: spin(1)},
		},
		Steps: []spec.Step{
			// Out of order on purpose: steps run sorted by At.
			{At: 300 * time.Millisecond, Action: spec.StepKillWorker, Cgroup: "a", Worker: 1},
			{At: 100 * time.Millisecond, Action: spec.StepSwapCpusets, Cgroup: "a", Target: "b"},
			{At: 150 * time.Millisecond, Action: spec.StepSetCpuset, Cgroup: "a", CPUs: "0-1"},
			{At: 200 * time.Millisecond, Action: spec.StepAddCgroup, Cgroup: "c", CPUs: "0", Workloads: spin(1)},
			{At: 250 * time.Millisecond, Action: spec.StepSpawn, Cgroup: "a", Workloads: spin(1)},
			{At: 260 * time.Millisecond, Action: spec.StepSetAffinity, Cgroup: "a", Worker: 2, CPUs: "0"},
			{At: 270 * time.Millisecond, Action: spec.StepMoveTasks, Cgroup: "b", Target: "c"},
			{At: 280 * time.Millisecond, Action: spec.StepSysRq, Key: "d"},
			{At: 290 * time.Millisecond, Action: spec.StepKillScheduler},
		},
	}
	res, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(parent, "scxvm-job-1", "b", "cpuset.cpus"))
	if got := strings.TrimSpace(string(b)); got != "0" && len(b) > 0 {
		t.Errorf("b's cpuset after swap = %q, want 0", got)
	}
	if len(res.Reports) != 5 {
		t.Fatalf("%d reports, want 5 (2 a + 1 b + 1 c + 1 spawned in a)", len(res.Reports))
	}
	var order []string
	for _, r := range res.Reports {
		order = append(order, r.Cgroup)
	}
	if strings.Join(order, ",") != "a,a,b,c,a" {
		t.Errorf("report cgroups = %v", order)
	}
	killedRep := res.Reports[1].Report
	if killedRep.Completed || killedRep.Exit.Kind != spec.ExitSignaled || killedRep.Exit.Signal != int(syscall.SIGKILL) {
		t.Errorf("killed worker report: completed %v exit %+v", killedRep.Completed, killedRep.Exit)
	}
	if !res.Reports[0].Report.Completed || !res.Reports[4].Report.Completed || res.Reports[4].Report.Index != 2 {
		t.Errorf("other reports: %+v / %+v", res.Reports[0].Report.Exit, res.Reports[4].Report)
	}
	if len(sysrq) != 1 || sysrq[0] != "d" || len(killed) != 1 || killed[0] != "killed" {
		t.Errorf("hooks: sysrq %v kill %v", sysrq, killed)
	}
	// Spawns resend the worker list.
	pl.mu.Lock()
	n := 0
	for _, p := range pl.ps {
		if p.Workers != nil {
			n++
		}
	}
	pl.mu.Unlock()
	if n < 3 {
		t.Errorf("worker lists sent %d times, want >= 3 (start, add_cgroup, spawn)", n)
	}
	if _, err := os.Stat(filepath.Join(parent, "scxvm-job-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("job cgroup left behind: %v", err)
	}
}

func TestPayloads(t *testing.T) {
	cfg, _ := fakeConfig(t)
	sc := spec.Scenario{
		Name:     "payloads",
		Duration: 300 * time.Millisecond,
		Cgroups:  []spec.Cgroup{{Name: "a", Workloads: spin(1)}},
		Payloads: []spec.Payload{
			{Name: "fails", Path: "/bin/sh", Args: []string{"-c", "echo some output; echo err >&2; exit 3"}},
			{Name: "slow", Path: "/bin/sh", Args: []string{"-c", "echo started; exec sleep 30"}, Cgroup: "a"},
			{Name: "waited", Path: "/bin/sh", Args: []string{"-c", "sleep 0.5; echo done"}, Wait: true},
			{Name: "missing", Path: "/nonexistent/stress-ng"},
		},
	}
	start := time.Now()
	res, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("Run took %v, want ~0.5s (waited payload)", d)
	}
	if len(res.Payloads) != 4 {
		t.Fatalf("payload results = %+v", res.Payloads)
	}
	p := res.Payloads
	exit := func(r protocol.PayloadResult) int {
		if r.ExitCode == nil {
			return -1000 // no exit status
		}
		return *r.ExitCode
	}
	if p[0].Name != "fails" || exit(p[0]) != 3 || p[0].TimedOut || !strings.Contains(p[0].OutputTail, "some output\nerr\n") {
		t.Errorf("fails: %+v", p[0])
	}
	if p[1].Signal != int(syscall.SIGKILL) || p[1].ExitCode != nil || !p[1].TimedOut || !strings.Contains(p[1].OutputTail, "started") {
		t.Errorf("slow: %+v", p[1])
	}
	if exit(p[2]) != 0 || p[2].TimedOut || p[2].OutputTail != "done\n" || p[2].Duration < 500*time.Millisecond {
		t.Errorf("waited: %+v", p[2])
	}
	// A command that could not start has an error and no exit status.
	if !strings.Contains(p[3].Error, "start stress-ng: ") || p[3].ExitCode != nil || p[3].Signal != 0 || p[3].Duration != 0 {
		t.Errorf("missing: %+v", p[3])
	}
	if len(res.Reports) != 1 || !res.Reports[0].Report.Completed {
		t.Errorf("reports = %+v", res.Reports)
	}
}

func TestTimeoutKeepsReports(t *testing.T) {
	cfg, _ := fakeConfig(t)
	hung := make(chan struct{})
	cfg.Hang = func(ctx context.Context) { close(hung); <-ctx.Done() }
	sc := spec.Scenario{
		Name:     "hang",
		Duration: 10 * time.Second,
		Cgroups:  []spec.Cgroup{{Name: "a", Workloads: spin(2)}},
		Steps:    []spec.Step{{At: 50 * time.Millisecond, Action: spec.StepHang}},
	}
	// The deadline must leave room to spawn the workers on a loaded host
	// before the step at 50 ms runs; it still ends the run long before
	// the scenario's 10 s.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := Run(ctx, sc, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run err = %v, want deadline exceeded", err)
	}
	select {
	case <-hung:
	default:
		t.Error("hang hook not called")
	}
	if len(res.Reports) != 2 || !res.Reports[0].Report.Completed || res.Reports[0].Report.Iterations == 0 {
		t.Errorf("reports after timeout = %+v", res.Reports)
	}
}

func TestSpawnFailureCleansUp(t *testing.T) {
	cfg, parent := fakeConfig(t)
	sc := spec.Scenario{
		Name:     "bad",
		Duration: time.Second,
		Cgroups: []spec.Cgroup{
			{Name: "a", Workloads: spin(1)},
			// Valid config, but a fixed affinity on a cpu that does not exist.
			{Name: "b", Workloads: []spec.WorkloadConfig{{NumWorkers: 1, Affinity: spec.Affinity{Kind: spec.AffinityFixed, CPUs: []int{1000}}}}},
		},
	}
	res, err := Run(context.Background(), sc, cfg)
	if err == nil {
		t.Fatalf("Run: no error, reports %+v", res.Reports)
	}
	t.Logf("Run error: %v", err)
	if _, err := os.Stat(filepath.Join(parent, "scxvm-job-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("job cgroup left behind: %v", err)
	}
}

// A payload's whole output reaches the Output hook, in order, however
// long it is; the head and tail buffer keeps only its ends. A scenario
// with only waited payloads ends when they exit, not after Duration.
func TestPayloadOutputStreamed(t *testing.T) {
	cfg, _ := fakeConfig(t)
	var (
		mu     sync.Mutex
		got    bytes.Buffer
		chunks int
	)
	cfg.Output = func(payload, stream int, data []byte) {
		mu.Lock()
		defer mu.Unlock()
		if payload != 0 || stream != protocol.StreamStdout || len(data) > protocol.MaxOutputChunk {
			t.Errorf("chunk of payload %d stream %d, %d bytes", payload, stream, len(data))
		}
		chunks++
		got.Write(data)
		time.Sleep(time.Millisecond) // a slow channel: the payload waits
	}
	const lines = 20000 // about 150 KB
	script := `i=0; while [ $i -lt ` + strconv.Itoa(lines) + ` ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done; exit 4`
	sc := spec.Scenario{
		Name:     "output",
		Duration: time.Minute, // not waited for: no workers, only waited payloads
		Payloads: []spec.Payload{{Name: "loud", Path: "/bin/sh", Args: []string{"-c", script}, ExpectExit: new(0)}},
	}
	start := time.Now()
	res, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run took %v: it should end when the payload exits", d)
	}
	var want bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&want, "line %d\nerr %d\n", i, i)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("streamed %d bytes in %d chunks, want the %d bytes the payload wrote, in order", got.Len(), chunks, want.Len())
	}
	p := res.Payloads[0]
	if p.OutputBytes != int64(want.Len()) || p.ExitCode == nil || *p.ExitCode != 4 {
		t.Errorf("result: %d output bytes, exit %v; want %d, exit 4", p.OutputBytes, p.ExitCode, want.Len())
	}
	if !strings.Contains(p.OutputTail, "bytes elided") || !strings.HasSuffix(p.OutputTail, fmt.Sprintf("err %d\n", lines-1)) {
		t.Errorf("output tail should keep the head and the end: %.200q", p.OutputTail)
	}
}

// A command that is missing or not executable in the guest is named.
func TestPayloadStartErrors(t *testing.T) {
	cfg, dir := fakeConfig(t)
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("not a program\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := spec.Scenario{
		Name: "bad",
		Payloads: []spec.Payload{
			{Name: "missing", Path: "/no/such/runner", Wait: true},
			{Name: "plain", Path: plain, Wait: true},
			{Name: "bare", Path: "no-such-command-anywhere", Wait: true},
		},
	}
	res, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for i, want := range []string{
		"/no/such/runner: no such file in the guest",
		plain + " is not executable in the guest",
		`"no-such-command-anywhere" not found in the guest's $PATH`,
	} {
		if p := res.Payloads[i]; !strings.Contains(p.Error, want) || p.ExitCode != nil {
			t.Errorf("payload %s: error %q, want it to contain %q", p.Name, p.Error, want)
		}
	}
}
