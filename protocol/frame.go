package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Frame header layout; see the package documentation.
const (
	// Magic starts every frame.
	Magic = "SCXV"
	// HeaderSize is the size of a frame header in bytes.
	HeaderSize = 16
	// DefaultMaxFrameSize is the default bound on a frame body. It fits a
	// Reports message of 64 workers with the maximum 100,000 latency
	// samples each (51 MB); larger jobs split their reports.
	DefaultMaxFrameSize = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded frame header.
type Header struct {
	Magic    [4]byte
	Version  uint16
	Type     Type
	Length   uint32 // of the body
	Checksum uint32 // CRC-32C of the body
}

// parseHeader decodes b, which holds HeaderSize bytes.
func parseHeader(b []byte) Header {
	var h Header
	copy(h.Magic[:], b[0:4])
	h.Version = binary.BigEndian.Uint16(b[4:6])
	h.Type = Type(binary.BigEndian.Uint16(b[6:8]))
	h.Length = binary.BigEndian.Uint32(b[8:12])
	h.Checksum = binary.BigEndian.Uint32(b[12:16])
	return h
}

// put encodes h into b, which holds HeaderSize bytes.
func (h *Header) put(b []byte) {
	copy(b[0:4], h.Magic[:])
	binary.BigEndian.PutUint16(b[4:6], h.Version)
	binary.BigEndian.PutUint16(b[6:8], uint16(h.Type))
	binary.BigEndian.PutUint32(b[8:12], h.Length)
	binary.BigEndian.PutUint32(b[12:16], h.Checksum)
}

// Option configures a Reader, a Writer or a Conn.
type Option func(*options)

type options struct {
	maxFrameSize uint32
	version      uint16 // written and expected; only tests change it
}

func newOptions(opts []Option) options {
	o := options{maxFrameSize: DefaultMaxFrameSize, version: Version}
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// WithMaxFrameSize bounds frame bodies to n bytes (default
// DefaultMaxFrameSize). A Reader rejects a longer frame with
// ErrFrameTooLarge before it allocates; a Writer refuses to send one, since
// the peer would reject it. Zero keeps the default.
func WithMaxFrameSize(n uint32) Option {
	return func(o *options) {
		if n > 0 {
			o.maxFrameSize = n
		}
	}
}

// Writer writes framed messages to a stream. Its methods are safe for
// concurrent use; each frame is written whole with a single Write call.
type Writer struct {
	mu   sync.Mutex
	w    io.Writer
	opts options
	// frame holds the header followed by the body being encoded. It is
	// reused up to maxRetained bytes.
	frame frameBuffer
	enc   *msgpack.Encoder
	err   error // sticky: a failed write leaves the stream mid-frame
}

// NewWriter returns a Writer that writes frames to w.
//
// No bufio.Writer is needed in front of w: the msgpack encoder writes byte
// by byte, but into the Writer's own buffer, and the finished frame reaches
// w in one Write, which is also one syscall on a socket or port.
func NewWriter(w io.Writer, opts ...Option) *Writer {
	fw := &Writer{w: w, opts: newOptions(opts)}
	fw.enc = msgpack.NewEncoder(&fw.frame)
	fw.enc.UseCompactInts(true)
	fw.enc.UseCompactFloats(true)
	fw.enc.SetSortMapKeys(true) // identical messages give identical frames
	return fw
}

var zeroHeader [HeaderSize]byte

// crcChunk is how much data frameBuffer lets pile up before it folds it
// into the checksum: small enough to still be in the cpu cache
// (checksumming a 5 MB body after the fact costs noticeably more).
const crcChunk = 64 << 10

// frameBuffer is the msgpack encoder's output: a frame header followed by
// the body, whose CRC-32C it computes as the body grows.
type frameBuffer struct {
	b    []byte
	crc  uint32
	done int // b[HeaderSize:done] is folded into crc
}

func (f *frameBuffer) reset() {
	f.b = append(f.b[:0], zeroHeader[:]...)
	f.crc = 0
	f.done = HeaderSize
}

func (f *frameBuffer) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	if len(f.b)-f.done >= crcChunk {
		f.crc = crc32.Update(f.crc, castagnoli, f.b[f.done:])
		f.done = len(f.b)
	}
	return len(p), nil
}

func (f *frameBuffer) WriteByte(c byte) error {
	f.b = append(f.b, c)
	return nil
}

// maxRetained is the largest buffer a Writer or Reader keeps for the next
// frame; larger ones (a big Reports message) are dropped after use, so that
// a guest does not hold tens of MB for the rest of its life.
const maxRetained = 16 << 20

// release drops the buffer if it is larger than maxRetained.
func (f *frameBuffer) release() {
	if cap(f.b) > maxRetained {
		f.b = nil
	}
}

// finish returns the frame and the body's checksum.
func (f *frameBuffer) finish() ([]byte, uint32) {
	f.crc = crc32.Update(f.crc, castagnoli, f.b[f.done:])
	f.done = len(f.b)
	return f.b, f.crc
}

// WriteMessage encodes m and writes it as one frame. Encoding errors and
// oversize messages leave the stream untouched; a write error is sticky,
// because the stream may then hold part of a frame.
func (w *Writer) WriteMessage(m Message) error {
	if m == nil {
		return errors.New("write frame: nil message")
	}
	t := m.MessageType()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.frame.reset()
	defer w.frame.release()
	if err := w.enc.Encode(m); err != nil {
		return fmt.Errorf("encode %s: %w", t, err)
	}
	frame, sum := w.frame.finish()
	body := frame[HeaderSize:]
	if uint64(len(body)) > uint64(w.opts.maxFrameSize) {
		return &FrameError{
			Op:     "write frame",
			Header: Header{Type: t, Length: uint32(min(uint64(len(body)), 1<<32-1))},
			Want:   w.opts.maxFrameSize,
			Err:    ErrFrameTooLarge,
		}
	}
	h := Header{
		Version:  w.opts.version,
		Type:     t,
		Length:   uint32(len(body)),
		Checksum: sum,
	}
	copy(h.Magic[:], Magic)
	h.put(frame)
	if _, err := w.w.Write(frame); err != nil {
		w.err = fmt.Errorf("write %s frame: %w", t, err)
		return w.err
	}
	return nil
}

// Reader reads framed messages from a stream. It is not safe for
// concurrent use (Conn serializes its callers).
type Reader struct {
	br   *bufio.Reader
	opts options
	// body is reused up to maxRetained bytes.
	body []byte
	rd   bytes.Reader
	dec  *msgpack.Decoder
	err  error // sticky: the stream is out of step
}

// readBufferSize is the Reader's buffer: several Progress frames, so that
// a stream of small frames costs few read calls. Larger bodies bypass it:
// they are read in chunks of readChunk bytes, larger than the buffer (so
// that bufio reads them straight into the body) and small enough to be
// checksummed while still in the cpu cache.
const (
	readBufferSize = 64 << 10
	readChunk      = 256 << 10
)

// NewReader returns a Reader that reads frames from r.
func NewReader(r io.Reader, opts ...Option) *Reader {
	fr := &Reader{br: bufio.NewReaderSize(r, readBufferSize), opts: newOptions(opts)}
	fr.dec = msgpack.NewDecoder(&fr.rd)
	return fr
}

// ReadMessage reads the next frame and decodes its message.
//
// At a clean end of stream (no byte of a new frame) it returns io.EOF. A
// read error while waiting for a frame, such as a deadline, leaves the
// Reader usable: nothing was consumed. Bad frames give a *FrameError (see
// the package documentation for which ones leave the stream in step). Any
// other failure is sticky and every later call returns it again.
func (r *Reader) ReadMessage() (Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	m, err := r.readMessage()
	if err != nil && r.err == nil && !recoverable(err) {
		r.err = err
	}
	return m, err
}

// recoverable reports whether the stream is still in step after err.
func recoverable(err error) bool {
	var fe *FrameError
	if !errors.As(err, &fe) {
		// Peek consumed nothing; a read error while waiting is retryable.
		return !errors.Is(err, errMidFrame)
	}
	return errors.Is(err, ErrChecksum) || errors.Is(err, ErrDecode) || errors.Is(err, ErrUnknownType)
}

// errMidFrame marks read errors after part of a frame was consumed.
var errMidFrame = errors.New("stream out of step")

func (r *Reader) readMessage() (Message, error) {
	hb, err := r.br.Peek(HeaderSize)
	if err != nil {
		switch {
		case err == io.EOF && len(hb) == 0:
			return nil, io.EOF
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			// Consume the fragment: the stream is over anyway.
			var part [HeaderSize]byte
			copy(part[:], hb)
			r.br.Discard(len(hb))
			return nil, &FrameError{Op: opReadHeader, Header: parseHeader(part[:]), Got: len(hb), Err: ErrTruncated}
		}
		// Nothing consumed: the caller may retry (after a deadline, say).
		return nil, fmt.Errorf("%s: %w", opReadHeader, err)
	}
	h := parseHeader(hb)
	r.br.Discard(HeaderSize)

	switch {
	case string(h.Magic[:]) != Magic:
		return nil, &FrameError{Op: opReadHeader, Header: h, Err: ErrBadMagic}
	case h.Version != r.opts.version:
		return nil, &FrameError{Op: opReadHeader, Header: h, Want: uint32(r.opts.version), Err: ErrVersion}
	case h.Length > r.opts.maxFrameSize:
		return nil, &FrameError{Op: opReadHeader, Header: h, Want: r.opts.maxFrameSize, Err: ErrFrameTooLarge}
	case !h.Type.Valid():
		// Skip the body without allocating, to stay in step.
		n, err := r.br.Discard(int(h.Length))
		if err != nil {
			return nil, r.bodyError(h, n, err)
		}
		return nil, &FrameError{Op: opReadHeader, Header: h, Err: ErrUnknownType}
	}

	if cap(r.body) < int(h.Length) {
		r.body = make([]byte, h.Length)
	}
	body := r.body[:h.Length]
	if cap(r.body) > maxRetained {
		r.body = nil // the decoded message does not alias body
	}
	var sum uint32
	for off := 0; off < len(body); {
		// Checksum each chunk while it is still in the cpu cache.
		chunk := body[off:min(off+readChunk, len(body))]
		n, err := io.ReadFull(r.br, chunk)
		if err != nil {
			return nil, r.bodyError(h, off+n, err)
		}
		sum = crc32.Update(sum, castagnoli, chunk)
		off += n
	}
	if sum != h.Checksum {
		return nil, &FrameError{Op: opReadBody, Header: h, Want: sum, Err: ErrChecksum}
	}
	if err := checkStructure(body); err != nil {
		return nil, &FrameError{Op: opDecode, Header: h, Err: fmt.Errorf("%w: %w", ErrDecode, err)}
	}
	m, _ := NewMessage(h.Type)
	r.rd.Reset(body)
	r.dec.ResetReader(&r.rd)
	if err := decode(r.dec, m); err != nil {
		return nil, &FrameError{Op: opDecode, Header: h, Err: fmt.Errorf("%w: %w", ErrDecode, err)}
	}
	return m, nil
}

// bodyError reports a failure after n bytes of h's body were read.
func (r *Reader) bodyError(h Header, n int, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FrameError{Op: opReadBody, Header: h, Got: n, Err: ErrTruncated}
	}
	return fmt.Errorf("%s: %s frame, %d of %d bytes: %w: %w", opReadBody, h.Type, n, h.Length, errMidFrame, err)
}

// decode decodes m from d. checkStructure has vetted the input, so the
// decoder should not panic; should a decoder bug make it panic anyway, the
// panic becomes an error instead of taking the process down (the fuzz
// target fails on it).
func decode(d *msgpack.Decoder, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errDecoderPanic, p)
		}
	}()
	return d.Decode(m)
}

var errDecoderPanic = errors.New("msgpack decoder panicked")

// withVersion makes a Reader, Writer or Conn speak protocol version v, to
// test what a peer of another version sees.
func withVersion(v uint16) Option {
	return func(o *options) { o.version = v }
}
