package spec

import (
	"strings"
	"testing"
)

func TestTopology(t *testing.T) {
	for _, tt := range []struct {
		t    Topology
		cpus int
		str  string
	}{
		{Topology{}, 2, "1n1l2c1t"},
		{Topology{NUMANodes: 2, LLCs: 2, CoresPerLLC: 2}, 8, "2n2l2c1t"},
		{Topology{ThreadsPerCore: 2}, 4, "1n1l2c2t"},
	} {
		if got := tt.t.CPUs(); got != tt.cpus {
			t.Errorf("%+v.CPUs() = %d, want %d", tt.t, got, tt.cpus)
		}
		if got := tt.t.String(); got != tt.str {
			t.Errorf("%+v.String() = %q, want %q", tt.t, got, tt.str)
		}
	}
}

func TestParseTopology(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{"", "1n1l2c1t", ""},
		{"1n2l4c2t", "1n2l4c2t", ""},
		{"4c", "1n1l4c1t", ""},
		{"2t2n", "2n1l2c2t", ""},
		{"0n", "", "repeated, zero"},
		{"2n2n", "", "repeated, zero"},
		{"2x", "", "unknown unit"},
		{"n", "", "want numbers"},
		{"8n8l8c", "", "at most 288"},
		{"99999999999999999999n", "", "too large"},
	} {
		got, err := ParseTopology(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTopology(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseTopology(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
		if again, err := ParseTopology(got.String()); err != nil || again != got {
			t.Errorf("ParseTopology(%q) does not round trip: %v, %v", got, again, err)
		}
	}
}
