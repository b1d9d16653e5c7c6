package matrix

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
)

func TestParseSpec(t *testing.T) {
	good := `# a matrix
kernels: [debian, ../linux]
schedulers:
  - fifo
  - "scx_qmap -e 100"
  - name: scx_pair
    attach_timeout: 45s
  - path: bin/scx_mine
    args: [-v]
scenarios: [steady, mine.yaml]
topologies: [tcg, 2n2l4c2t]
duration: 1s
`
	s, err := ParseSpec("m.yaml", []byte(good), "ci")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"debian", filepath.Join("ci", "../linux")}; !slices.Equal(s.Kernels, want) {
		t.Errorf("kernels %q, want %q", s.Kernels, want)
	}
	wantScheds := []spec.Scheduler{
		{Name: "fifo", Args: []string{}},
		{Name: "scx_qmap", Args: []string{"-e", "100"}},
		{Name: "scx_pair", AttachTimeout: 45 * time.Second},
		{Path: filepath.Join("ci", "bin/scx_mine"), Args: []string{"-v"}},
	}
	if len(s.Schedulers) != len(wantScheds) {
		t.Fatalf("schedulers %+v", s.Schedulers)
	}
	for i, w := range wantScheds {
		g := s.Schedulers[i].Scheduler
		if g.Name != w.Name || g.Path != w.Path || !slices.Equal(g.Args, w.Args) && len(g.Args)+len(w.Args) > 0 || g.AttachTimeout != w.AttachTimeout {
			t.Errorf("schedulers[%d] = %+v, want %+v", i, g, w)
		}
	}
	if want := []string{"steady", filepath.Join("ci", "mine.yaml")}; !slices.Equal(s.Scenarios, want) {
		t.Errorf("scenarios %q, want %q", s.Scenarios, want)
	}
	if s.Duration != time.Second || !slices.Equal(s.Topologies, []string{"tcg", "2n2l4c2t"}) {
		t.Errorf("duration %v topologies %q", s.Duration, s.Topologies)
	}

	// The same as JSON.
	js := `{"kernels": ["6.12"], "schedulers": ["scx_simple", {"name": "scx_qmap", "args": ["-e", "5"]}], "duration": "2s"}`
	s, err = ParseSpec("m.json", []byte(js), "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Schedulers[1].Name != "scx_qmap" || !slices.Equal(s.Schedulers[1].Args, []string{"-e", "5"}) || s.Duration != 2*time.Second {
		t.Errorf("json: %+v", s)
	}

	for _, tc := range []struct {
		name, data string
		want       string // the whole error message
	}{
		{"unknown field", "kernels: [debian]\nschedulers:\n  - name: scx_qmap\n    arg: [-v]\n",
			`m.yaml:4: schedulers[0]: unknown field "arg" in scheduler (allowed: name, path, args, attach_timeout, checks); did you mean "args"?`},
		{"unknown top-level field", "kernel: [debian]\n",
			`m.yaml:1: unknown field "kernel" in matrix (allowed: kernels, schedulers, scenarios, topologies, duration); did you mean "kernels"?`},
		{"duration without unit", "duration: 5\n", `m.yaml:1: duration: duration 5 needs a unit (such as "5ms" or "5s")`},
		{"short topology", "topologies:\n  - tcg\n  - 2n2l\n", `m.yaml:3: topologies[1]: "2n2l": write it as "2n2l2c1t" (all four parts, in order)`},
		{"bad topology", "topologies: [big]\n", `m.yaml:1: topologies[0]: "big": `},
		{"unknown scenario", "scenarios:\n  - steady\n  - stedy\n", `m.yaml:3: scenarios[1]: unknown scenario "stedy"`},
		{"name and path", "schedulers:\n  - fifo\n  - {name: a, path: ./b}\n", `m.yaml:3: schedulers[1].path: give a name or a path, not both`},
		{"bad threshold", "schedulers:\n  - fifo\n  - name: scx_simple\n    checks:\n      rate_dip_pct: 150\n",
			`m.yaml:5: schedulers[1].checks.rate_dip_pct: 150 is outside 0-100`},
		{"examples with args", "schedulers:\n  - examples -v\n", `m.yaml:2: schedulers[0].args: examples takes no arguments`},
		{"wrong type", "kernels: debian\n", `m.yaml:1: line 1: cannot unmarshal !!str`},
		{"a list", "- steady\n", `m.yaml:1: want a mapping of matrix`},
		{"empty", "", `m.yaml: empty file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec("m.yaml", []byte(tc.data), "")
			var ve *spec.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T), want a *spec.ValidationError", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n%s\nwant it to start with\n%s", err, tc.want)
			}
		})
	}
}

func TestExpandTopologies(t *testing.T) {
	def, err := ExpandTopologies(nil)
	if err != nil || !slices.Equal(def, PresetSet(PresetsTCG)) || len(def) < 3 {
		t.Fatalf("default %q (%v), want the tcg set", def, err)
	}
	for _, p := range def {
		tp, err := spec.ParseTopology(p)
		if err != nil || tp.CPUs() < 2 || tp.CPUs() > 4 {
			t.Errorf("tcg preset %s: %d cpus (%v), want 2-4 (the scenarios pin to cpus 0 and 1)", p, tp.CPUs(), err)
		}
	}
	for _, p := range PresetSet(PresetsKVM) {
		if tp, err := spec.ParseTopology(p); err != nil || tp.CPUs() <= 4 || tp.String() != p {
			t.Errorf("kvm preset %s: %v %v", p, tp, err)
		}
	}
	got, err := ExpandTopologies([]string{"2n2l4c2t", "tcg", "1n1l2c1t"})
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{"2n2l4c2t"}, def...); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q (in order, each once)", got, want)
	}
}

func TestPlan(t *testing.T) {
	s := &Spec{
		Kernels:    []string{"debian", "6.12"},
		Schedulers: []SchedulerEntry{ParseSchedulerEntry("fifo"), ParseSchedulerEntry("error"), ParseSchedulerEntry("fifo")},
		Scenarios:  []string{"steady", "pingpong"},
		Topologies: []string{"1n1l2c1t", "2n1l1c1t"},
		Duration:   time.Second,
	}
	p, err := s.Plan(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cells) != 2*2*2*2 {
		t.Fatalf("%d cells, want 16 (fifo twice counts once)", len(p.Cells))
	}
	for i, c := range p.Cells {
		if c.Index != i {
			t.Errorf("cell %d has index %d", i, c.Index)
		}
	}
	// Kernel, then topology, then scenario, then scheduler: the cells of
	// one boot are adjacent.
	want := []string{"debian/fifo/steady@1n1l2c1t", "debian/error/steady@1n1l2c1t", "debian/fifo/pingpong@1n1l2c1t", "debian/error/pingpong@1n1l2c1t", "debian/fifo/steady@2n1l1c1t"}
	for i, w := range want {
		if p.Cells[i].Key() != w {
			t.Errorf("cell %d = %s, want %s", i, p.Cells[i].Key(), w)
		}
	}
	if p.Scenarios["pingpong"].Name != "pingpong" || p.Duration != time.Second {
		t.Errorf("scenarios %v duration %v", p.Scenarios, p.Duration)
	}
	p2, _ := s.Plan(t.TempDir())
	if p.ID() != p2.ID() {
		t.Error("the same spec gives two plan IDs")
	}
	s.Topologies = []string{"1n1l2c1t"}
	if p3, _ := s.Plan(t.TempDir()); p3.ID() == p.ID() {
		t.Error("different plans share an ID")
	}
	// Defaults: debian, fifo, steady, the tcg set.
	d, err := (&Spec{}).Plan(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Cells) != len(PresetSet(PresetsTCG)) || d.Cells[0].Key() != "debian/fifo/steady@"+PresetSet(PresetsTCG)[0] {
		t.Errorf("default plan: %v", d.Cells)
	}
	// examples needs built schedulers.
	if _, err := (&Spec{Schedulers: []SchedulerEntry{ParseSchedulerEntry(Examples)}}).Plan(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not in cache") {
		t.Errorf("examples without a cache: %v", err)
	}
}

// An examples entry's checks are the layer of every example scheduler it
// stands for, over Defaults' settings.
func TestPlanExamplesChecks(t *testing.T) {
	tree := t.TempDir()
	for _, p := range []string{"Makefile", "Kconfig", "scripts/kconfig/Makefile", ".config", "arch/x86/boot/bzImage"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tree, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Any ELF file is a built scheduler to kernel.Schedulers.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elf, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tree, "tools/sched_ext/build/bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"scx_pair", "scx_simple"} {
		if err := os.WriteFile(filepath.Join(bin, n), elf, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := ParseSchedulerEntry(Examples)
	e.Checks = spec.Checks{MaxGap: 3 * time.Second, Skip: []string{spec.CheckRateDip}}
	p, err := (&Spec{Kernels: []string{tree}, Schedulers: []SchedulerEntry{e}, Topologies: []string{"1n1l2c1t"}}).Plan(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cells) != 2 {
		t.Fatalf("cells %v, want scx_pair and scx_simple", p.Cells)
	}
	for _, c := range p.Cells {
		if !reflect.DeepEqual(c.Scheduler.Checks, e.Checks) {
			t.Errorf("%s: checks %+v, want the entry's %+v", c.Key(), c.Scheduler.Checks, e.Checks)
		}
		if c.Scheduler.Name == "scx_pair" && c.Scheduler.AttachTimeout != Defaults["scx_pair"].AttachTimeout {
			t.Errorf("%s lost its default attach timeout", c.Key())
		}
	}
}
