package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scxvm/scxvm/internal/fuzzcorpus"
	"github.com/scxvm/scxvm/internal/testfill"
)

// fuzzStats counts how far a fuzz target's inputs get: how many reached
// the decode step (a frame body past the checksum, into checkStructure),
// how many of those the msgpack decoder ran on (the structure was sound),
// and how many decoded into a message. With SCXVM_FUZZ_STATS=DIR, every
// fuzzing process rewrites DIR/NAME.PID ("inputs N\nreached N\nmsgpack
// N\ndecoded N\n") each 256 inputs; the shares of a run are the sums
// over the files:
//
//	SCXVM_FUZZ_STATS=/tmp/fs go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s ./protocol
//	awk '{n[$1]+=$2} END {for (k in n) print k, n[k], n[k]/n["inputs"]}' /tmp/fs/FuzzDecode.*
type fuzzStats struct {
	name                             string
	inputs, reached, msgpack, decode atomic.Int64
}

// stage is how far one input got.
type stage int

const (
	stoppedAtFrame stage = iota // header or checksum
	reachedDecode               // past the checksum, stopped by checkStructure
	reachedMsgpack              // the msgpack decoder ran, and failed
	decoded                     // a message came out
)

// stageOf says how far a read that returned err got.
func stageOf(err error) stage {
	switch {
	case err == nil:
		return decoded
	case !errors.Is(err, ErrDecode):
		return stoppedAtFrame
	case errors.Is(err, errStructure):
		return reachedDecode
	}
	return reachedMsgpack
}

func (s *fuzzStats) add(st stage) {
	n := s.inputs.Add(1)
	if st >= reachedDecode {
		s.reached.Add(1)
	}
	if st >= reachedMsgpack {
		s.msgpack.Add(1)
	}
	if st >= decoded {
		s.decode.Add(1)
	}
	dir := os.Getenv("SCXVM_FUZZ_STATS")
	if dir == "" || n%256 != 0 {
		return
	}
	out := fmt.Sprintf("inputs %d\nreached %d\nmsgpack %d\ndecoded %d\n", n, s.reached.Load(), s.msgpack.Load(), s.decode.Load())
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, s.name+"."+strconv.Itoa(os.Getpid())), []byte(out), 0o644)
}

var (
	readFrameStats = &fuzzStats{name: "FuzzReadFrame"}
	decodeStats    = &fuzzStats{name: "FuzzDecode"}
	valuesStats    = &fuzzStats{name: "FuzzDecodeValues"}
)

const decodeCorpusDir = "testdata/fuzz/FuzzDecode"

// decodeSeed is one input of FuzzDecode: a message type and a body.
type decodeSeed struct {
	typ  uint16
	body []byte
}

// decodeSeeds are FuzzDecode's committed seeds: the body of every sample
// message and of every corrupt frame that passes the checksum.
func decodeSeeds(t testing.TB) map[string]decodeSeed {
	seeds := map[string]decodeSeed{}
	for _, m := range sampleMessages() {
		seeds["valid-"+m.MessageType().String()] = decodeSeed{uint16(m.MessageType()), encodeFrame(t, m)[HeaderSize:]}
	}
	for _, c := range corruptFrames(t) {
		if !errors.Is(c.want, ErrDecode) {
			continue
		}
		h := parseHeader(c.in[:HeaderSize])
		body := c.in[HeaderSize:]
		if len(body) > 4096 {
			body = body[:4096]
		}
		seeds["decode-"+strings.ReplaceAll(c.name, " ", "-")] = decodeSeed{uint16(h.Type), body}
	}
	return seeds
}

// TestFuzzDecodeCorpus keeps the committed FuzzDecode corpus in step with
// decodeSeeds; run with -update-corpus after changing a message.
func TestFuzzDecodeCorpus(t *testing.T) {
	entries := map[string]string{}
	for name, s := range decodeSeeds(t) {
		entries[name] = fuzzcorpus.Entry(s.typ, s.body)
	}
	fuzzcorpus.Check(t, decodeCorpusDir, "./protocol/", "TestFuzzDecodeCorpus", entries, *updateCorpus)
}

// maxFuzzBody bounds the bodies FuzzDecode frames (the Reader's limit).
const maxFuzzBody = 1 << 20

