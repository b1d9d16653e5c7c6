package spec

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// latencySamples returns n samples shaped like wake latencies: mostly a few
// microseconds, with a long tail up to tens of milliseconds.
func latencySamples(n int, seed uint64) Samples {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := make(Samples, n)
	for i := range s {
		s[i] = uint64(math.Exp(r.NormFloat64()*1.5 + 9)) // median ~8 us
	}
	return s
}

func TestSamplesBinaryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Samples
	}{
		{"nil", nil},
		{"empty", Samples{}},
		{"one", Samples{42}},
		{"extremes", Samples{0, 1, 127, 128, math.MaxUint32, math.MaxUint64}},
		{"latencies", latencySamples(10_000, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.in.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 + 8*len(tt.in); len(b) != want || b[0] != samplesRaw {
				t.Fatalf("MarshalBinary: %d bytes, format %#x; want %d bytes, format %#x", len(b), b[0], want, samplesRaw)
			}
			var got Samples
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.in) || (len(tt.in) > 0 && !reflect.DeepEqual(got, tt.in)) {
				t.Fatalf("raw round trip: got %d samples, want %d", len(got), len(tt.in))
			}

			var gotV Samples
			if err := gotV.UnmarshalBinary(appendVarint(nil, tt.in)); err != nil {
				t.Fatal(err)
			}
			if len(gotV) != len(tt.in) || (len(tt.in) > 0 && !reflect.DeepEqual(gotV, tt.in)) {
				t.Fatalf("varint round trip: got %d samples, want %d", len(gotV), len(tt.in))
			}
		})
	}
}

// TestSamplesMsgpack checks that msgpack stores Samples as one bin value
// and that nil and empty survive a round trip through a report.
func TestSamplesMsgpack(t *testing.T) {
	for _, in := range []Samples{nil, {}, {7, 1 << 40}} {
		// A non-omitempty holder, so that empty and nil are both encoded.
		type holder struct {
			S Samples `msgpack:"s"`
		}
		b, err := msgpack.Marshal(holder{in})
		if err != nil {
			t.Fatal(err)
		}
		var out holder
		if err := msgpack.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if (in == nil) != (out.S == nil) || !reflect.DeepEqual([]uint64(in), []uint64(out.S)) {
			t.Errorf("round trip of %#v gave %#v", in, out.S)
		}
		// bin8 code 0xc4 after the 1-key map and "s" key, unless nil.
		if in != nil && b[3] != 0xc4 {
			t.Errorf("encoding of %v = % x, want a bin value", in, b)
		}
	}

	rep := WorkerReport{Index: 3, ResumeLatenciesNs: latencySamples(1000, 2), ResumeLatencyCount: 5000}
	b, err := msgpack.Marshal(&rep)
	if err != nil {
		t.Fatal(err)
	}
	var got WorkerReport
	if err := msgpack.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rep) {
		t.Errorf("WorkerReport round trip differs")
	}
}

// TestSamplesMsgpackForms checks that EncodeMsgpack writes exactly a bin
// value of the MarshalBinary form, and that DecodeMsgpack reads every form.
func TestSamplesMsgpackForms(t *testing.T) {
	in := latencySamples(3000, 4)
	raw, _ := in.MarshalBinary()
	got, err := msgpack.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := msgpack.Marshal(raw)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeMsgpack differs from a bin value of MarshalBinary: % x... vs % x...", got[:8], want[:8])
	}
	for name, form := range map[string][]byte{"raw": raw, "varint": appendVarint(nil, in)} {
		enc, _ := msgpack.Marshal(form) // a bin value
		var out Samples
		if err := msgpack.Unmarshal(enc, &out); err != nil || !slices.Equal(out, in) {
			t.Errorf("%s form: got %d samples, %v", name, len(out), err)
		}
	}
}

// TestSamplesDecodeMsgpackBounded feeds DecodeMsgpack bin headers whose
// lengths are lies: it must fail at the end of the data without allocating
// for the claimed length.
func TestSamplesDecodeMsgpackBounded(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"raw 2 GiB claim", []byte{0xc6, 0x7f, 0xff, 0xff, 0xf9, samplesRaw, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"varint 2 GiB claim", []byte{0xc6, 0x7f, 0xff, 0xff, 0xff, samplesVarint, 1, 1}},
		{"raw bad length", []byte{0xc4, 4, samplesRaw, 1, 2, 3}},
		{"not bin", []byte{0xa1, 'x'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out Samples
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			if err := msgpack.Unmarshal(tt.in, &out); err == nil {
				t.Errorf("Unmarshal(% x) succeeded with %d samples", tt.in, len(out))
			}
			runtime.ReadMemStats(&ms)
			if grew := ms.TotalAlloc - before; grew > 4<<20 {
				t.Errorf("decoding %d bytes allocated %d bytes", len(tt.in), grew)
			}
		})
	}
}

func TestSamplesUnmarshalMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"raw short sample", []byte{samplesRaw, 1, 2, 3}},
		{"raw 9 bytes", []byte{samplesRaw, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"unknown format", []byte{0x7f, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"varint no count", []byte{samplesVarint}},
		{"varint huge count", []byte{samplesVarint, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1}},
		{"varint count overflow", []byte{samplesVarint, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"varint truncated sample", []byte{samplesVarint, 2, 1, 0x80}},
		{"varint trailing bytes", []byte{samplesVarint, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Samples{99}
			err := s.UnmarshalBinary(tt.in)
			if !errors.Is(err, errSamples) {
				t.Fatalf("UnmarshalBinary(% x) = %v, want an errSamples error", tt.in, err)
			}
			if len(s) != 1 || s[0] != 99 {
				t.Errorf("failed UnmarshalBinary changed the receiver to %v", s)
			}
		})
	}
}

// FuzzSamplesUnmarshal checks that UnmarshalBinary never panics, never
// yields more samples than the input can hold, and that whatever it accepts
// re-encodes to an equal value.
func FuzzSamplesUnmarshal(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{samplesRaw, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add(appendVarint(nil, Samples{1, 300, 1 << 50}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Samples
		if err := s.UnmarshalBinary(b); err != nil {
			return
		}
		if len(s) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(s), len(b))
		}
		enc, _ := s.MarshalBinary()
		var again Samples
		if err := again.UnmarshalBinary(enc); err != nil || !slices.Equal(again, s) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

// varintSamples encodes as a bin value of the varint form, for the
// benchmark that compares it with the raw form.
type varintSamples Samples

func (s varintSamples) EncodeMsgpack(e *msgpack.Encoder) error {
	return e.EncodeBytes(appendVarint(make([]byte, 0, 11+3*len(s)), Samples(s)))
}

func (s *varintSamples) DecodeMsgpack(d *msgpack.Decoder) error {
	return (*Samples)(s).DecodeMsgpack(d)
}

// The benchmarks round-trip 10,000 latency samples through msgpack.Marshal
// and msgpack.Unmarshal in each form. They count 8 bytes per sample, so MB/s
// compare directly with the protocol's Reports benchmark.
func BenchmarkSamplesRaw(b *testing.B) {
	benchmarkSamples(b, latencySamples(10_000, 3))
}

func BenchmarkSamplesVarint(b *testing.B) {
	benchmarkSamples(b, varintSamples(latencySamples(10_000, 3)))
}

func benchmarkSamples[S Samples | varintSamples](b *testing.B, s S) {
	b.SetBytes(int64(8 * len(s)))
	b.ReportAllocs()
	var wire int
	for b.Loop() {
		enc, err := msgpack.Marshal(s)
		if err != nil {
			b.Fatal(err)
		}
		wire = len(enc)
		var out S
		if err := msgpack.Unmarshal(enc, &out); err != nil || len(out) != len(s) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(wire)/float64(len(s)), "wirebytes/sample")
}

// BenchmarkSamplesMsgpackPlain is the baseline the binary form replaces: a
// []uint64 encoded as msgpack integers.
func BenchmarkSamplesMsgpackPlain(b *testing.B) {
	s := []uint64(latencySamples(10_000, 3))
	b.SetBytes(int64(8 * len(s)))
	b.ReportAllocs()
	for b.Loop() {
		enc, err := msgpack.Marshal(s)
		if err != nil {
			b.Fatal(err)
		}
		var out []uint64
		if err := msgpack.Unmarshal(enc, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSamplesForms alternates the raw, varint and plain msgpack round
// trips in one loop, so that load on a shared machine hits all three alike,
// and reports each one's throughput (8 bytes per sample).
func BenchmarkSamplesForms(b *testing.B) {
	raw := latencySamples(10_000, 3)
	forms := []struct {
		name string
		v    any
		out  func() any
	}{
		{"raw", raw, func() any { return new(Samples) }},
		{"varint", varintSamples(raw), func() any { return new(varintSamples) }},
		{"plain", []uint64(raw), func() any { return new([]uint64) }},
	}
	spent := make([]time.Duration, len(forms))
	for b.Loop() {
		for i, f := range forms {
			t0 := time.Now()
			enc, err := msgpack.Marshal(f.v)
			if err != nil {
				b.Fatal(err)
			}
			if err := msgpack.Unmarshal(enc, f.out()); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(t0)
		}
	}
	for i, f := range forms {
		b.ReportMetric(float64(8*len(raw)*b.N)/spent[i].Seconds()/1e6, f.name+"-MB/s")
	}
}
