package proctest

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Proc
		wantErr bool
	}{
		{in: "42 (sleep) S 7 42 42 0", want: Proc{PID: 42, PPID: 7, Comm: "sleep", State: 'S'}},
		{in: "9 (a (b) c) Z 1 9", want: Proc{PID: 9, PPID: 1, Comm: "a (b) c", State: 'Z'}},
		{in: "9 (x)", wantErr: true},
		{in: "(x) S 1", wantErr: true},
		{in: "garbage", wantErr: true},
	} {
		got, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestChildrenAndStat(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	kids := Children(os.Getpid())
	if !slices.ContainsFunc(kids, func(p Proc) bool { return p.PID == pid && p.Comm == "sleep" && !p.Zombie() }) {
		t.Errorf("Children = %+v, want the live sleep %d", kids, pid)
	}
	cmd.Process.Kill()
	cmd.Process.Wait()
	if _, err := Stat(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a reaped process: %v, want fs.ErrNotExist", err)
	}
}
