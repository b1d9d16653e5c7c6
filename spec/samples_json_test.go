package spec

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestSamplesUnmarshalJSON(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Samples
		ok   bool
	}{
		{`[]`, Samples{}, true},
		{`null`, nil, true},
		{`[0]`, Samples{0}, true},
		{` [ 1 , 22,333 ]`, Samples{1, 22, 333}, true},
		{"[\n  18446744073709551615\n]", Samples{1<<64 - 1}, true},
		{`[18446744073709551616]`, nil, false},
		{`[-1]`, nil, false},
		{`[1.5]`, nil, false},
		{`[1e3]`, nil, false},
		{`["1"]`, nil, false},
		{`[1,]`, nil, false},
		{`{}`, nil, false},
		{`7`, nil, false},
	} {
		var plain []uint64
		plainErr := json.Unmarshal([]byte(tt.in), &plain)
		s := Samples{99}
		err := json.Unmarshal([]byte(tt.in), &s)
		if tt.ok {
			if err != nil || !slices.Equal(s, tt.want) || (tt.want == nil) != (s == nil) {
				t.Errorf("%s: got %v, %v; want %v", tt.in, s, err, tt.want)
			}
			if plainErr != nil || !slices.Equal(plain, []uint64(s)) {
				t.Errorf("%s: encoding/json into []uint64 gives %v, %v", tt.in, plain, plainErr)
			}
			continue
		}
		if err == nil || plainErr == nil {
			t.Errorf("%s: got %v (%v), encoding/json %v; want errors from both", tt.in, s, err, plainErr)
		}
		if len(s) != 1 || s[0] != 99 {
			t.Errorf("%s: a failed decode changed the receiver to %v", tt.in, s)
		}
	}
	// Inside a struct, as in a result file.
	var r WorkerReport
	if err := json.Unmarshal([]byte(`{"resume_latencies_ns": [5, 6], "tid": 3}`), &r); err != nil || !slices.Equal(r.ResumeLatenciesNs, Samples{5, 6}) || r.TID != 3 {
		t.Errorf("in a report: %+v, %v", r, err)
	}
	var s Samples
	if err := s.UnmarshalJSON([]byte(`[1 2]`)); !errors.Is(err, errSamples) {
		t.Errorf("called directly on bad input: %v, want an errSamples error", err)
	}
}

// FuzzSamplesUnmarshalJSON checks UnmarshalJSON against encoding/json's
// decoding into []uint64: both accept the same inputs, with equal values.
func FuzzSamplesUnmarshalJSON(f *testing.F) {
	for _, s := range []string{`[]`, `null`, `[1,2,3]`, ` [ 0 ,18446744073709551615]`, `[-1]`, `[1.0]`, `[1e2]`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var plain []uint64
		plainErr := json.Unmarshal(b, &plain)
		var s Samples
		err := json.Unmarshal(b, &s)
		if (err == nil) != (plainErr == nil) {
			t.Fatalf("%q: Samples %v, []uint64 %v", b, err, plainErr)
		}
		if err == nil && !slices.Equal(plain, []uint64(s)) {
			t.Fatalf("%q: Samples %v, []uint64 %v", b, s, plain)
		}
	})
}

// BenchmarkSamplesJSON decodes 100,000 latencies from JSON as Samples;
// BenchmarkSamplesJSONPlain as encoding/json does into []uint64, the
// baseline.
func BenchmarkSamplesJSON(b *testing.B) {
	data, _ := json.Marshal(latencySamples(100_000, 3))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var s Samples
		if err := json.Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSamplesJSONPlain(b *testing.B) {
	data, _ := json.Marshal(latencySamples(100_000, 3))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var s []uint64
		if err := json.Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}