// FuzzDecode reaches the message decoders: it frames body as a message of
// a valid type (typ modulo the number of types) with a correct checksum,
// so that no input stops at the frame checks, and reads it back. Reading
// must never panic and must either fail with a *FrameError wrapping
// ErrDecode or decode a message whose encoding is stable; either way the
// frame is consumed whole and the stream stays in step.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(s.typ, s.body)
	}
	f.Fuzz(func(t *testing.T, typ uint16, body []byte) {
		if len(body) > maxFuzzBody {
			return
		}
		mt := Type(1 + int(typ)%(int(numTypes)-1))
		frame := append(rawFrame(Version, mt, body), rawFrame(Version, TypeBye, []byte{0x80})...)
		r := NewReader(bytes.NewReader(frame), WithMaxFrameSize(maxFuzzBody))
		m, err := r.ReadMessage()
		decodeStats.add(stageOf(err))
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) || !errors.Is(err, ErrDecode) {
				t.Fatalf("%s body: error %v (%T), want a *FrameError wrapping ErrDecode", mt, err, err)
			}
			if errors.Is(err, errDecoderPanic) {
				t.Fatalf("%s body: decoder panicked: %v", mt, err)
			}
		} else {
			if m.MessageType() != mt {
				t.Fatalf("decoded a %s from a %s frame", m.MessageType(), mt)
			}
			enc1 := encodeFrame(t, m)
			m2, err := NewReader(bytes.NewReader(enc1)).ReadMessage()
			if err != nil {
				t.Fatalf("re-encoded %s does not decode: %v", mt, err)
			}
			if enc2 := encodeFrame(t, m2); !bytes.Equal(enc1, enc2) {
				t.Fatalf("%s encoding not stable:\n% x\n% x", mt, enc1, enc2)
			}
		}
		// The next frame is read as if nothing happened.
		if m, err := r.ReadMessage(); err != nil || m.MessageType() != TypeBye {
			t.Fatalf("after a %s body: next frame %v, %v; want the Bye", mt, m, err)
		}
		if _, err := r.ReadMessage(); err != io.EOF {
			t.Fatalf("after the Bye: %v, want io.EOF", err)
		}
	})
}

// maxEdits bounds the byte edits of FuzzDecodeValues.
const maxEdits = 2

// FuzzDecodeValues reaches deeper into the decoders than FuzzDecode, whose
// mutated bytes mostly break the msgpack structure: it fills a message of
// a valid type with random values (testfill, seeded by seed), encodes it,
// applies up to maxEdits edits (each 3 bytes: a big-endian offset into
// the body and the byte to put there), and reads the result as
// FuzzDecode does. With no edit the message must come back deeply equal;
// with edits, reading must not panic, must fail only with ErrDecode, and
// a decoded message must re-encode stably.
func FuzzDecodeValues(f *testing.F) {
	for i := range numTypes - 1 {
		f.Add(uint16(i), uint64(i), []byte{})
		f.Add(uint16(i), uint64(i)+100, []byte{0, 3, 0xc1})                         // an invalid code
		f.Add(uint16(i), uint64(i)+200, []byte{0, 1, 0xa1, 0, 8, 0xcc})             // a string, a uint8
		f.Add(uint16(i), uint64(i)+300, []byte{0, 0, 0x80, 0, 9, 0x91, 0, 5, 0xc0}) // an empty map, nil
	}
	f.Fuzz(func(t *testing.T, typ uint16, seed uint64, edits []byte) {
		mt := Type(1 + int(typ)%(int(numTypes)-1))
		want, _ := NewMessage(mt)
		testfill.Random(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), reflect.ValueOf(want).Elem())
		body := encodeFrame(t, want)[HeaderSize:]
		if len(edits) > 3*maxEdits {
			edits = edits[:3*maxEdits] // more mostly breaks the structure
		}
		for e := edits; len(e) >= 3; e = e[3:] {
			body[int(binary.BigEndian.Uint16(e))%len(body)] = e[2]
		}
		frame := append(rawFrame(Version, mt, body), rawFrame(Version, TypeBye, []byte{0x80})...)
		r := NewReader(bytes.NewReader(frame), WithMaxFrameSize(maxFuzzBody))
		m, err := r.ReadMessage()
		valuesStats.add(stageOf(err))
		switch {
		case err != nil && len(edits) < 3:
			t.Fatalf("unedited random %s does not decode: %v", mt, err)
		case err != nil:
			var fe *FrameError
			if !errors.As(err, &fe) || !errors.Is(err, ErrDecode) || errors.Is(err, errDecoderPanic) {
				t.Fatalf("%s body: error %v (%T), want a *FrameError wrapping ErrDecode, no panic", mt, err, err)
			}
		case len(edits) < 3:
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("random %s differs after a round trip:\n got %#v\nwant %#v", mt, m, want)
			}
		default:
			enc1 := encodeFrame(t, m)
			m2, err := NewReader(bytes.NewReader(enc1)).ReadMessage()
			if err != nil {
				t.Fatalf("re-encoded %s does not decode: %v", mt, err)
			}
			if enc2 := encodeFrame(t, m2); !bytes.Equal(enc1, enc2) {
				t.Fatalf("%s encoding not stable:\n% x\n% x", mt, enc1, enc2)
			}
		}
		if m, err := r.ReadMessage(); err != nil || m.MessageType() != TypeBye {
			t.Fatalf("after a %s body: next frame %v, %v; want the Bye", mt, m, err)
		}
	})
}
