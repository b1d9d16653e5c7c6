package stallwatch

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// statLine is a stat line in the format of proc(5).
func statLine(pid int, comm string, state byte, flags uint64, threads, cpu int) string {
	return fmt.Sprintf("%d (%s) %c 1 1 0 0 -1 %d 0 0 0 0 7 3 0 0 20 0 %d 0 100 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 %d 0 0 0 0 0\n",
		pid, comm, state, flags, threads, cpu)
}

// fakeProc writes files (path relative to the root -> content) under a
// temporary directory and returns it.
func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func pids(ts []Task) []int {
	var out []int
	for _, t := range ts {
		out = append(out, t.PID)
	}
	slices.Sort(out)
	return out
}

func TestSamplerFakeProc(t *testing.T) {
	root := fakeProc(t, map[string]string{
		"cmdline":            "console=ttyS0\n",
		"sys/kernel/x":       "1\n",
		"1/stat":             statLine(1, "init", 'S', 0x400100, 2, 0),
		"1/task/1/stat":      statLine(1, "init", 'S', 0x400100, 2, 0),
		"1/task/1/schedstat": "10 20 3\n",
		"1/task/7/stat":      statLine(7, "init", 'R', 0x400040, 2, 1),
		"1/task/7/schedstat": "11 21 4\n",
		"14/stat":            statLine(14, "kworker/0:1", 'R', pfKthread|0x40, 1, 0),
		"14/schedstat":       "500 0 9\n",
		"16/stat":            statLine(16, "rcu_preempt", 'I', pfKthread, 1, 1),
		"16/schedstat":       "7 0 1\n",
		"20/stat":            statLine(20, "self", 'R', 0x400000, 1, 0),
	})
	s := NewSampler(root)
	defer s.Close()
	s.Self = 20
	got, n, err := s.Sample(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 || !slices.Equal(pids(got), []int{7, 14}) {
		t.Fatalf("sample 1: %d threads, runnable %v; want 5 threads, runnable [7 14]", n, pids(got))
	}
	for _, task := range got {
		switch task.PID {
		case 7:
			if task.TGID != 1 || task.CPU != 1 || task.RunNs != 11 || task.Slices != 4 || task.Kthread {
				t.Errorf("thread 7: %+v", task)
			}
		case 14:
			if task.TGID != 14 || task.Comm != "kworker/0:1" || task.RunNs != 500 || task.Slices != 9 || !task.Kthread {
				t.Errorf("kworker: %+v", task)
			}
		}
	}

	// Files change in place (the sampler keeps them open), a thread
	// exits, a kernel thread known to be idle becomes runnable.
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("14/stat", statLine(14, "kworker/0:1", 'S', pfKthread|0x40, 1, 0))
	write("16/stat", statLine(16, "rcu_preempt", 'R', pfKthread, 1, 1))
	if err := os.RemoveAll(filepath.Join(root, "1/task/7")); err != nil {
		t.Fatal(err)
	}
	got, n, err = s.Sample(got[:0])
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || !slices.Equal(pids(got), []int{16}) {
		t.Fatalf("sample 2: %d threads, runnable %v; want 4 threads, runnable [16]", n, pids(got))
	}
	if len(s.procs) != 4 || len(s.threads) != 1 { // 1, 14, 16, 20; 1/task/1
		t.Errorf("%d processes and %d threads open after an exit, want 4 and 1", len(s.procs), len(s.threads))
	}
}

func TestSamplerBadStat(t *testing.T) {
	root := fakeProc(t, map[string]string{"3/stat": "garbage\n"})
	s := NewSampler(root)
	defer s.Close()
	if _, _, err := s.Sample(nil); err == nil {
		t.Error("a stat the sampler cannot parse passed silently")
	}
	if _, _, err := NewSampler(filepath.Join(root, "missing")).Sample(nil); err == nil {
		t.Error("a missing /proc passed silently")
	}
}

// TestSamplerLiveProc samples the machine's own /proc: the sampling
// thread is running, so it must be found runnable with its cpu time, and
// Close must release every file.
func TestSamplerLiveProc(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := openFDs(t)
	s := NewSampler("/proc")
	var tasks []Task
	var n int
	var err error
	for range 3 { // the second and third read the open files again
		tasks, n, err = s.Sample(tasks[:0])
		if err != nil {
			t.Fatal(err)
		}
	}
	tid := unix.Gettid()
	i := slices.IndexFunc(tasks, func(t Task) bool { return t.PID == tid })
	if i < 0 {
		t.Fatalf("the sampling thread %d is not among the %d runnable of %d threads", tid, len(tasks), n)
	}
	if me := tasks[i]; me.TGID != os.Getpid() || me.RunNs == 0 || me.Kthread {
		t.Errorf("sampling thread: %+v", me)
	}
	s.Close()
	if after := openFDs(t); after != before {
		t.Errorf("%d open files before, %d after Close", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("SKIPPING: no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// BenchmarkSampleLiveProc measures one sample of the machine's /proc with
// the files kept open (the steady state of a watch), per thread read.
func BenchmarkSampleLiveProc(b *testing.B) {
	s := NewSampler("/proc")
	defer s.Close()
	tasks, n, err := s.Sample(nil) // opens the files
	if err != nil {
		b.Fatal(err)
	}
	var ts unix.Timespec
	cpu := func() int64 {
		unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
		return ts.Nano()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	c0 := cpu()
	for b.Loop() {
		if tasks, n, err = s.Sample(tasks[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "threads")
	b.ReportMetric(float64(cpu()-c0)/1e3/float64(b.N)/float64(max(n, 1)), "cpu-us/thread")
}
