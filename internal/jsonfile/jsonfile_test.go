package jsonfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	if err := Write(path, "result", map[string]any{"target": "<= 1.15x", "n": 1}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"n\": 1,\n  \"target\": \"<= 1.15x\"\n}\n"; string(b) != want {
		t.Errorf("wrote %q, want %q", b, want)
	}
	err = Write(filepath.Join(t.TempDir(), "no", "such", "dir.json"), "result", 1)
	if err == nil || !strings.HasPrefix(err.Error(), "write result: ") {
		t.Errorf("error %v, want one naming the result", err)
	}
	if err := Write(path, "result", make(chan int)); err == nil {
		t.Error("a value JSON cannot encode wrote no error")
	}
}
