package protocol

import (
	"errors"
	"fmt"
	"io"
)

// Frame errors. Every error a Reader returns for a bad frame is a
// *FrameError matching one of these with errors.Is.
var (
	// ErrBadMagic: the header does not start with "SCXV" (not a frame, or
	// the stream lost step).
	ErrBadMagic = errors.New("bad frame magic")
	// ErrVersion: the frame header carries another protocol version.
	ErrVersion = errors.New("protocol version mismatch")
	// ErrUnknownType: the header names a message type this version does
	// not know. The body is skipped; the stream stays in step.
	ErrUnknownType = errors.New("unknown message type")
	// ErrFrameTooLarge: the body length exceeds the maximum frame size.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrChecksum: the body does not match the header's CRC-32C. The
	// stream stays in step.
	ErrChecksum = errors.New("frame checksum mismatch")
	// ErrTruncated: the stream ended inside a frame. It wraps
	// io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("truncated frame: %w", io.ErrUnexpectedEOF)
	// ErrDecode: the body is not a valid message of the header's type. The
	// stream stays in step.
	ErrDecode = errors.New("malformed message body")
	// ErrClosed: the Conn was closed.
	ErrClosed = errors.New("protocol connection closed")
)

// FrameError describes a frame a Reader rejected and what it received.
type FrameError struct {
	// Op is the step that failed: "read frame header", "read frame body",
	// "decode frame".
	Op string
	// Header is the header as received. For a truncated header only Got
	// bytes of it were read.
	Header Header
	// Got counts the bytes received of the part that was truncated
	// (ErrTruncated).
	Got int
	// Want is this side's protocol version (ErrVersion), the maximum frame
	// size (ErrFrameTooLarge) or the CRC-32C computed over the received
	// body (ErrChecksum).
	Want uint32
	// Err matches one of the Err* sentinels; for ErrDecode it also wraps
	// the decoder's error.
	Err error
}

// Error says what was wrong and what was received.
func (e *FrameError) Error() string {
	h := e.Header
	var detail string
	switch {
	case errors.Is(e.Err, ErrBadMagic):
		detail = fmt.Sprintf("got %q (% x), want %q", h.Magic[:], h.Magic[:], Magic)
	case errors.Is(e.Err, ErrVersion):
		detail = fmt.Sprintf("peer speaks version %d, this side speaks %d", h.Version, e.Want)
	case errors.Is(e.Err, ErrUnknownType):
		detail = fmt.Sprintf("type %d with a body of %d bytes (skipped)", uint16(h.Type), h.Length)
	case errors.Is(e.Err, ErrFrameTooLarge):
		detail = fmt.Sprintf("%s body of %d bytes exceeds the limit of %d", h.Type, h.Length, e.Want)
	case errors.Is(e.Err, ErrChecksum):
		detail = fmt.Sprintf("%s body of %d bytes has crc %#08x, header says %#08x", h.Type, h.Length, e.Want, h.Checksum)
	case errors.Is(e.Err, ErrTruncated):
		if e.Op == opReadBody {
			return fmt.Sprintf("%s: %v: got %d of %d bytes of a %s body", e.Op, e.Err, e.Got, h.Length, h.Type)
		}
		return fmt.Sprintf("%s: %v: got %d of %d header bytes", e.Op, e.Err, e.Got, HeaderSize)
	case errors.Is(e.Err, ErrDecode):
		return fmt.Sprintf("%s: %s (%d bytes): %v", e.Op, h.Type, h.Length, e.Err)
	}
	if detail == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error() + ": " + detail
}

// Unwrap returns Err.
func (e *FrameError) Unwrap() error { return e.Err }

// Steps named in FrameError.Op.
const (
	opReadHeader = "read frame header"
	opReadBody   = "read frame body"
	opDecode     = "decode frame"
)

// VersionError is a handshake failure: the two sides speak different
// protocol versions. It matches ErrVersion.
type VersionError struct {
	Host, Agent uint16
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("protocol version mismatch: host speaks %d, agent speaks %d (rebuild the initramfs with this scxvm binary)", e.Host, e.Agent)
}

// Is makes errors.Is(err, ErrVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrVersion }
