package builtin

import (
	"errors"
	"slices"
	"testing"
)

func TestNames(t *testing.T) {
	want := []string{"fifo", "stall", "error", "starve"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range Names() {
		ops, err := OpsName(name)
		if err != nil {
			t.Fatalf("OpsName(%q): %v", name, err)
		}
		if ops != "scxvm_"+name {
			t.Errorf("OpsName(%q) = %q", name, ops)
		}
	}
	if _, err := OpsName("cfs"); !errors.Is(err, ErrUnknown) {
		t.Errorf("OpsName(cfs) error = %v, want ErrUnknown", err)
	}
}

func TestOptionsResolve(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sched      string
		opts       Options
		errorAfter uint64
		timeoutMs  uint32
		wantErr    bool
	}{
		{name: "defaults", sched: FIFO, errorAfter: DefaultErrorAfter, timeoutMs: 0},
		{name: "stall default timeout", sched: Stall, errorAfter: DefaultErrorAfter, timeoutMs: DefaultStallTimeoutMs},
		{name: "starve default timeout", sched: Starve, errorAfter: DefaultErrorAfter, timeoutMs: MaxTimeoutMs},
		{name: "stall explicit timeout", sched: Stall, opts: Options{TimeoutMs: 1000}, errorAfter: DefaultErrorAfter, timeoutMs: 1000},
		{name: "error after", sched: Error, opts: Options{ErrorAfter: 7, TimeoutMs: 5000}, errorAfter: 7, timeoutMs: 5000},
		{name: "max timeout", sched: FIFO, opts: Options{TimeoutMs: MaxTimeoutMs}, errorAfter: DefaultErrorAfter, timeoutMs: MaxTimeoutMs},
		{name: "timeout too long", sched: FIFO, opts: Options{TimeoutMs: MaxTimeoutMs + 1}, wantErr: true},
		{name: "negative timeout", sched: Stall, opts: Options{TimeoutMs: -1}, wantErr: true},
		{name: "negative error after", sched: Error, opts: Options{ErrorAfter: -1}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opts.resolve(tc.sched)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("resolve(%+v) = %+v, want an error", tc.opts, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.errorAfter != tc.errorAfter || got.timeoutMs != tc.timeoutMs {
				t.Errorf("resolve = errorAfter %d timeoutMs %d, want %d %d", got.errorAfter, got.timeoutMs, tc.errorAfter, tc.timeoutMs)
			}
			if got.logf == nil {
				t.Error("logf is nil")
			}
		})
	}
}

func TestDSQConstants(t *testing.T) {
	// Values from include/linux/sched/ext.h (enum scx_dsq_id_flags).
	if DSQGlobal != 0x8000000000000001 || DSQLocal != 0x8000000000000002 {
		t.Errorf("DSQGlobal %#x DSQLocal %#x", DSQGlobal, DSQLocal)
	}
	if BogusDSQ&(1<<63) != 0 {
		t.Errorf("BogusDSQ %#x has the builtin flag: the kernel would not look it up as a user DSQ", BogusDSQ)
	}
}
