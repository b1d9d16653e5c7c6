package matrix

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/scenariofile"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// Examples is the scheduler entry that stands for every example scheduler
// built for a kernel (`make schedulers` for cached kernels,
// tools/sched_ext/build/bin for a kernel tree), each with Defaults.
const Examples = "examples"

// Spec is a matrix as a user writes it, in a matrix file (LoadSpec) or in
// flags: the cross product of its kernels, topologies, schedulers and
// scenarios. Empty lists take a default: kernel "debian", scheduler
// "fifo", scenario "steady", the PresetsTCG topologies.
type Spec struct {
	// Kernels are names ("debian", "6.12"), paths of kernel images or
	// built kernel trees, as vmtest.Config.Kernel takes them.
	Kernels []string `json:"kernels,omitempty" yaml:"kernels,omitempty"`
	// Schedulers are the schedulers under test: "examples", a name, a
	// path, or a mapping with name or path, args and attach_timeout.
	Schedulers []SchedulerEntry `json:"schedulers,omitempty" yaml:"schedulers,omitempty"`
	// Scenarios are built-in scenario names or scenario files.
	Scenarios []string `json:"scenarios,omitempty" yaml:"scenarios,omitempty"`
	// Topologies are presets ("1n1l2c1t") or preset sets ("tcg", "kvm").
	Topologies []string `json:"topologies,omitempty" yaml:"topologies,omitempty"`
	// Duration, when positive, replaces every scenario's duration.
	Duration time.Duration `json:"duration,omitempty" yaml:"duration,omitempty"`
}

// SchedulerEntry is one scheduler of a Spec. In a file it is a string
// (ParseSchedulerEntry: "scx_qmap -e 100", "./scx_mine", "examples") or a
// mapping of spec.Scheduler's fields.
type SchedulerEntry struct {
	spec.Scheduler `yaml:",inline"`
}

// FileName names the type in a matrix file's errors.
func (SchedulerEntry) FileName() string { return "scheduler" }

// FileName names the type in a matrix file's errors.
func (Spec) FileName() string { return "matrix" }

// ParseSchedulerEntry reads a scheduler as a flag or a file's string
// gives it: the first word is a name, a path (with a slash) or Examples,
// the others are its arguments.
func ParseSchedulerEntry(s string) SchedulerEntry {
	f := strings.Fields(s)
	if len(f) == 0 {
		return SchedulerEntry{}
	}
	return SchedulerEntry{spec.ParseScheduler(f[0], f[1:])}
}

// UnmarshalYAML reads a string or a mapping.
func (e *SchedulerEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*e = ParseSchedulerEntry(n.Value)
		return nil
	}
	return n.Decode(&e.Scheduler)
}

// LoadSpec reads a matrix file (YAML or JSON) strictly, like scenario
// files: an unknown field, a bad value or an invalid entry is a
// *spec.ValidationError naming the file, the line and the field. Relative
// paths in it (kernels, scheduler binaries, scenario files) are taken
// relative to the file's directory.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &spec.ValidationError{File: path, Msg: fmt.Sprintf("cannot read matrix file: %v", errors.Unwrap(err))}
	}
	return ParseSpec(path, data, filepath.Dir(path))
}

// ParseSpec decodes a matrix file's data; name is used in error messages
// and relative paths are taken relative to dir.
func ParseSpec(name string, data []byte, dir string) (*Spec, error) {
	var s Spec
	lines := map[string]int{}
	if err := scenariofile.DecodeStrict(name, data, &s, lines); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		var ve *spec.ValidationError
		if errors.As(err, &ve) {
			ve.File = name
			ve.Line = scenariofile.LineOf(lines, ve.Path, 0)
		}
		return nil, err
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) || dir == "" {
			return p
		}
		return filepath.Join(dir, p)
	}
	for i, k := range s.Kernels {
		if strings.ContainsRune(k, '/') {
			s.Kernels[i] = rel(k)
		}
	}
	for i := range s.Schedulers {
		s.Schedulers[i].Path = rel(s.Schedulers[i].Path)
	}
	for i, sc := range s.Scenarios {
		if isFile(sc) {
			s.Scenarios[i] = rel(sc)
		}
	}
	return &s, nil
}

// isFile reports whether a scenario entry names a file rather than a
// built-in scenario.
func isFile(s string) bool {
	return strings.ContainsRune(s, '/') || strings.HasSuffix(s, ".yaml") || strings.HasSuffix(s, ".yml") || strings.HasSuffix(s, ".json")
}

