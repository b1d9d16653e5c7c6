package stallwatch

import (
	"errors"
	"testing"
)

func TestParseStat(t *testing.T) {
	// A kernel thread, a worker (SCHED_IDLE, 5 threads) and a name with
	// spaces and parentheses, in the format of proc(5).
	kthread := "16 (rcu_preempt) R 2 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 2 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	worker := "301 (exe) S 290 290 0 0 -1 4194560 120 0 0 0 171 3 0 0 20 0 5 0 812 1234567 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 5 0 0 0 0 0 0 0 0 0 0 0\n"
	odd := "77 (a) b (c) d) R 1 77 77 0 -1 4194304 0 0 0 0 1 2 0 0 39 19 1 0 9 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 3 0 0 0\n"
	tests := []struct {
		name string
		in   string
		want Stat
	}{
		{"kthread", kthread, Stat{PID: 16, Comm: "rcu_preempt", State: 'R', Flags: 2129984, Kthread: true, SystemTicks: 3, Threads: 1, CPU: 0}},
		{"worker", worker, Stat{PID: 301, Comm: "exe", State: 'S', Flags: 4194560, UserTicks: 171, SystemTicks: 3, Threads: 5, CPU: 1, Policy: 5}},
		{"odd comm", odd, Stat{PID: 77, Comm: "a) b (c) d", State: 'R', Flags: 4194304, UserTicks: 1, SystemTicks: 2, Threads: 1, Policy: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseStat =\n %+v\nwant\n %+v", got, tt.want)
			}
			state, ok := StatState([]byte(tt.in))
			if !ok || state != tt.want.State {
				t.Errorf("StatState = %q, %v; want %q", state, ok, tt.want.State)
			}
		})
	}
}

func TestParseStatBad(t *testing.T) {
	for _, in := range []string{
		"",
		"12 rcu R 1",
		"(x) R 1 2",
		"x1 (x) R 1 2",
		"12 (x) R 1 2 3", // too few fields
		"12 (x) RR 2 0 0 0 -1 1 0 0 0 0 0 3 0 0 20", // state
		"12 (x) R 2 0 0 0 -1 flags 0 0 0 0 0 3 0 0 20 0 1 0 2 0 0 1 0 0 0 0 0 0 0 1 0 0 0 0 17 0 0 0 0",
		"12 (x) R 2 0 0 0 -1 1 0 0 0 0 0 3 0 0 20 0 1 0 2 0 0 1 0 0 0 0 0 0 0 1 0 0 0 0 17 -1 0 0 0", // cpu
		"12 (x) R 2 0 0 0 -1 1 0 0 0 0 0 99999999999999999999999 0 0 20 0 1 0 2 0 0 1 0 0 0 0 0 0 0 1 0 0 0 0 17 0 0 0 0",
	} {
		if s, err := ParseStat([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStat(%q) = %+v, %v; want ErrFormat", in, s, err)
		}
	}
	if _, ok := StatState([]byte("12 (x)")); ok {
		t.Error("StatState accepted a line without state")
	}
}

func TestParseSchedstat(t *testing.T) {
	got, err := ParseSchedstat([]byte("1754081712 52336270 631\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Schedstat{RunNs: 1754081712, WaitNs: 52336270, Slices: 631}); got != want {
		t.Errorf("ParseSchedstat = %+v, want %+v", got, want)
	}
	for _, in := range []string{"", "1 2", "1 2 3 4", "1 x 3", "-1 2 3"} {
		if _, err := ParseSchedstat([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseSchedstat(%q) error %v, want ErrFormat", in, err)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("16 (rcu_preempt) R 2 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 2 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"))
	f.Add([]byte("77 (a) b (c) d) R 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error %v does not wrap ErrFormat", err)
		}
		if err == nil {
			if state, ok := StatState(b); !ok || state != s.State {
				t.Fatalf("StatState %q %v, ParseStat state %q", state, ok, s.State)
			}
		}
	})
}
