package vmtest

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// readShellInput starts in and returns all it gives the console.
func readShellInput(t *testing.T, in *shellInput) string {
	t.Helper()
	in.start()
	done := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(in)
		done <- b
	}()
	select {
	case b := <-done:
		return string(b)
	case <-time.After(10 * time.Second):
		t.Fatal("the console's reader did not see the end of the input")
		return ""
	}
}

func TestShellInput(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		escape   byte
		want     string
		wantQuit bool
	}{
		{name: "script", in: "echo a\necho b\n", want: "echo a\necho b\nexit\n"},
		{name: "script without final newline", in: "echo a", want: "echo a\nexit\n"},
		{name: "no escape byte: ^A passes", in: "a\x01xb\n", want: "a\x01xb\nexit\n"},
		{name: "escape x quits", in: "ls\n\x01xrest", escape: 1, want: "ls\n", wantQuit: true},
		{name: "escape X quits", in: "\x01X", escape: 1, want: "", wantQuit: true},
		{name: "escape twice sends it", in: "a\x01\x01b\n", escape: 1, want: "a\x01b\nexit\n"},
		{name: "escape then other", in: "a\x01cb\n", escape: 1, want: "a\x01cb\nexit\n"},
		{name: "ctrl-c passes", in: "sleep 9\n\x03", escape: 1, want: "sleep 9\n\x03\nexit\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quit := false
			in := newShellInput(strings.NewReader(tt.in), tt.escape, func() { quit = true })
			if got := readShellInput(t, in); got != tt.want {
				t.Errorf("console got %q, want %q", got, tt.want)
			}
			if quit != tt.wantQuit {
				t.Errorf("quit = %v, want %v", quit, tt.wantQuit)
			}
		})
	}
}

// TestShellInputSplitEscape: the escape and its command may come in two
// reads (two key presses).
func TestShellInputSplitEscape(t *testing.T) {
	r, w := io.Pipe()
	quit := make(chan struct{})
	in := newShellInput(r, 1, func() { close(quit) })
	go func() {
		w.Write([]byte("ls\n\x01"))
		time.Sleep(10 * time.Millisecond)
		w.Write([]byte("x"))
	}()
	select {
	case <-quit:
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-A then x in two reads did not quit")
	}
	w.Close()
	if got := readShellInput(t, in); got != "ls\n" {
		t.Errorf("console got %q, want %q", got, "ls\n")
	}
}

// TestShellInputWaitsForStart: nothing reaches the console before the
// shell runs.
func TestShellInputWaitsForStart(t *testing.T) {
	in := newShellInput(strings.NewReader("early\n"), 0, func() {})
	got := make(chan int, 1)
	go func() {
		n, _ := in.Read(make([]byte, 64))
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("the console read %d bytes before the shell started", n)
	case <-time.After(50 * time.Millisecond):
	}
	in.start()
	if n := <-got; n != len("early\n") {
		t.Errorf("read %d bytes after the start, want %d", n, len("early\n"))
	}
}

func TestNoteWriter(t *testing.T) {
	var b bytes.Buffer
	w := &noteWriter{w: &b}
	w.note("first")
	w.Write([]byte("/ # sleep 5"))
	w.note("scheduler ejected\nsecond line")
	w.Write([]byte("done\r\n"))
	w.note("last")
	want := "first\r\n/ # sleep 5\r\nscheduler ejected\r\nsecond line\r\ndone\r\nlast\r\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