// Validate checks what can be checked without the kernel cache or the
// scenario files: no empty entries, a name or a path for each scheduler
// (not both) and valid thresholds (checks), known topologies, no negative
// duration. Errors are *spec.ValidationError with the field's path.
func (s *Spec) Validate() error {
	for i, k := range s.Kernels {
		if strings.TrimSpace(k) == "" {
			return &spec.ValidationError{Path: fmt.Sprintf("kernels[%d]", i), Msg: "empty kernel"}
		}
	}
	for i, e := range s.Schedulers {
		p := fmt.Sprintf("schedulers[%d]", i)
		switch {
		case e.Name == "" && e.Path == "":
			return &spec.ValidationError{Path: p, Msg: "want a name or a path"}
		case e.Name != "" && e.Path != "":
			return &spec.ValidationError{Path: p + ".path", Msg: "give a name or a path, not both"}
		case e.Name == Examples && len(e.Args) > 0:
			return &spec.ValidationError{Path: p + ".args", Msg: "examples takes no arguments (name the scheduler to give it some)"}
		case e.AttachTimeout < 0:
			return &spec.ValidationError{Path: p + ".attach_timeout", Msg: "negative"}
		}
		if err := e.Checks.Validate(); err != nil {
			var ve *spec.ValidationError
			if errors.As(err, &ve) {
				return &spec.ValidationError{Path: p + ".checks." + ve.Path, Msg: ve.Msg}
			}
			return fmt.Errorf("%s.checks: %w", p, err)
		}
	}
	for i, sc := range s.Scenarios {
		if strings.TrimSpace(sc) == "" {
			return &spec.ValidationError{Path: fmt.Sprintf("scenarios[%d]", i), Msg: "empty scenario"}
		}
		if !isFile(sc) && !slices.Contains(vmtest.ScenarioNames(), sc) {
			_, err := vmtest.LookupScenario(sc) // its message lists the names
			msg := err.Error()
			var ce *vmtest.ConfigError
			if errors.As(err, &ce) {
				msg = ce.Msg
			}
			return &spec.ValidationError{Path: fmt.Sprintf("scenarios[%d]", i), Msg: msg}
		}
	}
	if _, err := ExpandTopologies(s.Topologies); err != nil {
		return err
	}
	if s.Duration < 0 {
		return &spec.ValidationError{Path: "duration", Msg: "negative"}
	}
	return nil
}

// Plan is an expanded Spec: its cells in their canonical order (kernel,
// then topology, then scenario, then scheduler, so that the cells of one
// boot are adjacent), each with its Index, and the scenarios they name.
type Plan struct {
	Cells     []Cell
	Scenarios map[string]spec.Scenario
	// Duration is the Spec's.
	Duration time.Duration
}

// Plan expands s into cells. It reads scenario files and, for the
// Examples entry, the schedulers built for each kernel in cacheDir.
func (s *Spec) Plan(cacheDir string) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	kernels := s.Kernels
	if len(kernels) == 0 {
		kernels = []string{kernel.Debian}
	}
	scheds := s.Schedulers
	if len(scheds) == 0 {
		scheds = []SchedulerEntry{{spec.Scheduler{Name: spec.SchedulerFIFO}}}
	}
	names := s.Scenarios
	if len(names) == 0 {
		names = []string{vmtest.DefaultScenario}
	}
	topos, err := ExpandTopologies(s.Topologies)
	if err != nil {
		return nil, err
	}
	p := &Plan{Scenarios: map[string]spec.Scenario{}, Duration: s.Duration}
	var scenarios []string
	for _, n := range names {
		ss, err := vmtest.ResolveScenarios([]string{n})
		if err != nil {
			return nil, err
		}
		for _, sc := range ss {
			if _, dup := p.Scenarios[sc.Name]; dup {
				if !isFile(n) {
					continue // a built-in named twice
				}
				return nil, &spec.ValidationError{File: n, Path: "name", Msg: fmt.Sprintf("scenario %q is defined twice in the matrix", sc.Name)}
			}
			p.Scenarios[sc.Name] = sc
			scenarios = append(scenarios, sc.Name)
		}
	}
	seen := map[string]bool{}
	for _, kn := range kernels {
		var ks []spec.Scheduler
		for _, e := range scheds {
			if e.Name != Examples {
				ks = append(ks, e.Scheduler)
				continue
			}
			ex, err := AllCells(cacheDir, []string{kn}, []string{""})
			if err != nil {
				return nil, err
			}
			for _, c := range ex {
				// The entry's thresholds are every example's layer.
				sched := c.Scheduler
				sched.Checks = e.Checks.Layer(sched.Checks)
				ks = append(ks, sched)
			}
		}
		for _, topo := range topos {
			for _, sc := range scenarios {
				for _, sched := range ks {
					c := Cell{Kernel: kn, Topology: topo, Scheduler: sched, Scenario: sc}
					if seen[c.Key()] {
						continue
					}
					seen[c.Key()] = true
					c.Index = len(p.Cells)
					p.Cells = append(p.Cells, c)
				}
			}
		}
	}
	return p, nil
}
