package kernel

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemMirror checks how kernel/lib.sh finds the Debian mirror in the
// system's apt sources, in both formats. URIs are file: URIs so that no host
// name appears in the repository.
func TestSystemMirror(t *testing.T) {
	const osRelease = "ID=debian\nVERSION_CODENAME=bookworm\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string // "" means: must fail
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
			want: "file:/srv/main/debian",
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
			want: "file:/srv/one/debian",
		},
		{
			name: "disabled stanza and a third-party list",
			files: map[string]string{
				"apt/sources.list.d/a.sources":   "Types: deb\nURIs: file:/srv/off/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb\nURIs: file:/srv/on/debian\nSuites: bookworm\nComponents: main\n",
				"apt/sources.list.d/vendor.list": "deb file:/srv/vendor/apt stable main\n",
			},
			want: "file:/srv/on/debian",
		},
		{
			name:  "no sources",
			files: map[string]string{"apt/sources.list.d/vendor.list.disabled": "deb file:/srv/x/debian bookworm main\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			etc := t.TempDir()
			writeFile(t, filepath.Join(etc, "os-release"), []byte(osRelease))
			for name, content := range tt.files {
				writeFile(t, filepath.Join(etc, name), []byte(content))
			}
			cmd := exec.Command("bash", "-c", `. ./lib.sh && system_mirror "$1"`, "bash", etc)
			out, err := cmd.Output()
			got := strings.TrimSpace(string(out))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("system_mirror = %q, want a failure", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("system_mirror: %v", err)
			}
			if got != tt.want {
				t.Errorf("system_mirror = %q, want %q", got, tt.want)
			}
		})
	}
}
