package spec

import (
	"errors"
	"testing"
	"time"
)

func TestChecksMaxRunnableWait(t *testing.T) {
	if got := (Checks{}).MaxRunnableWaitOrDefault(); got != DefaultMaxRunnableWait {
		t.Errorf("default %v, want %v", got, DefaultMaxRunnableWait)
	}
	if got := (Checks{MaxRunnableWait: 3 * time.Second}).MaxRunnableWaitOrDefault(); got != 3*time.Second {
		t.Errorf("set 3s, got %v", got)
	}
	for _, tc := range []struct {
		wait time.Duration
		ok   bool
	}{
		{0, true},
		{MinMaxRunnableWait, true},
		{10 * time.Second, true},
		{-time.Second, false},
		{MinMaxRunnableWait - 1, false},
	} {
		err := Checks{MaxRunnableWait: tc.wait}.Validate()
		var ve *ValidationError
		switch {
		case tc.ok && err != nil:
			t.Errorf("MaxRunnableWait %v: %v", tc.wait, err)
		case !tc.ok && (!errors.As(err, &ve) || ve.Path != "max_runnable_wait"):
			t.Errorf("MaxRunnableWait %v: error %v, want one naming max_runnable_wait", tc.wait, err)
		}
	}
	if err := (Checks{Skip: []string{CheckNoStalledTask}}).Validate(); err != nil {
		t.Errorf("skipping %s: %v", CheckNoStalledTask, err)
	}
}
