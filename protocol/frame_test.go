package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/spec"
)

// encodeFrame returns m as a frame.
func encodeFrame(t testing.TB, m Message, opts ...Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := NewWriter(&buf, opts...).WriteMessage(m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawFrame builds a frame by hand, with a correct checksum.
func rawFrame(version uint16, typ Type, body []byte) []byte {
	h := Header{Version: version, Type: typ, Length: uint32(len(body)), Checksum: crc32.Checksum(body, castagnoli)}
	copy(h.Magic[:], Magic)
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	h.put(b)
	return append(b, body...)
}

// patch returns a copy of b with fn applied.
func patch(b []byte, fn func(b []byte) []byte) []byte {
	return fn(bytes.Clone(b))
}

// corruptFrames are the corruption cases, shared with the fuzz corpus.
func corruptFrames(t testing.TB) []struct {
	name string
	in   []byte
	want error
} {
	hello := encodeFrame(t, sampleMessages()[0])
	return []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated header", hello[:7], ErrTruncated},
		{"header only", hello[:HeaderSize], ErrTruncated},
		{"truncated body", hello[:len(hello)-3], ErrTruncated},
		{"bad crc field", patch(hello, func(b []byte) []byte { b[12] ^= 0x80; return b }), ErrChecksum},
		{"flipped body bit", patch(hello, func(b []byte) []byte { b[HeaderSize+5] ^= 0x01; return b }), ErrChecksum},
		{"oversize length", patch(hello, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0xffffffff); return b }), ErrFrameTooLarge},
		{"unknown type", patch(hello, func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], 99); return b }), ErrUnknownType},
		{"type zero", patch(hello, func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], 0); return b }), ErrUnknownType},
		{"wrong version", patch(hello, func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], Version+1); return b }), ErrVersion},
		{"bad magic", patch(hello, func(b []byte) []byte { copy(b, "HTTP"); return b }), ErrBadMagic},
		{"zero bytes", make([]byte, 64), ErrBadMagic},
		{"invalid msgpack code", rawFrame(Version, TypeHello, []byte{0xc1}), ErrDecode},
		{"empty body", rawFrame(Version, TypeBye, nil), ErrDecode},
		{"string for a struct", rawFrame(Version, TypeHello, []byte{0xa2, 'h', 'i'}), ErrDecode},
		{"trailing value", rawFrame(Version, TypeBye, []byte{0x80, 0x01}), ErrDecode},
		{"huge array claim", rawFrame(Version, TypeReports, []byte{0x81, 0xa7, 'w', 'o', 'r', 'k', 'e', 'r', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}), ErrDecode},
		{"huge bin claim", rawFrame(Version, TypeBye, []byte{0x81, 0xa6, 'r', 'e', 'a', 's', 'o', 'n', 0xc6, 0x7f, 0xff, 0xff, 0xff, 0}), ErrDecode},
		{"huge map claim", rawFrame(Version, TypeJob, []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0}), ErrDecode},
		{"deep nesting", rawFrame(Version, TypeBye, bytes.Repeat([]byte{0x91}, 100000)), ErrDecode},
		{"bad samples form", rawFrame(Version, TypeReports, []byte{0x81, 0xa7, 'w', 'o', 'r', 'k', 'e', 'r', 's', 0x91, 0x81, 0xa6, 'r', 'e', 'p', 'o', 'r', 't',
			0x81, 0xb3, 'r', 'e', 's', 'u', 'm', 'e', '_', 'l', 'a', 't', 'e', 'n', 'c', 'i', 'e', 's', '_', 'n', 's', 0xc4, 3, 1, 2, 3}), ErrDecode},
		{"wrong field type", rawFrame(Version, TypeProgress, []byte{0x81, 0xa6, 'j', 'o', 'b', '_', 'i', 'd', 0xa1, 'x'}), ErrDecode},
	}
}

func TestReadCorruptFrames(t *testing.T) {
	for _, tt := range corruptFrames(t) {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in))
			m, err := r.ReadMessage()
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadMessage = %v, %v; want an error matching %v", m, err, tt.want)
			}
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is a %T, want *FrameError", err, err)
			}
			if errors.Is(err, errDecoderPanic) {
				t.Fatalf("decoder panicked: %v", err)
			}
			if tt.want == ErrTruncated && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("truncation error %v does not match io.ErrUnexpectedEOF", err)
			}
			if !strings.HasPrefix(err.Error(), fe.Op+": ") {
				t.Errorf("error %q does not start with its op %q", err, fe.Op)
			}
			t.Log(err)
		})
	}
}

