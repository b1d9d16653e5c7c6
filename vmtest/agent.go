package vmtest

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// resolveAgent returns the static agent binary to boot as /init: path,
// else $SCXVM_AGENT.
func resolveAgent(path string) (string, error) {
	if path == "" {
		path = os.Getenv("SCXVM_AGENT")
	}
	if path == "" {
		return "", &InfraError{Op: "find agent", Err: errors.New("no guest agent: install scxvm-agent beside scxvm or on $PATH (go install github.com/scxvm/scxvm/cmd/...@VERSION, or make build), or set $SCXVM_AGENT or Config.Agent (Go tests: vmtest.BuildAgent)")}
	}
	if err := checkStatic(path); err != nil {
		return "", &InfraError{Op: "check agent", Err: err}
	}
	return filepath.Abs(path)
}

// checkStatic fails unless path is a statically linked ELF executable.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("agent %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("agent %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// BuildAgent builds the guest agent (./cmd/scxvm-agent of the module that
// contains the current directory, CGO_ENABLED=0) into dir/scxvm-agent and
// returns its path. The go tool relinks only when a source changed, so a repeated
// call is cheap and leaves the file (and the initramfs cache) untouched;
// a file lock serialises concurrent builds of test binaries. Go tests of
// packages that boot guests call it once from TestMain:
//
//	agent, err := vmtest.BuildAgent(ctx, filepath.Join(os.TempDir(), "scxvm-agent"))
func BuildAgent(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", &InfraError{Op: "build agent", Err: fmt.Errorf("go env GOMOD: %w (is the Go toolchain in $PATH?)", err)}
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" || root == os.DevNull {
		return "", &InfraError{Op: "build agent", Err: errors.New("not inside the scxvm module")}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", &InfraError{Op: "build agent", Err: err}
	}
	out := filepath.Join(dir, "scxvm-agent")
	lock, err := os.OpenFile(out+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", &InfraError{Op: "build agent", Err: err}
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", &InfraError{Op: "build agent", Err: fmt.Errorf("lock %s: %w", lock.Name(), err)}
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/scxvm-agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", &InfraError{Op: "build agent", Err: fmt.Errorf("go build ./cmd/scxvm-agent: %w\n%s", err, msg)}
	}
	return out, nil
}
