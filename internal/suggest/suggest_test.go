package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"cpuspin", "cpuspin", 0},
		{"cpuspn", "cpuspin", 1},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	kinds := []string{"CpuSpin", "PipeIo", "FutexPingPong", "Mixed"}
	for _, tt := range []struct {
		in, want string
	}{
		{"CpuSpn", "CpuSpin"},
		{"cpuspin", "CpuSpin"},
		{"PipIO", "PipeIo"},
		{"futexpingpog", "FutexPingPong"},
		{"Elephant", ""},
		{"", ""},
	} {
		if got := Closest(tt.in, kinds); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
