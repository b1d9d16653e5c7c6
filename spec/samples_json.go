package spec

import (
	"fmt"
)

// UnmarshalJSON reads the samples as a JSON array of non-negative
// integers (what encoding/json writes for them), or null, as
// encoding/json would into a []uint64; on error the receiver is left
// alone. It parses the digits itself: latency samples are most of a
// result's bytes, and this is 2.5x faster than encoding/json's decoding
// into []uint64 (BenchmarkSamplesJSON), which `scxvm compare` and
// `scxvm report` spend most of their time in.
func (s *Samples) UnmarshalJSON(data []byte) error {
	i := skipSpace(data, 0)
	if i+4 <= len(data) && string(data[i:i+4]) == "null" {
		*s = nil
		return nil
	}
	if i >= len(data) || data[i] != '[' {
		return fmt.Errorf("%w: want a JSON array of integers", errSamples)
	}
	out := make(Samples, 0, len(data)/8) // a latency takes 5-9 bytes with its comma
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		*s = out
		return nil
	}
	for {
		start := i
		var v uint64
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			d := uint64(data[i] - '0')
			if v > (1<<64-1-d)/10 {
				return fmt.Errorf("%w: sample %d overflows", errSamples, len(out))
			}
			v = v*10 + d
			i++
		}
		if i == start {
			return fmt.Errorf("%w: sample %d is no non-negative integer", errSamples, len(out))
		}
		out = append(out, v)
		i = skipSpace(data, i)
		if i >= len(data) {
			return fmt.Errorf("%w: unterminated array", errSamples)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			*s = out
			return nil
		default:
			return fmt.Errorf("%w: unexpected %q after sample %d", errSamples, data[i], len(out)-1)
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}
