package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/protocol"
)

// Collected files land below the host directory, in chunks at their
// offsets; a path that would leave it is refused and reported.
func TestCollectingWritesBelowTheHostDir(t *testing.T) {
	top := t.TempDir()
	host := filepath.Join(top, "out")
	c := &collecting{dirs: []Collect{{Guest: "/results", Host: host}}, roots: make([]*os.Root, 1), errs: make([]error, 1)}
	for _, m := range []*protocol.FileData{
		{Path: "sub", IsDir: true, Mode: 0o755},
		{Path: "sub/a.txt", Mode: 0o644, Data: []byte("hello ")},
		{Path: "sub/a.txt", Mode: 0o644, Offset: 6, Data: []byte("world\n")},
		{Path: "empty", Mode: 0o600},
		{Path: "../escape", Mode: 0o644, Data: []byte("x")},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("x")},
		{Dir: 5, Path: "unknown-dir", Data: []byte("x")},
	} {
		c.fileData(m)
	}
	res := c.finish([]protocol.CollectResult{{Dir: "/results", Files: 2, Bytes: 12}})
	if b, err := os.ReadFile(filepath.Join(host, "sub", "a.txt")); err != nil || string(b) != "hello world\n" {
		t.Errorf("sub/a.txt = %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(host, "empty")); err != nil || st.Size() != 0 {
		t.Errorf("empty: %v", err)
	}
	if _, err := os.Stat(filepath.Join(top, "escape")); err == nil {
		t.Error("a path with .. was written outside the host directory")
	}
	if len(res) != 1 || res[0].Files != 2 || !strings.Contains(res[0].Error, "refused path") {
		t.Errorf("result = %+v, want the agent's counts and the refused path", res)
	}
}

func TestResolveExec(t *testing.T) {
	for p, want := range map[string]bool{"/tmp/a/runner": true, "/run": true, "/usr/bin/true": false, "/tmpfoo/x": false} {
		if hiddenInGuest(p) != want {
			t.Errorf("hiddenInGuest(%q) = %v", p, !want)
		}
	}
	dir := t.TempDir()
	tool := filepath.Join(dir, "tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/usr/bin/env tool -x\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	for _, tc := range []struct {
		name      string
		exec      string
		files     map[string]string
		wantGuest string
		wantFile  string // host file shipped at wantGuest
		wantErr   string
	}{
		{"host path", tool, nil, hiddenOr(tool), tool, ""},
		{"name on $PATH", "tool", nil, hiddenOr(tool), tool, ""},
		{"extra file by base name", "runner", map[string]string{"/opt/runner": plain}, "/opt/runner", plain, ""},
		{"extra file at its path", "/opt/runner", map[string]string{"/opt/runner": plain}, "/opt/runner", plain, ""},
		{"guest-only path", "/init", nil, "/init", "", ""},
		{"script", script, nil, hiddenOr(script), script, ""},
		{"not executable", plain, nil, "", "", "is not an executable file"},
		{"unknown name", "nothere", nil, "", "", `command "nothere" is not on the host's $PATH`},
		{"relative missing", "./nothere", nil, "", "", "no such file on the host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Exec: []string{tc.exec, "arg"}, ExtraFiles: tc.files}
			guest, files, err := cfg.resolveExec()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || guest != tc.wantGuest {
				t.Fatalf("resolveExec = %q, %v; want %q", guest, err, tc.wantGuest)
			}
			if tc.wantFile != "" && files[guest] != tc.wantFile {
				t.Errorf("files[%s] = %q, want %q", guest, files[guest], tc.wantFile)
			}
			if tc.exec == script && (files["/usr/bin/env"] == "" || files[tool] != tool) {
				t.Errorf("files = %v, want the script's interpreter env and the tool env runs", files)
			}
		})
	}
}

// hiddenOr is where resolveExec puts host file p in the guest.
func hiddenOr(p string) string {
	if hiddenInGuest(p) {
		return ExecDir + "/" + filepath.Base(p)
	}
	return p
}
