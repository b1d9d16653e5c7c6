package vmtest

import (
	"bytes"
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

// resolveAgent returns the agent binary to boot as /init: path,
// else $SCXVM_AGENT.
func resolveAgent(path string) (string, error) {
	if path == "" {
		path = os.Getenv("SCXVM_AGENT")
	}
	if path == "" {
		return "", &InfraError{Op: "find agent", Err: errors.New("no guest agent: install scxvm-agent beside scxvm or on $PATH (go install github.com/scxvm/scxvm/cmd/...@VERSION, or make build), or set $SCXVM_AGENT or Config.Agent (Go tests: vmtest.BuildAgent)")}
	}
	if err := checkAgent(path); err != nil {
		return "", &InfraError{Op: "check agent", Err: err}
	}
	return filepath.Abs(path)
}

// checkAgent fails unless path is an ELF executable. A dynamically linked
// agent (what `go install` makes when cgo is available) is fine: the
// initramfs carries its libraries.
func checkAgent(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("agent %s: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("agent %s is no executable (ELF type %v)", path, f.Type)
	}
	return nil
}

// AgentPackage is the import path of the guest agent, which BuildAgent
// builds.
const AgentPackage = "github.com/scxvm/scxvm/cmd/scxvm-agent"

// BuildAgent builds the guest agent (AgentPackage, CGO_ENABLED=0) into
// dir/scxvm-agent and returns its path. It builds in the Go module of the
// current directory (a test's package directory under go test), so the
// agent is made from the scxvm version that module's go.mod selects, the
// same version as the host side that boots it. A module other than
// scxvm's own needs the agent's dependencies in its go.sum; recording the
// agent as a tool of the module does that and keeps `go mod tidy` from
// dropping them:
//
//	go get -tool github.com/scxvm/scxvm/cmd/scxvm-agent
//
// The go tool relinks only when a source changed, so a repeated call is
// cheap and leaves the file (and the initramfs cache) untouched; a file
// lock serialises concurrent builds of test binaries. The build inherits
// the environment (GOFLAGS, GOPROXY, ...). Go tests of packages that boot
// guests call it once from TestMain:
//
//	agent, err := vmtest.BuildAgent(ctx, filepath.Join(os.TempDir(), "scxvm-agent"))
func BuildAgent(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", &InfraError{Op: "build agent", Err: fmt.Errorf("go env GOMOD: %w (is the Go toolchain in $PATH?)", err)}
	}
	if m := strings.TrimSpace(string(gomod)); m == "" || m == os.DevNull {
		return "", &InfraError{Op: "build agent", Err: fmt.Errorf("no Go module in the current directory: BuildAgent builds %s with the module of the current directory, which must require github.com/scxvm/scxvm", AgentPackage)}
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
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, AgentPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		hint := ""
		if moduleTrouble(msg) {
			hint = fmt.Sprintf(" (the module of the current directory must require github.com/scxvm/scxvm and have the agent's dependencies in its go.sum: go get -tool %s)", AgentPackage)
		}
		return "", &InfraError{Op: "build agent", Err: fmt.Errorf("go build %s: %w%s\n%s", AgentPackage, err, hint, msg)}
	}
	return out, nil
}

// moduleTrouble reports whether go build's output says the package or its
// dependencies are not available in the module (rather than that the
// agent does not compile).
func moduleTrouble(out []byte) bool {
	for _, s := range []string{"go.sum", "no required module provides package", "cannot find module providing", "go: updates to go.mod needed"} {
		if bytes.Contains(out, []byte(s)) {
			return true
		}
	}
	return false
}
