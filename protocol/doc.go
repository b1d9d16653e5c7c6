// Package protocol is the wire protocol between the scxvm host and the
// agent running as init inside the guest: the message types, their framing
// over a byte stream, and the version handshake. It does not open devices
// or sockets; callers hand it any io.ReadWriteCloser (a virtio-serial port,
// a vsock connection, a unix socket). Its only access to the system is
// BuildID reading the running executable.
//
// # Conversation
//
// The agent sends a Hello as soon as its channel is open. The host checks
// it with [Conn.AcceptHello] (or [CheckHello]) and then sends Jobs, one at a
// time. For each Job the agent streams Progress, SchedEvent and KernelLog
// messages (and RunnableWaits when a task of the guest stays runnable too
// long), then a final RunnableWaits, one or more Reports (see
// SplitReports) and finally the JobResult. The host sends Bye when it has no more jobs; the agent answers
// with Bye and powers off. Either side may send Error. A conversation that
// ends without Bye means the peer died.
//
// # Framing
//
// Each message travels in one frame: a 16-byte header followed by the
// message encoded with msgpack (github.com/vmihailenco/msgpack/v5, compact
// integers, struct fields keyed by their snake_case msgpack tags).
//
//	offset size field
//	0      4    magic "SCXV"
//	4      2    protocol version (big endian), see Version
//	6      2    message type (big endian), see Type
//	8      4    body length in bytes (big endian)
//	12     4    CRC-32C (Castagnoli) of the body (big endian)
//
// A reader checks the magic, the version, the length against its maximum
// frame size and the type before it allocates anything, then the checksum
// and the body's structure before it decodes. Failures are *FrameError
// values that match one of the sentinels (ErrBadMagic, ErrVersion,
// ErrFrameTooLarge, ErrUnknownType, ErrTruncated, ErrChecksum, ErrDecode)
// with errors.Is and say what was received. After ErrUnknownType,
// ErrChecksum or ErrDecode the stream is still in step and the next read
// returns the next frame; after the others it cannot be trusted.
//
// Latency samples (Samples) encode as one msgpack bin value of
// packed little-endian integers, so a Reports message of 64 workers with
// 10,000 samples each is about 5 MB and costs a few copies, not 640,000
// msgpack integers.
//
// # Usage
//
// Host side:
//
//	c := protocol.NewConn(stream)
//	defer c.Close()
//	hello, err := c.AcceptHello(ctx) // fails on a version mismatch
//	if err != nil { ... }
//	err = c.Send(&protocol.Job{ID: 1, Scenario: sc})
//	for {
//		m, err := c.RecvContext(ctx)
//		if err != nil { ... }
//		switch m := m.(type) {
//		case *protocol.Progress: ...
//		case *protocol.Reports: ...
//		case *protocol.JobResult: ... // the job is over
//		}
//	}
//
// Agent side:
//
//	c := protocol.NewConn(port)
//	err := c.Send(&protocol.Hello{ProtocolVersion: protocol.Version, Agent: protocol.CurrentBuild(), ...})
//	m, err := c.Recv() // *protocol.Job or *protocol.Bye
//
// The package reads no environment variables.
package protocol
