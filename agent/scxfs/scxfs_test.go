package scxfs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRead(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Status
		err   error
	}{
		{
			name: "disabled 6.12",
			files: map[string]string{
				"state": "disabled\n", "switch_all": "0\n", "nr_rejected": "0\n",
				"hotplug_seq": "0\n", "enable_seq": "3\n",
			},
			want: Status{State: "disabled", EnableSeq: 3},
		},
		{
			name: "enabled with events",
			files: map[string]string{
				"state": "enabled\n", "switch_all": "1\n", "nr_rejected": "2\n",
				"hotplug_seq": "1\n", "enable_seq": "4\n", "root/ops": "simple\n",
				"root/events": "SCX_EV_SELECT_CPU_FALLBACK 12\nSCX_EV_DISPATCH_KEEP_LAST 0\ngarbage\n",
			},
			want: Status{
				State: "enabled", SwitchAll: true, NrRejected: 2, HotplugSeq: 1, EnableSeq: 4, Ops: "simple",
				Events: map[string]uint64{"SCX_EV_SELECT_CPU_FALLBACK": 12, "SCX_EV_DISPATCH_KEEP_LAST": 0},
			},
		},
		{
			name:  "old kernel without counters",
			files: map[string]string{"state": "enabling\n"},
			want:  Status{State: "enabling"},
		},
		{name: "no sched_ext", files: map[string]string{}, err: ErrNotSupported},
		{
			name:  "bad counter",
			files: map[string]string{"state": "enabled\n", "enable_seq": "x\n"},
			want:  Status{State: "enabled"},
			err:   errAnyParse,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(writeTree(t, tt.files))
			switch {
			case tt.err == errAnyParse:
				if err == nil {
					t.Fatal("Read: want parse error, got nil")
				}
				return
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("Read: err = %v, want %v", err, tt.err)
				}
				return
			case err != nil:
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

var errAnyParse = errors.New("any parse error")

func TestFake(t *testing.T) {
	f, err := NewFake(filepath.Join(t.TempDir(), "sched_ext"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := Read(f.Dir)
	if err != nil || st.Attached() || st.EnableSeq != 0 {
		t.Fatalf("fresh fake: %+v, %v", st, err)
	}
	if err := f.Enable("fifo"); err != nil {
		t.Fatal(err)
	}
	st, err = Read(f.Dir)
	if err != nil || !st.Attached() || st.Ops != "fifo" || st.EnableSeq != 1 {
		t.Fatalf("enabled fake: %+v, %v", st, err)
	}
	if err := f.Disable(); err != nil {
		t.Fatal(err)
	}
	st, err = Read(f.Dir)
	if err != nil || st.Attached() || st.Ops != "" || st.EnableSeq != 1 {
		t.Fatalf("disabled fake: %+v, %v", st, err)
	}
}
