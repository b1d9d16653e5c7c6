package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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
	start time.Time
	done  chan struct{}
	res   protocol.PayloadResult
	kill  bool // killed by the agent
	mu    sync.Mutex
}

// startPayloads starts every payload. A payload that cannot start gets a
// result with Error set; it does not stop the scenario.
func startPayloads(ctx context.Context, specs []spec.Payload, r *runner, outBytes int) *payloads {
	ps := &payloads{}
	for _, spec := range specs {
		p := &payload{spec: spec, out: logbuf.NewHeadTail(outBytes), done: make(chan struct{})}
		p.res.Name = spec.Name
		ps.list = append(ps.list, p)
		cmd := exec.Command(spec.Path, spec.Args...)
		cmd.Stdout, cmd.Stderr = p.out, p.out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
		if err != nil && cgfd != nil {
			// Kernels or fake roots without CLONE_INTO_CGROUP: start it
			// anywhere and move it.
			cmd = exec.Command(spec.Path, spec.Args...)
			cmd.Stdout, cmd.Stderr = p.out, p.out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
			p.res.Error = fmt.Sprintf("start %s: %v", filepath.Base(spec.Path), err)
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

// waitFor waits for the payloads marked Wait, bounded by ctx.
func (ps *payloads) waitFor(ctx context.Context) error {
	for _, p := range ps.list {
		if !p.spec.Wait {
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
