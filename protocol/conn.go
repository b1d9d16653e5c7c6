package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one side of a conversation over a byte stream. Send may be called
// from several goroutines at once (frames never interleave); Recv calls are
// serialized, and the messages come back in stream order.
type Conn struct {
	rwc  io.ReadWriteCloser
	opts options

	// smu and rmu serialize senders and receivers, so that the deadlines
	// of SendContext and RecvContext apply to their own call only.
	smu sync.Mutex
	w   *Writer
	rmu sync.Mutex
	r   *Reader

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewConn returns a Conn speaking the protocol over rwc. The Conn owns rwc:
// Close closes it.
func NewConn(rwc io.ReadWriteCloser, opts ...Option) *Conn {
	o := newOptions(opts)
	return &Conn{
		rwc:  rwc,
		opts: o,
		w:    NewWriter(rwc, func(p *options) { *p = o }),
		r:    NewReader(rwc, func(p *options) { *p = o }),
	}
}

// Send writes m as one frame.
func (c *Conn) Send(m Message) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.send(m)
}

func (c *Conn) send(m Message) error {
	if c.closed.Load() {
		return fmt.Errorf("send: %w", ErrClosed)
	}
	err := c.w.WriteMessage(m)
	if err != nil && c.closed.Load() {
		return fmt.Errorf("send: %w: %w", ErrClosed, err)
	}
	return err
}

// Recv reads the next message. It returns io.EOF when the peer closed the
// stream between frames; see Reader.ReadMessage for the other errors.
func (c *Conn) Recv() (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.recv()
}

func (c *Conn) recv() (Message, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("receive: %w", ErrClosed)
	}
	m, err := c.r.ReadMessage()
	if err != nil && c.closed.Load() {
		return nil, fmt.Errorf("receive: %w: %w", ErrClosed, err)
	}
	return m, err
}

// RecvContext is Recv bounded by ctx. When the stream has read deadlines,
// ctx's deadline and cancellation interrupt the read through them (and
// RecvContext clears the read deadline before it returns); otherwise
// cancellation closes the Conn, the only way to interrupt the read. An
// interrupted read that had consumed part of a frame leaves the Conn
// unusable (every later Recv fails).
func (c *Conn) RecvContext(ctx context.Context) (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var m Message
	err := c.withContext(ctx, c.SetReadDeadline, func() (err error) {
		m, err = c.recv()
		return err
	})
	return m, err
}

// SendContext is Send bounded by ctx, as RecvContext is for Recv, using
// write deadlines. A write interrupted by ctx leaves the Conn unable to
// send.
func (c *Conn) SendContext(ctx context.Context, m Message) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.withContext(ctx, c.SetWriteDeadline, func() error { return c.send(m) })
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// withContext runs op, interrupting it when ctx ends: through setDeadline
// when the stream supports it, else by closing the Conn.
func (c *Conn) withContext(ctx context.Context, setDeadline func(time.Time) error, op func() error) error {
	if ctx.Done() == nil {
		return op()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	deadlines := setDeadline(time.Time{}) == nil
	deadline, hasDeadline := ctx.Deadline()
	if deadlines && hasDeadline {
		setDeadline(deadline)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		if deadlines {
			setDeadline(aLongTimeAgo)
		} else {
			c.Close()
		}
	})
	err := op()
	if !stop() {
		<-fired // the interrupt ran; wait so that it cannot outlive us
	}
	if deadlines {
		setDeadline(time.Time{})
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		if hasDeadline && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(deadline) {
			// The stream's deadline fired a moment before ctx's.
			return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
	}
	return err
}

// SetDeadline sets the read and write deadlines of the stream, when it has
// them (net.Conn, a pollable *os.File); otherwise it returns an error
// matching os.ErrNoDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if d, ok := c.rwc.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return fmt.Errorf("set deadline on %T: %w", c.rwc, os.ErrNoDeadline)
}

// SetReadDeadline sets the stream's read deadline, as SetDeadline does.
// A Recv interrupted by it before reading any byte of a frame can be
// retried.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if d, ok := c.rwc.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return fmt.Errorf("set read deadline on %T: %w", c.rwc, os.ErrNoDeadline)
}

// SetWriteDeadline sets the stream's write deadline, as SetDeadline does.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if d, ok := c.rwc.(interface{ SetWriteDeadline(time.Time) error }); ok {
		return d.SetWriteDeadline(t)
	}
	return fmt.Errorf("set write deadline on %T: %w", c.rwc, os.ErrNoDeadline)
}

// Close closes the stream, which interrupts blocked Send and Recv calls
// (they return errors matching ErrClosed). It does not send Bye. Calling it
// again does nothing and returns the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.rwc.Close()
	})
	return c.closeErr
}

// CheckHello checks an agent's Hello against this side: it returns a
// *VersionError when the protocol versions differ.
func CheckHello(h *Hello) error { return checkHello(h, Version) }

func checkHello(h *Hello, version uint16) error {
	if h == nil {
		return errors.New("check hello: no hello")
	}
	if h.ProtocolVersion != version {
		return &VersionError{Host: version, Agent: h.ProtocolVersion}
	}
	return nil
}

// AcceptHello is the host's side of the handshake: it receives the agent's
// first message (bounded by ctx, as in RecvContext) and checks that it is a
// Hello of this protocol version. On a version mismatch, detected in the
// frame header or in the Hello, it tells the agent with a fatal Error and
// returns a *VersionError naming both versions (with the Hello, when there
// is one).
func (c *Conn) AcceptHello(ctx context.Context) (*Hello, error) {
	m, err := c.RecvContext(ctx)
	if err != nil {
		var fe *FrameError
		if errors.As(err, &fe) && errors.Is(fe.Err, ErrVersion) {
			verr := &VersionError{Host: c.opts.version, Agent: fe.Header.Version}
			c.refuse(verr)
			return nil, fmt.Errorf("handshake: %w", verr)
		}
		return nil, fmt.Errorf("handshake: receive hello: %w", err)
	}
	switch m := m.(type) {
	case *Hello:
		if err := checkHello(m, c.opts.version); err != nil {
			c.refuse(err)
			return m, fmt.Errorf("handshake: %w", err)
		}
		return m, nil
	case *Error:
		return nil, fmt.Errorf("handshake: agent reports error in %s: %s", m.Op, m.Message)
	default:
		return nil, fmt.Errorf("handshake: got %s, want hello", m.MessageType())
	}
}

// refuse tells the peer why the handshake failed, best effort: the peer
// may not understand this version's frames.
func (c *Conn) refuse(err error) {
	c.Send(&Error{Op: "handshake", Message: err.Error(), Fatal: true})
}
