package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scxvm/scxvm/agent/internal/logbuf"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// payloads are the scenario's commands running beside the workers.
type payloads struct {
	list []*payload
	once sync.Once
	res  []protocol.PayloadResult
}

type payload struct {
	spec  spec.Payload
	cmd   *exec.Cmd
	out   *logbuf.HeadTail
	bytes atomic.Int64 // output bytes written, all streamed
	start time.Time
	done  chan struct{}
	res   protocol.PayloadResult
	kill  bool // killed by the agent
	mu    sync.Mutex
}

// stream is one output stream of a payload: what the payload writes goes
// to the head+tail buffer and, chunk by chunk, to the Output hook, which
// blocks while a chunk is on its way. The payload's pipe then fills and
// the payload waits: its whole output reaches the host, and the agent
// holds at most a chunk per stream.
type stream struct {
	p      *payload
	index  int
	stream int
	out    func(payload, stream int, data []byte)
}

func (w *stream) Write(b []byte) (int, error) {
	n := len(b)
	w.p.out.Write(b)
	w.p.bytes.Add(int64(n))
	for w.out != nil && len(b) > 0 {
		k := min(len(b), protocol.MaxOutputChunk)
		w.out(w.index, w.stream, bytes.Clone(b[:k]))
		b = b[k:]
	}
	return n, nil
}

// command returns the payload's command with its output wired up.
func (p *payload) command(i int, hooks Hooks) *exec.Cmd {
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	// One pipe for both, so that the output keeps the order in which
	// the payload wrote it; it is streamed as standard output.
	w := &stream{p: p, index: i, stream: protocol.StreamStdout, out: hooks.Output}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process outside the group that keeps the pipes open must not
	// keep the payload from being reaped.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// startError explains why a payload's command did not start, naming the
// command.
func startError(sp spec.Payload, err error) string {
	name := filepath.Base(sp.Path)
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Sprintf("start %s: %q not found in the guest's $PATH (give an absolute path, and put the file in the guest with --file GUEST=HOST)", name, sp.Path)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("start %s: %s: no such file in the guest (put it there with --file %s=HOST)", name, sp.Path, sp.Path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("start %s: %s is not executable in the guest (permission denied)", name, sp.Path)
	case errors.Is(err, syscall.ENOEXEC):
		return fmt.Sprintf("start %s: %s is not an executable the guest can run (exec format error)", name, sp.Path)
	}
	return fmt.Sprintf("start %s: %v", name, err)
}

// startPayloads starts every payload. A payload that cannot start gets a
// result with Error set; it does not stop the scenario.
func startPayloads(ctx context.Context, specs []spec.Payload, r *runner, outBytes int) *payloads {
	ps := &payloads{}
	for i, spec := range specs {
		p := &payload{spec: spec, out: logbuf.NewHeadTail(outBytes), done: make(chan struct{})}
		p.res.Name = spec.Label()
		ps.list = append(ps.list, p)
		cmd := p.command(i, r.cfg.Hooks)
		var cgfd *os.File
		if spec.Cgroup != "" && r.mgr != nil {
			// Start it in its cgroup directly (clone3 CLONE_INTO_CGROUP)
			// so that it never runs outside.
			f, err := os.Open(r.mgr.Path(spec.Cgroup))
			if err == nil {
				cgfd = f
				cmd.SysProcAttr.UseCgroupFD = true
				cmd.SysProcAttr.CgroupFD = int(f.Fd())
			}
		}
		err := cmd.Start()
		if err != nil && cgfd != nil && !isPathError(err) {
			// Kernels or fake roots without CLONE_INTO_CGROUP: start it
			// anywhere and move it.
			cmd = p.command(i, r.cfg.Hooks)
			err = cmd.Start()
			if err == nil {
				if merr := r.mgr.MoveTasks(spec.Cgroup, []int{cmd.Process.Pid}); merr != nil {
					fmt.Fprintf(p.out, "scxvm: move payload to cgroup %s: %v\n", spec.Cgroup, merr)
				}
			}
		}
		if cgfd != nil {
			cgfd.Close()
		}
		p.start = time.Now()
		if err != nil {
			p.res.Error = startError(spec, err)
			close(p.done)
			continue
		}
		p.cmd = cmd
		go func() {
			cmd.Wait()
			p.mu.Lock()
			p.res.Duration = time.Since(p.start)
			p.mu.Unlock()
			close(p.done)
		}()
	}
	return ps
}

// isPathError reports whether a start failed on the command's file
// (missing, not executable), which no other way of starting it cures.
func isPathError(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOEXEC)
}

// waitFor waits for the payloads marked Wait, bounded by ctx.
func (ps *payloads) waitFor(ctx context.Context) error {
	for _, p := range ps.list {
		if !p.spec.Waited() {
			continue
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("wait for payload %s: %w", p.spec.Name, ctx.Err())
		}
	}
	return nil
}

// finish kills the payloads still running (SIGKILL to their process
// group), waits for them and returns their results. Later calls return
// the same results.
func (ps *payloads) finish() []protocol.PayloadResult {
	ps.once.Do(func() {
		for _, p := range ps.list {
			if p.cmd == nil {
				continue
			}
			select {
			case <-p.done:
			default:
				p.mu.Lock()
				p.kill = true
				p.mu.Unlock()
				syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		for _, p := range ps.list {
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				if p.res.Error == "" {
					p.res.Error = "not reaped 5s after SIGKILL"
				}
			}
			ps.res = append(ps.res, p.result())
		}
	})
	return ps.res
}

func (p *payload) result() protocol.PayloadResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.res
	r.OutputTail = p.out.String()
	r.OutputBytes = p.bytes.Load()
	select {
	case <-p.done:
	default:
		return r // still not reaped: ProcessState is not ours to read
	}
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return r
	}
	ps := p.cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.Signal = int(ws.Signal())
	} else {
		code := ps.ExitCode()
		r.ExitCode = &code
	}
	r.TimedOut = p.kill
	return r
}