// TestFrameErrorSaysWhatWasReceived checks the messages of the errors a
// user is most likely to meet.
func TestFrameErrorSaysWhatWasReceived(t *testing.T) {
	hello := encodeFrame(t, &Hello{ProtocolVersion: Version})
	tests := []struct {
		name string
		in   []byte
		opts []Option
		want []string
	}{
		{"magic", patch(hello, func(b []byte) []byte { copy(b, "HTTP"); return b }), nil, []string{`"HTTP"`, "48 54 54 50", `"SCXV"`}},
		{"version", encodeFrame(t, &Bye{}, withVersion(7)), nil, []string{"version mismatch", "peer speaks version 7", fmt.Sprintf("this side speaks %d", Version)}},
		{"too large", hello, []Option{WithMaxFrameSize(4)}, []string{"hello body of", "exceeds the limit of 4"}},
		{"type", rawFrame(Version, 300, []byte{1, 2, 3}), nil, []string{"type 300", "3 bytes"}},
		{"truncated", hello[:HeaderSize+2], nil, []string{fmt.Sprintf("got 2 of %d bytes of a hello body", len(hello)-HeaderSize)}},
		{"checksum", patch(hello, func(b []byte) []byte { b[15]++; return b }), nil, []string{"checksum mismatch", "header says"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.in), tt.opts...).ReadMessage()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestReadCleanEOF(t *testing.T) {
	r := NewReader(bytes.NewReader(encodeFrame(t, &Bye{})))
	if _, err := r.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// TestOversizeDoesNotAllocate checks that the length is checked before the
// body buffer is allocated.
func TestOversizeDoesNotAllocate(t *testing.T) {
	in := rawFrame(Version, TypeBye, []byte{0x80})
	binary.BigEndian.PutUint32(in[8:], 1<<30)
	r := NewReader(bytes.NewReader(in), WithMaxFrameSize(1<<20))
	if _, err := r.ReadMessage(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if cap(r.body) != 0 {
		t.Errorf("reader allocated a %d-byte body for a rejected frame", cap(r.body))
	}
}

// TestRecoverableErrors checks which errors leave the stream in step: after
// them the next frame is read; after the others the error sticks.
func TestRecoverableErrors(t *testing.T) {
	bye := encodeFrame(t, &Bye{Reason: "next"})
	for _, tt := range corruptFrames(t) {
		if tt.want == ErrTruncated {
			continue // followed by more bytes, it would not be truncated
		}
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(io.MultiReader(bytes.NewReader(tt.in), bytes.NewReader(bye)))
			_, err := r.ReadMessage()
			if !errors.Is(err, tt.want) {
				t.Fatalf("first read: %v, want %v", err, tt.want)
			}
			m, err2 := r.ReadMessage()
			inStep := tt.want == ErrChecksum || tt.want == ErrDecode || tt.want == ErrUnknownType
			switch {
			case inStep && (err2 != nil || m.(*Bye).Reason != "next"):
				t.Errorf("after %v: got %v, %v; want the next frame", err, m, err2)
			case !inStep && err2 != err:
				t.Errorf("after %v: got %v, %v; want the same error again", err, m, err2)
			}
		})
	}
}

func TestWriterRefusesOversize(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, WithMaxFrameSize(8))
	err := w.WriteMessage(&Error{Op: "x", Message: "a message longer than eight bytes"})
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes of a refused frame", buf.Len())
	}
	if err := w.WriteMessage(&Bye{}); err != nil {
		t.Errorf("a refused frame broke the writer: %v", err)
	}
	if err := w.WriteMessage(nil); err == nil {
		t.Error("nil message accepted")
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("disk on fire")
}

func TestWriterErrorIsSticky(t *testing.T) {
	fw := &failWriter{}
	w := NewWriter(fw)
	err1 := w.WriteMessage(&Bye{})
	err2 := w.WriteMessage(&Bye{})
	if err1 == nil || err2 != err1 {
		t.Fatalf("got %v then %v, want the same error twice", err1, err2)
	}
	if fw.n != 1 {
		t.Errorf("writer tried %d writes after a failure, want 1", fw.n)
	}
}

// TestFrameLayout pins the header layout documented in doc.go.
func TestFrameLayout(t *testing.T) {
	f := encodeFrame(t, &Bye{Reason: "x"})
	body := f[HeaderSize:]
	want := []byte{'S', 'C', 'X', 'V', 0, byte(Version), 0, byte(TypeBye), 0, 0, 0, byte(len(body))}
	if !bytes.Equal(f[:12], want) {
		t.Errorf("header = % x, want % x", f[:12], want)
	}
	if got, want := binary.BigEndian.Uint32(f[12:16]), crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Errorf("checksum %#x, want CRC-32C %#x", got, want)
	}
	// {"reason": "x"}
	if wantBody := []byte{0x81, 0xa6, 'r', 'e', 'a', 's', 'o', 'n', 0xa1, 'x'}; !bytes.Equal(body, wantBody) {
		t.Errorf("body = % x, want % x", body, wantBody)
	}
}

