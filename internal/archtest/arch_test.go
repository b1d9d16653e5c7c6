// Package archtest holds the test that keeps the module's dependency
// direction (ARCHITECTURE.md): it fails when an import breaks it.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
)

const module = "github.com/scxvm/scxvm"

// rules say, for each package and the packages below it (the longest
// matching rule wins), which of the module's packages it may import; an
// allowed entry also allows every package below it. Standard library and
// third-party imports are not restricted.
var rules = []struct {
	pkg     string
	allowed []string
}{
	// The pure definitions depend on nothing of the project's but
	// internal helpers without OS calls.
	{"spec", []string{"internal/suggest"}},
	{"scenariofile", []string{"spec", "internal/suggest"}},
	{"stressng", []string{"spec"}},
	{"kselftest", []string{"spec"}},
	// The kernel's words, parsed the same way on both sides.
	{"ktext", nil},
	// The wire protocol knows the definitions and nothing else.
	{"protocol", []string{"spec"}},
	// The worker runtime knows no VM, protocol or host.
	{"workload", []string{"spec", "workload"}},
	{"kernel", []string{"kernel", "internal/cachedir", "internal/debarchive"}},
	{"initramfs", []string{"initramfs", "internal/cachedir"}},
	{"host", []string{"spec", "ktext", "protocol", "kernel", "host", "internal/cachedir"}},
	// The guest side: agent may use the runtime and the protocol, never
	// the host side.
	{"agent", []string{"agent", "spec", "ktext", "protocol", "workload"}},
	// The host side's API and its subpackages never link the guest agent.
	{"vmtest", []string{"vmtest", "spec", "scenariofile", "stressng", "kselftest", "ktext", "protocol", "host", "initramfs", "kernel", "internal/suggest", "internal/jsonfile"}},
	// Comparing results is pure: it reads Results and their metrics.
	{"vmtest/compare", []string{"vmtest", "spec"}},
	{"cmd/scxvm-agent", []string{"agent", "workload"}},
	{"cmd/scxvm", []string{"vmtest", "spec", "scenariofile", "stressng", "kselftest", "kernel", "protocol", "initramfs", "host", "internal/debarchive", "internal/cachedir", "internal/jsonfile"}},
	{"internal", []string{"internal"}},
	// Test helpers that find test kernels through the kernel cache.
	{"internal/testkernel", []string{"internal", "kernel"}},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestDependencyDirection(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		testenv.Prereq(t, "the go command: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		allowed, ok := allowedFor(rel)
		if !ok {
			t.Errorf("package %s has no dependency rule: add it to rules and to ARCHITECTURE.md", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !permitted(dep, allowed) {
				t.Errorf("%s imports %s, which breaks the dependency direction (allowed: %s)", rel, dep, strings.Join(allowed, ", "))
			}
		}
	}
	if n < 20 {
		t.Errorf("go list saw %d packages; the module has more", n)
	}
}

// allowedFor returns the rule of the longest package prefix matching rel.
func allowedFor(rel string) ([]string, bool) {
	best := -1
	var allowed []string
	for _, r := range rules {
		if (rel == r.pkg || strings.HasPrefix(rel, r.pkg+"/")) && len(r.pkg) > best {
			best, allowed = len(r.pkg), r.allowed
		}
	}
	return allowed, best >= 0
}

// permitted reports whether dep is an allowed package or below one.
func permitted(dep string, allowed []string) bool {
	for _, a := range allowed {
		if dep == a || strings.HasPrefix(dep, a+"/") {
			return true
		}
	}
	return false
}

// TestRulesCatch checks the matcher itself on imports that must fail.
func TestRulesCatch(t *testing.T) {
	for _, bad := range []struct{ pkg, dep string }{
		{"protocol", "workload"},
		{"spec", "workload/topology"},
		{"vmtest", "agent"},
		{"vmtest/matrix", "agent/builtin"},
		{"cmd/scxvm", "agent"},
		{"workload", "protocol"},
		{"host", "vmtest"},
		{"vmtest/compare", "host"},
		{"vmtest/compare", "protocol"},
	} {
		allowed, ok := allowedFor(bad.pkg)
		if !ok || permitted(bad.dep, allowed) {
			t.Errorf("%s importing %s would pass", bad.pkg, bad.dep)
		}
	}
}
