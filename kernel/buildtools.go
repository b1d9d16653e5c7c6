package kernel

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// buildTool is something a kernel build needs from the host: a command on
// $PATH, or a header under the include directory, and the package that
// has it on each distribution family.
type buildTool struct {
	name   string // what the user is told is missing
	header string // a header path under /usr/include; "" for a command
	pkgs   map[string]string
}

// Distribution families, from /etc/os-release's ID and ID_LIKE.
const (
	familyDebian = "debian" // Debian, Ubuntu
	familyFedora = "fedora" // Fedora, RHEL, CentOS
	familyArch   = "arch"
	familySUSE   = "suse"
)

// installCommands install packages on each family.
var installCommands = map[string]string{
	familyDebian: "apt-get install",
	familyFedora: "dnf install",
	familyArch:   "pacman -S",
	familySUSE:   "zypper install",
}

func same(p string) map[string]string {
	return map[string]string{familyDebian: p, familyFedora: p, familyArch: p, familySUSE: p}
}

// buildTools are what `make bzImage` of the recipe needs: the compiler
// and make, the Kconfig and build-script tools, pahole for BTF
// (CONFIG_DEBUG_INFO_BTF), libelf for objtool and OpenSSL for the
// certificate tools.
var buildTools = []buildTool{
	{name: "make", pkgs: same("make")},
	{name: "gcc", pkgs: same("gcc")},
	{name: "flex", pkgs: same("flex")},
	{name: "bison", pkgs: same("bison")},
	{name: "bc", pkgs: same("bc")},
	{name: "perl", pkgs: same("perl")},
	{name: "pahole", pkgs: map[string]string{familyDebian: "dwarves", familyFedora: "dwarves", familyArch: "pahole", familySUSE: "dwarves"}},
	{name: "libelf headers (gelf.h)", header: "gelf.h", pkgs: map[string]string{familyDebian: "libelf-dev", familyFedora: "elfutils-libelf-devel", familyArch: "libelf", familySUSE: "libelf-devel"}},
	{name: "OpenSSL headers (openssl/opensslv.h)", header: "openssl/opensslv.h", pkgs: map[string]string{familyDebian: "libssl-dev", familyFedora: "openssl-devel", familyArch: "openssl", familySUSE: "libopenssl-devel"}},
}

// MissingToolsError lists the tools a kernel build needs that the host
// lacks, with the packages that have them.
type MissingToolsError struct {
	// Tools are the missing tools, as in "flex" or "libelf headers
	// (gelf.h)".
	Tools []string
	// Packages are the packages that have them on this distribution, in
	// the same order; empty when the distribution is not known.
	Packages []string
	// Install is the command that installs Packages, or "".
	Install string
	// Hint names the packages on every known distribution when this one
	// is not known.
	Hint string
}

func (e *MissingToolsError) Error() string {
	var b strings.Builder
	b.WriteString("kernel build: missing ")
	for i, t := range e.Tools {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t)
		if i < len(e.Packages) && e.Packages[i] != "" {
			b.WriteString(" (package " + e.Packages[i] + ")")
		}
	}
	if e.Install != "" {
		pkgs := slices.Compact(slices.Sorted(slices.Values(e.Packages)))
		b.WriteString("; install with: " + e.Install + " " + strings.Join(pkgs, " "))
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

// toolEnv is where checkTools looks: tests replace it.
type toolEnv struct {
	lookPath   func(string) (string, error)
	includeDir string // "/usr/include"
	osRelease  string // "/etc/os-release"
}

func hostToolEnv() toolEnv {
	return toolEnv{lookPath: exec.LookPath, includeDir: "/usr/include", osRelease: "/etc/os-release"}
}

// CheckBuildTools returns a *MissingToolsError naming every tool the
// kernel build recipe needs that this host lacks, and the package that has
// it on this distribution (Debian and Ubuntu, Fedora and RHEL, Arch,
// openSUSE), or nil when nothing is missing.
func CheckBuildTools() error { return checkTools(hostToolEnv()) }

func checkTools(env toolEnv) error {
	family := distroFamily(env.osRelease)
	e := &MissingToolsError{}
	for _, t := range buildTools {
		if t.header != "" {
			if isFile(filepath.Join(env.includeDir, t.header)) {
				continue
			}
		} else if _, err := env.lookPath(t.name); err == nil {
			continue
		}
		e.Tools = append(e.Tools, t.name)
		e.Packages = append(e.Packages, t.pkgs[family])
	}
	if len(e.Tools) == 0 {
		return nil
	}
	if family == "" {
		e.Packages = nil
		var hints []string
		for _, name := range e.Tools {
			t := toolByName(name)
			hints = append(hints, fmt.Sprintf("%s: Debian/Ubuntu %s, Fedora %s, Arch %s, openSUSE %s", name,
				t.pkgs[familyDebian], t.pkgs[familyFedora], t.pkgs[familyArch], t.pkgs[familySUSE]))
		}
		e.Hint = "packages: " + strings.Join(hints, "; ")
	} else {
		e.Install = installCommands[family]
	}
	return e
}

func toolByName(name string) buildTool {
	for _, t := range buildTools {
		if t.name == name {
			return t
		}
	}
	return buildTool{name: name, pkgs: same(name)}
}

// distroFamily reads ID and ID_LIKE of an os-release file and returns the
// family whose package names apply, or "".
func distroFamily(osRelease string) string {
	f, err := os.Open(osRelease)
	if err != nil {
		return ""
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && (k == "ID" || k == "ID_LIKE") {
			ids = append(ids, strings.Fields(strings.Trim(v, `"'`))...)
		}
	}
	for _, id := range ids {
		switch id {
		case "debian", "ubuntu":
			return familyDebian
		case "fedora", "rhel", "centos":
			return familyFedora
		case "arch", "archlinux":
			return familyArch
		case "suse", "opensuse", "sles":
			return familySUSE
		}
	}
	return ""
}

// missingInLog finds a tool or header a failed build's output says is
// missing ("/bin/sh: 1: flex: not found", "fatal error: gelf.h: No such
// file or directory") and returns a sentence naming its package, or "".
func missingInLog(lines []string, osRelease string) string {
	family := distroFamily(osRelease)
	for i := len(lines) - 1; i >= 0; i-- {
		var name string
		if m := notFoundRE.FindStringSubmatch(lines[i]); m != nil {
			name = m[1]
		} else if m := noHeaderRE.FindStringSubmatch(lines[i]); m != nil {
			for _, t := range buildTools {
				if t.header == m[1] {
					name = t.name
				}
			}
			if name == "" {
				return fmt.Sprintf("the build is missing the header %s: install the development package that has it", m[1])
			}
		} else {
			continue
		}
		t := toolByName(name)
		if p, ok := t.pkgs[family]; ok {
			return fmt.Sprintf("the build is missing %s: install it with %s %s", name, installCommands[family], p)
		}
		return fmt.Sprintf("the build is missing %s (Debian/Ubuntu package %s, Fedora %s, Arch %s)", name, t.pkgs[familyDebian], t.pkgs[familyFedora], t.pkgs[familyArch])
	}
	return ""
}

var (
	notFoundRE = regexp.MustCompile(`(?:^|\s|/)([\w.+-]+): (?:command )?not found`)
	noHeaderRE = regexp.MustCompile(`fatal error: ([\w./+-]+\.h): No such file or directory`)
)
