package protocol

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/fuzzcorpus"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzReadFrame from the sample and corrupt frames")

const corpusDir = "testdata/fuzz/FuzzReadFrame"

// corpusSeeds are the committed seeds: a valid frame of every type, a
// stream of several frames, and every corruption case.
func corpusSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	var stream []byte
	for _, m := range sampleMessages() {
		f := encodeFrame(t, m)
		seeds["valid-"+m.MessageType().String()] = f
		stream = append(stream, f...)
	}
	seeds["valid-stream"] = stream
	for _, c := range corruptFrames(t) {
		name := "corrupt-" + strings.ReplaceAll(c.name, " ", "-")
		if len(c.in) > 4096 {
			c.in = c.in[:4096]
		}
		seeds[name] = c.in
	}
	return seeds
}

// TestFuzzCorpus keeps the committed corpus in step with the seeds; run
// with -update-corpus after changing a message.
func TestFuzzCorpus(t *testing.T) {
	fuzzcorpus.Check(t, corpusDir, "./protocol/", "TestFuzzCorpus", fuzzcorpus.Bytes(corpusSeeds(t)), *updateCorpus)
}

// FuzzReadFrame reads frames from arbitrary bytes. It must never panic, must
// fail only with io.EOF or a *FrameError, and whatever it decodes must
// re-encode to a frame that decodes to an identical encoding.
func FuzzReadFrame(f *testing.F) {
	for _, b := range corpusSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), WithMaxFrameSize(1<<20))
		furthest := stoppedAtFrame // how far the input's frames got
		defer func() { readFrameStats.add(furthest) }()
		for range 16 {
			m, err := r.ReadMessage()
			furthest = max(furthest, stageOf(err))
			if err == io.EOF {
				return
			}
			if err != nil {
				var fe *FrameError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v (%T) is not a *FrameError", err, err)
				}
				if errors.Is(err, errDecoderPanic) {
					t.Fatalf("decoder panicked: %v", err)
				}
				if !recoverable(err) {
					return
				}
				continue
			}
			enc1 := encodeFrame(t, m)
			m2, err := NewReader(bytes.NewReader(enc1)).ReadMessage()
			if err != nil {
				t.Fatalf("re-encoded %s does not decode: %v", m.MessageType(), err)
			}
			if enc2 := encodeFrame(t, m2); !bytes.Equal(enc1, enc2) {
				t.Fatalf("%s encoding not stable:\n% x\n% x", m.MessageType(), enc1, enc2)
			}
		}
	})
}
