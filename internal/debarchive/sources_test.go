package debarchive

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestFindMirrors reads apt sources in both formats. URIs are file: URIs
// so that no host name appears in the repository.
func TestFindMirrors(t *testing.T) {
	const osRelease = "ID=debian\nVERSION_CODENAME=bookworm\n"
	tests := []struct {
		name     string
		files    map[string]string
		want     Mirrors // zero Archive: must fail with ErrNoMirror
		codename string
	}{
		{
			name: "deb822 with the security archive first",
			files: map[string]string{
				"apt/sources.list.d/debian.sources": `Types: deb
URIs: file:/srv/security/debian-security
Suites: bookworm-security
Components: main

Types: deb
# a comment
URIs: file:/srv/main/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`,
			},
			want: Mirrors{Archive: "file:/srv/main/debian", Security: "file:/srv/security/debian-security"},
		},
		{
			name: "one-line format with options and deb-src",
			files: map[string]string{
				"apt/sources.list": `# deb file:/srv/commented/debian bookworm main
deb-src file:/srv/src/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] file:/srv/one/debian bookworm main contrib
deb file:/srv/one/debian-security bookworm-security main
`,
			},
			want: Mirrors{Archive: "file:/srv/one/debian", Security: "file:/srv/one/debian-security"},
		},
		{
			name: "disabled stanza and a third-party list",
			files: map[string]string{
				"apt/sources.list.d/a.sources":   "Types: deb\nURIs: file:/srv/off/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb\nURIs: file:/srv/on/debian\nSuites: bookworm\nComponents: main\n",
				"apt/sources.list.d/vendor.list": "deb file:/srv/vendor/apt stable main\n",
			},
			want: Mirrors{Archive: "file:/srv/on/debian"},
		},
		{
			name:  "another release's suites: the /debian URI is the fallback",
			files: map[string]string{"apt/sources.list": "deb file:/srv/x/debian trixie main\ndeb file:/srv/y/apt bookworm main\n"},
			want:  Mirrors{Archive: "file:/srv/y/apt"},
		},
		{
			name:  "only a foreign release",
			files: map[string]string{"apt/sources.list": "deb file:/srv/x/debian trixie main\n"},
			want:  Mirrors{Archive: "file:/srv/x/debian"},
		},
		{
			name:  "no sources",
			files: map[string]string{"apt/sources.list.d/vendor.list.disabled": "deb file:/srv/x/debian bookworm main\n"},
		},
		{
			name:  "no Debian archive",
			files: map[string]string{"apt/sources.list": "deb file:/srv/vendor/apt stable main\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			etc := t.TempDir()
			write(t, filepath.Join(etc, "os-release"), osRelease)
			for name, content := range tt.files {
				write(t, filepath.Join(etc, name), content)
			}
			got, err := FindMirrors(etc)
			if tt.want.Archive == "" {
				if !errors.Is(err, ErrNoMirror) {
					t.Fatalf("FindMirrors = %+v, %v; want ErrNoMirror", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Codename = "bookworm"
			if got != tt.want {
				t.Errorf("FindMirrors = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
