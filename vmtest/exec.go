package vmtest

import (
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// ExecScenarioName is the name of the scenario Config.Exec runs.
const ExecScenarioName = "exec"

// DefaultExecTimeout is Config.ExecTimeout's default: a command as the
// test (a test suite's runner, a benchmark) often runs for minutes.
const DefaultExecTimeout = 10 * time.Minute

// ExecScenario returns the scenario that runs args as the test: one
// payload, named after the command's base name, that the scenario waits
// for and whose exit status must be 0 (check payload_exit), no workers
// (the run ends when the command exits), and timeout as the job's limit
// (zero: DefaultExecTimeout). The scheduler, kernel and stall checks
// apply as in any scenario. Config.Exec uses it; it is exported for
// tests that add it to Config.Scenarios with their own changes.
func ExecScenario(args []string, timeout time.Duration) spec.Scenario {
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	name := ""
	if len(args) > 0 {
		name = path.Base(args[0])
	}
	zero := 0
	return spec.Scenario{
		Name:        ExecScenarioName,
		Description: "runs " + strings.Join(args, " ") + " as the test",
		Timeout:     timeout,
		Payloads: []spec.Payload{{
			Name: name, Path: firstOr(args), Args: restOf(args), Wait: true, ExpectExit: &zero,
		}},
	}
}

func firstOr(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func restOf(args []string) []string {
	if len(args) < 2 {
		return nil
	}
	return args[1:]
}

// resolveExec finds Exec's command: the guest path it runs as, and the
// extra files with the host executable added when the command is one (a
// path that exists on the host, or a name on the host's $PATH). An
// ExtraFiles entry for the command's guest path, or whose base name is a
// bare command name, is used as it is.
func (c *Config) resolveExec() (guestPath string, files map[string]string, err error) {
	files = maps.Clone(c.ExtraFiles)
	cmd := c.Exec[0]
	if _, ok := files[cmd]; ok && filepath.IsAbs(cmd) {
		return cmd, files, nil
	}
	var hostPath string
	if !strings.Contains(cmd, "/") {
		for g := range files {
			if path.Base(g) == cmd {
				return g, files, nil
			}
		}
		p, err := exec.LookPath(cmd)
		if err != nil {
			return "", nil, &ConfigError{Field: "exec", Msg: fmt.Sprintf("command %q is not on the host's $PATH nor among the extra files (--file GUEST=HOST); give its path", cmd)}
		}
		hostPath = p
	} else {
		st, err := os.Stat(cmd)
		if err != nil {
			if filepath.IsAbs(cmd) {
				return cmd, files, nil // not a host file: a guest path
			}
			return "", nil, &ConfigError{Field: "exec", Msg: fmt.Sprintf("command %s: no such file on the host", cmd)}
		}
		if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			return "", nil, &ConfigError{Field: "exec", Msg: fmt.Sprintf("command %s is not an executable file", cmd)}
		}
		hostPath = cmd
	}
	abs, err := filepath.Abs(hostPath)
	if err != nil {
		return "", nil, &ConfigError{Field: "exec", Err: err}
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		hostPath = real
	}
	if files == nil {
		files = map[string]string{}
	}
	if hiddenInGuest(abs) {
		// The agent mounts file systems there: the image's file would
		// be hidden.
		abs = path.Join(ExecDir, path.Base(abs))
	}
	if _, ok := files[abs]; !ok {
		files[abs] = hostPath
	}
	for _, interp := range interpreters(hostPath) {
		if _, ok := files[interp]; !ok {
			real, err := filepath.EvalSymlinks(interp)
			if err != nil {
				continue // the guest names it when it is missing there too
			}
			files[interp] = real
		}
	}
	return abs, files, nil
}

// ExecDir is where Config.Exec's host executable goes in the guest when
// its own path is below a directory the agent mounts a file system on
// (/tmp, /run, /dev, /proc, /sys), which would hide it.
const ExecDir = "/exec"

// hiddenInGuest reports whether a file of the image at p is hidden by a
// file system the agent mounts at boot (see agent's init).
func hiddenInGuest(p string) bool {
	for _, dir := range []string{"/tmp", "/run", "/dev", "/proc", "/sys"} {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// interpreters returns the host executables a script needs to run in the
// guest: its #! interpreter, and for "#!/usr/bin/env NAME" NAME as found
// on the host's $PATH (the guest's $PATH has the usual directories).
func interpreters(script string) []string {
	f, err := os.Open(script)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := io.ReadFull(f, buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return nil
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || !filepath.IsAbs(fields[0]) {
		return nil
	}
	out := []string{fields[0]}
	if path.Base(fields[0]) == "env" {
		for _, f := range fields[1:] {
			if strings.HasPrefix(f, "-") {
				continue
			}
			if p, err := exec.LookPath(f); err == nil {
				if abs, err := filepath.Abs(p); err == nil {
					out = append(out, abs)
				}
			}
			break
		}
	}
	return out
}
