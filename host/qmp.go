package host

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// qmp is a minimal client of QEMU's machine protocol (QMP) over the
// monitor socket Start gives QEMU when Config.State asks for one.
type qmp struct {
	mu      sync.Mutex
	c       *net.UnixConn
	r       *bufio.Reader
	greeted bool
}

func newQMP(c *net.UnixConn) *qmp { return &qmp{c: c, r: bufio.NewReader(c)} }

// qmpError is an error answer of QEMU.
type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qmpError) Error() string { return e.Class + ": " + e.Desc }

// do runs one command and returns its "return" value; fd, when not nil,
// travels with the command (SCM_RIGHTS), as getfd wants.
func (q *qmp) do(ctx context.Context, cmd string, args any, fd *os.File) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(time.Minute)
	}
	q.c.SetDeadline(dl)
	defer q.c.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { q.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if !q.greeted {
		if _, err := q.read(); err != nil { // {"QMP": {...}}
			return nil, fmt.Errorf("qmp greeting: %w", err)
		}
		q.greeted = true
		if err := q.send("qmp_capabilities", nil, nil); err != nil {
			return nil, err
		}
		if _, err := q.answer(); err != nil {
			return nil, fmt.Errorf("qmp_capabilities: %w", err)
		}
	}
	if err := q.send(cmd, args, fd); err != nil {
		return nil, err
	}
	ret, err := q.answer()
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	return ret, nil
}

func (q *qmp) send(cmd string, args any, fd *os.File) error {
	m := map[string]any{"execute": cmd}
	if args != nil {
		m["arguments"] = args
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	if _, _, err := q.c.WriteMsgUnix(append(b, '\n'), oob, nil); err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	return nil
}

// answer reads until the command's answer, skipping events.
func (q *qmp) answer() (json.RawMessage, error) {
	for {
		m, err := q.read()
		if err != nil {
			return nil, err
		}
		if _, ok := m["event"]; ok {
			continue
		}
		if e, ok := m["error"]; ok {
			var qe qmpError
			json.Unmarshal(e, &qe)
			return nil, &qe
		}
		if r, ok := m["return"]; ok {
			return r, nil
		}
	}
}

func (q *qmp) read() (map[string]json.RawMessage, error) {
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("qmp: no answer: %w", err)
		}
		return nil, fmt.Errorf("qmp: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("qmp: %q: %w", line, err)
	}
	return m, nil
}
