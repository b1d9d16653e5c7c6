package agent

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/internal/proctest"
)

// reapHelperEnv turns the test binary into a small stand-in for PID 1 (a
// child subreaper) that runs reap; see TestReapOrphans.
const reapHelperEnv = "SCXVM_AGENT_TEST_REAP"

func init() {
	if os.Getenv(reapHelperEnv) == "" {
		return
	}
	// Orphans of our descendants come to us, as they come to PID 1.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Println("prctl:", err)
		os.Exit(3)
	}
	// The "session" runs a shell that leaves a background child behind
	// and exits at once: an orphan, reparented to us, that exits while the
	// session still runs.
	cmd := exec.Command("/bin/sh", "-c", "/bin/sh -c '(sleep 0.1; exit 7) &'; sleep 0.5")
	if err := cmd.Start(); err != nil {
		fmt.Println("start:", err)
		os.Exit(3)
	}
	n := reap(cmd.Process.Pid, func(format string, args ...any) { fmt.Printf(format+"\n", args...) })
	fmt.Printf("orphans reaped: %d\n", n)
	fmt.Printf("zombies left: %d\n", zombies())
	os.Exit(0)
}

// zombies counts this process's zombie children.
func zombies() int {
	n := 0
	for _, p := range proctest.Children(os.Getpid()) {
		if p.Zombie() {
			n++
		}
	}
	return n
}

// TestReapOrphans checks that orphans reparented to the reaper are
// collected with their status, and that reap returns when the session
// exits.
func TestReapOrphans(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), reapHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"orphans reaped: 1", "zombies left: 0"} {
		if !strings.Contains(s, want) {
			t.Errorf("helper output lacks %q:\n%s", want, s)
		}
	}
}

// TestStartSessionFallback: a binary that does not run the agent session
// is detected at once (no ready byte), so PID 1 can fall back.
func TestStartSessionFallback(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	start := time.Now()
	_, err = startSession("/bin/true", transportSpec{Kind: "virtio-serial"}, time.Now(), 0, w)
	if err == nil || !strings.Contains(err.Error(), "agent.IsGuest") {
		t.Fatalf("startSession(/bin/true) = %v, want an error naming the fix", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("detection took %v, want at once (the child exited)", d)
	}
}
