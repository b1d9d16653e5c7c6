package vmtest

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
)

// syncBuffer is a bytes buffer safe for the console's writer and the
// test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestShellE2E runs a scripted shell (input that is no terminal) on the
// 6.12 kernel under the built-in fifo: the guest's file systems are
// mounted, the scheduler is attached, the shell leads its session on the
// console, a read-only share refuses writes, a writable one shows them
// on the host, and symlinks in a share do not reach host files outside
// it. Each command's output is computed ($((...))), so that the echo of
// the typed commands cannot match.
func TestShellE2E(t *testing.T) {
	cfg := e2e(t, kernel.Build612)
	cfg.Accel = "tcg"
	root := t.TempDir()
	ro, rw := filepath.Join(root, "ro"), filepath.Join(root, "rw")
	for _, d := range []string{ro, rw} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := "host-secret-" + rand.Text()
	outside := filepath.Join(root, "outside.txt")
	for p, data := range map[string]string{outside: secret, filepath.Join(ro, "hello.txt"): "hello from the host"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An absolute symlink to the host file, and a relative one climbing
	// out of the share to it.
	if err := os.Symlink(outside, filepath.Join(ro, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside.txt", filepath.Join(ro, "rel")); err != nil {
		t.Fatal(err)
	}
	cfg.Shares = []spec.Share{{HostDir: ro, GuestDir: "/ro"}, {HostDir: rw, GuestDir: "/mnt/rw", Writable: true}}
	script := strings.Join([]string{
		`echo "state=$(cat /sys/kernel/sched_ext/state)"`,
		`echo "proc=$(grep -c '^State:' /proc/self/status)"`,
		`echo "mounts=$(grep -cE ' (proc|sysfs|debugfs|cgroup2|tracefs) ' /proc/mounts)"`,
		`set -- $(cat /proc/$$/stat); echo "leader=$(($6 == $$)) ctty=$(($7 != 0))"`,
		`echo "term=$TERM"`,
		`echo "hello=$(cat /ro/hello.txt | wc -w)"`,
		`echo x > /ro/new.txt || echo "ro-write=$((40 + 2))"`,
		`echo guest-wrote > /mnt/rw/out.txt && echo "rw-write=$((40 + 3))"`,
		`cat /ro/abs /ro/rel /ro/../outside.txt; echo "escape=$(cat /ro/abs /ro/rel 2>/dev/null | wc -c)"`,
		// The resize races with the input: wait for it.
		`for i in 1 2 3 4 5 6 7 8 9 10; do [ "$(stty size)" = "44 111" ] && break; sleep 0.5; done; echo "size=$(stty size | tr ' ' x)"`,
	}, "\n") + "\n"
	var out syncBuffer
	resize := make(chan WindowSize, 1)
	resize <- WindowSize{Rows: 44, Cols: 111} // a SIGWINCH during the boot
	res, err := Shell(t.Context(), cfg, ShellIO{In: strings.NewReader(script), Out: &out, Term: "xterm-test", Size: WindowSize{Rows: 33, Cols: 101}, Resize: resize})
	console := out.String()
	t.Logf("console:\n%s", console)
	if err != nil {
		t.Fatalf("Shell: %v", err)
	}
	if res.Exit == nil || res.Exit.Code != 0 || res.Exit.Signal != 0 {
		t.Errorf("shell exit = %v, want exit 0", res.Exit)
	}
	if res.SchedState != "enabled" {
		t.Errorf("sched_ext state at the shell's start = %q, want enabled", res.SchedState)
	}
	if len(res.SchedEvents) == 0 || res.SchedEvents[0].Kind != "attached" {
		t.Errorf("scheduler events %+v, want attached first", res.SchedEvents)
	}
	for _, want := range []string{
		"state=enabled", "proc=1", "mounts=5", "leader=1 ctty=1", "term=xterm-test", "hello=4",
		"ro-write=42", "rw-write=43", "escape=0", "size=44x111", `scheduler attached "scxvm_fifo"`,
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(console, secret) {
		t.Errorf("the guest read %s, a host file outside the share, through a symlink", outside)
	}
	if _, err := os.Stat(filepath.Join(ro, "new.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a write to the read-only share reached the host: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out.txt")); err != nil || string(b) != "guest-wrote\n" {
		t.Errorf("host sees %q, %v in the writable share; want the guest's write", b, err)
	}
}

// TestShellEjectionE2E: the scheduler's ejection during a shell is
// printed on the console when it happens and makes the shell's verdict.
func TestShellEjectionE2E(t *testing.T) {
	cfg := e2e(t, kernel.Build612)
	cfg.Accel = "tcg"
	cfg.Scheduler = spec.Scheduler{Name: spec.SchedulerError}
	var out syncBuffer
	script := "sleep 3\n" + `echo "after=$((6 * 7))"` + "\n"
	res, err := Shell(t.Context(), cfg, ShellIO{In: strings.NewReader(script), Out: &out})
	console := out.String()
	t.Logf("console:\n%s", console)
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailEjected {
		t.Fatalf("Shell = %v, want an ejection failure", err)
	}
	if res.Exit == nil || res.Exit.Code != 0 {
		t.Errorf("shell exit = %v: the shell should go on after the ejection", res.Exit)
	}
	ej := strings.Index(console, "scxvm: scheduler ejected")
	after := strings.Index(console, "after=42")
	if ej < 0 || after < 0 {
		t.Fatalf("console lacks the ejection note (%d) or the last command's output (%d)", ej, after)
	}
	if ej > after {
		t.Errorf("the ejection was printed after the shell's last output, not when it happened")
	}
}

// TestShareModulesE2E: Debian's 7.3 kernel has 9p as modules; the image
// carries and loads them, and a run (not only a shell) mounts the share.
func TestShareModulesE2E(t *testing.T) {
	cfg := e2e(t, kernel.Debian)
	cfg.Accel = "tcg"
	k, err := kernel.Lookup(kernel.DefaultCacheDir(), kernel.Debian)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(k.Modules, func(m string) bool { return filepath.Base(m) == "9p.ko" }) {
		testenv.Prereq(t, "the cached debian kernel has no 9p modules (fetched by an older scxvm): run `make kernel`")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Shares = []spec.Share{{HostDir: dir, GuestDir: "/share", Writable: true}}
	cfg.Scheduler = spec.Scheduler{Name: spec.SchedulerNone}
	var out syncBuffer
	script := `echo "words=$(cat /share/in.txt | wc -w) mods=$(grep -c '^9p' /proc/modules)"; echo done > /share/out.txt` + "\n"
	res, err := Shell(t.Context(), cfg, ShellIO{In: strings.NewReader(script), Out: &out})
	t.Logf("console:\n%s", out.String())
	if err != nil {
		t.Fatalf("Shell: %v", err)
	}
	if res.Exit == nil || res.Exit.Code != 0 {
		t.Errorf("shell exit = %v", res.Exit)
	}
	if !strings.Contains(out.String(), "words=3 mods=3") {
		t.Errorf("console lacks words=3 mods=3 (the share's file read with 9p, 9pnet and 9pnet_virtio loaded)")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "done\n" {
		t.Errorf("host sees %q, %v; want the guest's write", b, err)
	}
}
