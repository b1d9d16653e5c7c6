package leakcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type fakeM func() int

func (f fakeM) Run() int { return f() }

func TestMainFindsLeaks(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) (cleanup func())
		want string
	}{
		{"clean", func(t *testing.T) func() { return func() {} }, ""},
		{"child", func(t *testing.T) func() {
			cmd := exec.Command("sleep", "30")
			if err := cmd.Start(); err != nil {
				t.Skip("no sleep command")
			}
			return func() { cmd.Process.Kill(); cmd.Wait() }
		}, "child processes"},
		{"fd", func(t *testing.T) func() {
			f, err := os.Open("/proc/self/status")
			if err != nil {
				t.Fatal(err)
			}
			return func() { f.Close() }
		}, "file descriptors"},
		{"temp file", func(t *testing.T) func() {
			f, err := os.CreateTemp("", "left-*.log")
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			return func() {}
		}, "temporary files: left-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cleanup func()
			out := filepath.Join(t.TempDir(), "stderr")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			stderr := os.Stderr
			os.Stderr = f
			code := Main(fakeM(func() int { cleanup = tc.run(t); return 0 }), func(o *options) { o.grace = 0 })
			os.Stderr = stderr
			f.Close()
			cleanup()
			b, _ := os.ReadFile(out)
			if tc.want == "" {
				if code != 0 {
					t.Errorf("clean run: code %d, %s", code, b)
				}
				return
			}
			if code != 1 || !strings.Contains(string(b), tc.want) {
				t.Errorf("code %d, output %q; want 1 and %q", code, b, tc.want)
			}
		})
	}
}

func TestMainKeepsTestFailure(t *testing.T) {
	if code := Main(fakeM(func() int { return 3 })); code != 3 {
		t.Errorf("code %d, want the tests' 3", code)
	}
}