func TestCheckStructure(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"fixint", []byte{0x05}, true},
		{"nil", []byte{0xc0}, true},
		{"empty", nil, false},
		{"never used", []byte{0xc1}, false},
		{"fixmap", []byte{0x81, 0xa1, 'a', 0x01}, true},
		{"fixmap short", []byte{0x82, 0xa1, 'a', 0x01}, false},
		{"array16", []byte{0xdc, 0, 2, 1, 2}, true},
		{"array16 short", []byte{0xdc, 0, 3, 1, 2}, false},
		{"array32 cut length", []byte{0xdd, 0, 0}, false},
		{"bin8", []byte{0xc4, 2, 9, 9}, true},
		{"bin8 short", []byte{0xc4, 3, 9, 9}, false},
		{"str32 huge", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, false},
		{"float64", []byte{0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"uint64 short", []byte{0xcf, 0, 0}, false},
		{"fixext16", append([]byte{0xd8, 1}, make([]byte, 16)...), true},
		{"time ext8", append([]byte{0xc7, 12, 0xff}, make([]byte, 12)...), true},
		{"ext32 huge", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 1}, false},
		{"nested ok", append(bytes.Repeat([]byte{0x91}, maxDepth), 0x01), true},
		{"nested too deep", append(bytes.Repeat([]byte{0x91}, maxDepth+1), 0x01), false},
		{"deep with empty siblings", append(bytes.Repeat([]byte{0x92, 0x90}, 100), 0x90), false},
		{"trailing", []byte{0x01, 0x02}, false},
		{"negative fixint", []byte{0xff}, true},
	}
	for _, tt := range tests {
		err := checkStructure(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%s: checkStructure(% x) = %v, want ok=%v", tt.name, tt.in, err, tt.ok)
		}
	}
	// Every sample message passes.
	for _, m := range sampleMessages() {
		if err := checkStructure(encodeFrame(t, m)[HeaderSize:]); err != nil {
			t.Errorf("%s: %v", m.MessageType(), err)
		}
	}
}

// TestLargeFrame round-trips a frame larger than maxRetained, checks its
// incrementally computed checksum and that neither side keeps its buffer.
func TestLargeFrame(t *testing.T) {
	msg := &Reports{JobID: 3}
	for w := range 30 {
		s := make(spec.Samples, 100_000)
		for i := range s {
			s[i] = uint64(w*1_000_000 + i)
		}
		msg.Workers = append(msg.Workers, CgroupReport{Cgroup: "x", Report: spec.WorkerReport{Index: w, ResumeLatenciesNs: s}})
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	frame := buf.Bytes()
	if len(frame) <= maxRetained {
		t.Fatalf("frame of %d bytes is not larger than maxRetained", len(frame))
	}
	if got, want := binary.BigEndian.Uint32(frame[12:]), crc32.Checksum(frame[HeaderSize:], castagnoli); got != want {
		t.Fatalf("header checksum %#x, want %#x", got, want)
	}
	r := NewReader(&buf)
	got, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, msg) {
		t.Error("large Reports differs after the round trip")
	}
	if cap(w.frame.b) != 0 || cap(r.body) != 0 {
		t.Errorf("buffers kept after a large frame: writer %d, reader %d bytes", cap(w.frame.b), cap(r.body))
	}
}
