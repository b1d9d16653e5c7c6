package spec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// Binary forms of Samples. The first byte of the encoding names the form.
//
// samplesRaw is what MarshalBinary and EncodeMsgpack write: the samples as
// little-endian uint64s, 8 bytes each, which on little-endian machines is
// one memmove each way. samplesVarint (a uvarint count, then one uvarint
// per sample) is 3.5x smaller for typical wake latencies (1 us - 10 ms take
// 2-4 bytes; 2.3 per sample in the benchmark) and the decoders accept it,
// but through msgpack it round-trips 2-3.5x slower than the raw form
// (BenchmarkSamplesForms on a loaded 2-cpu machine, in MB/s of samples: raw
// 370-830, varint 200-260, plain msgpack integers 45). Reports must encode
// and decode at >= 300 MB/s of sample data on small guests, 3x the
// plain-msgpack baseline, and the bytes varint saves matter little on a
// virtio-serial or vsock channel, so the raw form won. Reservoir samples
// are unordered, so delta coding would not shrink them further.
const (
	samplesRaw    byte = 1
	samplesVarint byte = 2
)

// errSamples is wrapped by every UnmarshalBinary failure.
var errSamples = errors.New("decode samples")

// MarshalBinary encodes s in the raw form: one format byte, then every
// sample as a little-endian uint64. msgpack stores the same bytes as one
// bin value (through EncodeMsgpack, which skips the intermediate slice), so
// a report's samples cost a copy instead of one msgpack integer each.
func (s Samples) MarshalBinary() ([]byte, error) {
	b := make([]byte, 1+8*len(s))
	b[0] = samplesRaw
	putRaw(b[1:], s)
	return b, nil
}

// putRaw stores s into b as little-endian uint64s; len(b) is 8*len(s).
func putRaw(b []byte, s []uint64) {
	if littleEndian && len(s) > 0 {
		// One memmove: about 7x faster here than the PutUint64 loop.
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 8*len(s)))
		return
	}
	for i, v := range s {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
}

// getRaw loads little-endian uint64s from b into s; len(b) is 8*len(s).
func getRaw(s []uint64, b []byte) {
	if littleEndian && len(s) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 8*len(s)), b)
		return
	}
	for i := range s {
		s[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
}

// littleEndian reports whether uint64s are stored little-endian in memory,
// in which case the raw form is a plain copy.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// appendVarint appends the varint form of s to b.
func appendVarint(b []byte, s []uint64) []byte {
	b = append(b, samplesVarint)
	b = binary.AppendUvarint(b, uint64(len(s)))
	for _, v := range s {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// UnmarshalBinary decodes either binary form into s, replacing its
// contents. An empty input decodes to nil. The number of samples is bounded
// by the input's length (8 bytes per sample for the raw form, at least one
// for the varint form), so a corrupt length cannot make it allocate more
// than the input justifies.
func (s *Samples) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		*s = nil
		return nil
	}
	switch body := data[1:]; data[0] {
	case samplesRaw:
		if len(body)%8 != 0 {
			return fmt.Errorf("%w: raw form has %d bytes after the format byte, not a multiple of 8", errSamples, len(body))
		}
		n := len(body) / 8
		out := make(Samples, n)
		getRaw(out, body)
		*s = out
		return nil
	case samplesVarint:
		n, k := binary.Uvarint(body)
		if k <= 0 {
			return fmt.Errorf("%w: varint form: bad sample count", errSamples)
		}
		body = body[k:]
		if n > uint64(len(body)) {
			return fmt.Errorf("%w: varint form claims %d samples in %d bytes", errSamples, n, len(body))
		}
		out := make(Samples, n)
		for i := range out {
			v, k := binary.Uvarint(body)
			if k <= 0 {
				return fmt.Errorf("%w: varint form: bad sample %d", errSamples, i)
			}
			out[i] = v
			body = body[k:]
		}
		if len(body) != 0 {
			return fmt.Errorf("%w: varint form: %d trailing bytes", errSamples, len(body))
		}
		*s = out
		return nil
	default:
		return fmt.Errorf("%w: unknown format byte %#x", errSamples, data[0])
	}
}

// EncodeMsgpack writes s as a msgpack bin value holding the MarshalBinary
// form, without building that form first: the samples are copied straight
// into the encoder's writer. msgpack prefers it to MarshalBinary.
func (s Samples) EncodeMsgpack(e *msgpack.Encoder) error {
	if s == nil {
		return e.EncodeNil()
	}
	if !littleEndian {
		b, _ := s.MarshalBinary()
		return e.EncodeBytes(b)
	}
	if err := e.EncodeBytesLen(1 + 8*len(s)); err != nil {
		return err
	}
	w := e.Writer()
	if _, err := w.Write([]byte{samplesRaw}); err != nil {
		return err
	}
	if len(s) == 0 {
		return nil
	}
	_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 8*len(s)))
	return err
}

// decodeChunk bounds what DecodeMsgpack allocates ahead of the data it has
// read, so that a corrupt length in a stream costs at most this much.
const decodeChunk = 1 << 17 // samples (1 MiB)

// DecodeMsgpack reads a value written by EncodeMsgpack (or a bin value
// holding any binary form) into s. The raw form is read straight into the
// samples' memory, without an intermediate byte slice.
func (s *Samples) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeBytesLen()
	if err != nil {
		return err
	}
	if n <= 0 { // nil (-1) or empty
		*s = nil
		return nil
	}
	var form [1]byte
	if err := d.ReadFull(form[:]); err != nil {
		return err
	}
	if form[0] != samplesRaw || !littleEndian {
		// Rare forms: read the bytes, in bounded steps, and decode them.
		b := []byte{form[0]}
		for len(b) < n {
			k := min(n-len(b), 8*decodeChunk)
			b = append(b, make([]byte, k)...)
			if err := d.ReadFull(b[len(b)-k:]); err != nil {
				return err
			}
		}
		return s.UnmarshalBinary(b)
	}
	if (n-1)%8 != 0 {
		return fmt.Errorf("%w: raw form has %d bytes after the format byte, not a multiple of 8", errSamples, n-1)
	}
	count := (n - 1) / 8
	out := make(Samples, 0, min(count, decodeChunk))
	for len(out) < count {
		k := min(count-len(out), decodeChunk)
		out = append(out, make(Samples, k)...)
		tail := out[len(out)-k:]
		if err := d.ReadFull(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(tail))), 8*k)); err != nil {
			return err
		}
	}
	*s = out
	return nil
}
