package vmtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	suggestpkg "github.com/scxvm/scxvm/internal/suggest"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/workload"
)

// Scenario is a protocol.Scenario (what the guest runs) plus what only the
// host needs: a description, the checks' thresholds and a timeout. In YAML
// and JSON files the scenario's fields sit at the top level next to
// description, checks and timeout.
type Scenario struct {
	protocol.Scenario `yaml:",inline"`
	// Description says what the scenario exercises.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Checks are the pass/fail thresholds; the zero value means defaults.
	Checks Checks `json:"checks,omitempty" yaml:"checks,omitempty"`
	// Timeout bounds the job in the guest; zero means Duration + 30 s.
	Timeout time.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Scheduler, when set, overrides Config.Scheduler for this scenario,
	// so that one boot can run several schedulers (the scheduler matrix).
	// It is set from Go only, not from scenario files.
	Scheduler *SchedulerSpec `json:"-" yaml:"-"`
}

// duration returns the scenario's run time with the default applied.
func (s Scenario) duration() time.Duration {
	if s.Duration > 0 {
		return s.Duration
	}
	return 2 * time.Second
}

// timeout returns the job timeout with the default applied.
func (s Scenario) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return s.duration() + 30*time.Second
}

// ValidationError is an invalid scenario. Path locates the offending field
// ("cgroups[0].workloads[1].work_type.kind"); File and Line are set when
// the scenario came from a file.
type ValidationError struct {
	File string
	Line int
	Path string
	Msg  string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func invalid(path, format string, args ...any) *ValidationError {
	return &ValidationError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

var (
	stepActions = []protocol.StepAction{
		protocol.StepSetCpuset, protocol.StepSwapCpusets, protocol.StepAddCgroup,
		protocol.StepRemoveCgroup, protocol.StepMoveTasks, protocol.StepSetAffinity,
		protocol.StepSpawn, protocol.StepKillWorker, protocol.StepKillScheduler,
		protocol.StepSysRq, protocol.StepHang,
	}
	affinityKinds = []workload.AffinityKind{workload.AffinityInherit, workload.AffinityFixed, workload.AffinityRandom, workload.AffinitySingle}
	policyClasses = []workload.PolicyClass{workload.PolicyNormal, workload.PolicyBatch, workload.PolicyIdle, workload.PolicyFIFO, workload.PolicyRoundRobin}
	cloneModes    = []workload.CloneMode{workload.CloneProcess, workload.CloneThread}
)

func quoteAll[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		if v == "" {
			q[i] = `"" (default)`
		} else {
			q[i] = strconv.Quote(string(v))
		}
	}
	return strings.Join(q, ", ")
}

// Validate reports the first problem of the scenario as a
// *ValidationError, naming the field and the allowed values.
func (s Scenario) Validate() error {
	if s.Name == "" {
		return invalid("name", "missing scenario name")
	}
	if s.Duration < 0 {
		return invalid("duration", "negative duration %v", s.Duration)
	}
	if s.Timeout < 0 {
		return invalid("timeout", "negative timeout %v", s.Timeout)
	}
	if err := s.Checks.validate(); err != nil {
		return invalid("checks", "%v", err)
	}
	known := map[string]bool{}
	for i, cg := range s.Cgroups {
		p := fmt.Sprintf("cgroups[%d]", i)
		if err := validCgroupName(cg.Name); err != nil {
			return invalid(p+".name", "%v", err)
		}
		if known[cg.Name] {
			return invalid(p+".name", "duplicate cgroup %q", cg.Name)
		}
		known[cg.Name] = true
		if _, err := parseCPUList(cg.CPUs); err != nil {
			return invalid(p+".cpus", "%v", err)
		}
		if _, err := parseCPUList(cg.Mems); err != nil {
			return invalid(p+".mems", "%v", err)
		}
		for j, w := range cg.Workloads {
			if err := validWorkload(fmt.Sprintf("%s.workloads[%d]", p, j), w); err != nil {
				return err
			}
		}
	}
	for i, st := range s.Steps {
		p := fmt.Sprintf("steps[%d]", i)
		if !slices.Contains(stepActions, st.Action) {
			return invalid(p+".action", "unknown step action %q (allowed: %s)", st.Action, quoteAll(stepActions))
		}
		if st.At < 0 || st.At > s.duration() {
			return invalid(p+".at", "offset %v is outside the run (0-%v)", st.At, s.duration())
		}
		needCgroup := st.Action != protocol.StepKillScheduler && st.Action != protocol.StepSysRq && st.Action != protocol.StepHang
		if st.Action == protocol.StepAddCgroup {
			if err := validCgroupName(st.Cgroup); err != nil {
				return invalid(p+".cgroup", "%v", err)
			}
			known[st.Cgroup] = true
		} else if needCgroup && !known[st.Cgroup] {
			return invalid(p+".cgroup", "unknown cgroup %q (known: %s)", st.Cgroup, strings.Join(sortedKeys(known), ", "))
		}
		if (st.Action == protocol.StepSwapCpusets || st.Action == protocol.StepMoveTasks) && !known[st.Target] {
			return invalid(p+".target", "unknown cgroup %q (known: %s)", st.Target, strings.Join(sortedKeys(known), ", "))
		}
		if _, err := parseCPUList(st.CPUs); err != nil {
			return invalid(p+".cpus", "%v", err)
		}
		if st.Action == protocol.StepSetAffinity && st.CPUs == "" {
			return invalid(p+".cpus", "set_affinity needs cpus")
		}
		if st.Action == protocol.StepSysRq && len(st.Key) != 1 {
			return invalid(p+".key", "sysrq needs a one-character key (such as \"s\" or \"c\"), got %q", st.Key)
		}
		if st.Action == protocol.StepSpawn && len(st.Workloads) == 0 {
			return invalid(p+".workloads", "spawn needs workloads")
		}
		for j, w := range st.Workloads {
			if err := validWorkload(fmt.Sprintf("%s.workloads[%d]", p, j), w); err != nil {
				return err
			}
		}
	}
	for i, pl := range s.Payloads {
		p := fmt.Sprintf("payloads[%d]", i)
		if pl.Path == "" {
			return invalid(p+".path", "missing payload path")
		}
		if pl.Cgroup != "" && !known[pl.Cgroup] {
			return invalid(p+".cgroup", "unknown cgroup %q (known: %s)", pl.Cgroup, strings.Join(sortedKeys(known), ", "))
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func validCgroupName(n string) error {
	switch {
	case n == "":
		return errors.New("missing cgroup name")
	case strings.ContainsAny(n, "/\x00") || n == "." || n == "..":
		return fmt.Errorf("cgroup name %q must be a single path element", n)
	}
	return nil
}

func validWorkload(p string, w workload.WorkloadConfig) error {
	if w.NumWorkers < 1 {
		return invalid(p+".num_workers", "num_workers must be at least 1, got %d", w.NumWorkers)
	}
	if w.WorkType.Kind != "" {
		if _, err := workload.ParseWorkKind(string(w.WorkType.Kind)); err != nil {
			return invalid(p+".work_type.kind", "%v", err)
		}
	}
	if !slices.Contains(affinityKinds, w.Affinity.Kind) {
		return invalid(p+".affinity.kind", "unknown affinity kind %q (allowed: %s)", w.Affinity.Kind, quoteAll(affinityKinds))
	}
	if !slices.Contains(policyClasses, w.SchedPolicy.Class) {
		return invalid(p+".sched_policy.class", "unknown policy %q (allowed: %s)", w.SchedPolicy.Class, quoteAll(policyClasses))
	}
	rt := w.SchedPolicy.Class == workload.PolicyFIFO || w.SchedPolicy.Class == workload.PolicyRoundRobin
	if rt && (w.SchedPolicy.Priority < 1 || w.SchedPolicy.Priority > 99) {
		return invalid(p+".sched_policy.priority", "priority %d is outside 1-99", w.SchedPolicy.Priority)
	}
	if !slices.Contains(cloneModes, w.CloneMode) {
		return invalid(p+".clone_mode", "unknown clone mode %q (allowed: %s)", w.CloneMode, quoteAll(cloneModes))
	}
	if w.Nice < -20 || w.Nice > 19 {
		return invalid(p+".nice", "nice %d is outside -20..19", w.Nice)
	}
	return nil
}

// LoadScenarioFile reads one scenario, or a list of scenarios, from a YAML
// or JSON file. Decoding is strict: an unknown field, a bad value or an
// invalid scenario gives a *ValidationError naming the file, the line, the
// field and the allowed values.
func LoadScenarioFile(path string) ([]Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Field: "scenario file", Err: err}
	}
	return ParseScenarios(path, data)
}

// ParseScenarios decodes scenarios from YAML or JSON data; name is used in
// error messages.
func ParseScenarios(name string, data []byte) ([]Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ValidationError{File: name, Msg: "empty scenario file"}
		}
		return nil, &ValidationError{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var items []*yaml.Node
	switch root.Kind {
	case yaml.MappingNode:
		items = []*yaml.Node{root}
	case yaml.SequenceNode:
		items = root.Content
	default:
		return nil, &ValidationError{File: name, Line: root.Line, Msg: "a scenario file holds a mapping (one scenario) or a list of scenarios"}
	}
	var out []Scenario
	for i, item := range items {
		prefix := ""
		if root.Kind == yaml.SequenceNode {
			prefix = fmt.Sprintf("[%d].", i)
		}
		lines := map[string]int{}
		if err := checkFields(item, reflect.TypeFor[Scenario](), strings.TrimSuffix(prefix, "."), lines); err != nil {
			err.File = name
			return nil, err
		}
		var s Scenario
		if err := item.Decode(&s); err != nil {
			return nil, &ValidationError{File: name, Line: item.Line, Msg: decodeMessage(err)}
		}
		normalizeKinds(&s)
		if err := s.Validate(); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				ve.File = name
				ve.Path = prefix + ve.Path
				ve.Line = lineOf(lines, ve.Path, item.Line)
				return nil, ve
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// normalizeKinds rewrites work kinds to their canonical spelling
// ("pipeio" -> "PipeIo"); unknown kinds are left for Validate to report.
func normalizeKinds(s *Scenario) {
	fix := func(ws []workload.WorkloadConfig) {
		for i := range ws {
			if k, err := workload.ParseWorkKind(string(ws[i].WorkType.Kind)); err == nil && ws[i].WorkType.Kind != "" {
				ws[i].WorkType.Kind = k
			}
		}
	}
	for i := range s.Cgroups {
		fix(s.Cgroups[i].Workloads)
	}
	for i := range s.Steps {
		fix(s.Steps[i].Workloads)
	}
}

// decodeMessage trims yaml's error prefixes.
func decodeMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// lineOf returns the line of path, or of its closest recorded parent.
func lineOf(lines map[string]int, path string, def int) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return def
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	typeNames    = map[reflect.Type]string{
		reflect.TypeFor[Scenario]():                "scenario",
		reflect.TypeFor[protocol.Cgroup]():         "cgroup",
		reflect.TypeFor[protocol.Step]():           "step",
		reflect.TypeFor[protocol.Payload]():        "payload",
		reflect.TypeFor[workload.WorkloadConfig](): "workload",
		reflect.TypeFor[workload.WorkType]():       "work_type",
		reflect.TypeFor[workload.Affinity]():       "affinity",
		reflect.TypeFor[workload.SchedPolicy]():    "sched_policy",
		reflect.TypeFor[workload.MemPolicy]():      "mem_policy",
		reflect.TypeFor[workload.Phase]():          "phase",
		reflect.TypeFor[Checks]():                  "checks",
	}
)

// yamlFields maps the YAML keys of struct type t to their field types,
// following inline embedded structs.
func yamlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			sub, subNames := yamlFields(f.Type)
			for k, v := range sub {
				fields[k] = v
			}
			names = append(names, subNames...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

// checkFields walks n against type t, recording the line of every field
// path in lines, and reports the first unknown field.
func checkFields(n *yaml.Node, t reflect.Type, path string, lines map[string]int) *ValidationError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		if _, ok := lines[path]; !ok {
			lines[path] = n.Line
		}
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case t == durationType:
		if n.Kind == yaml.ScalarNode && n.Tag != "!!str" && n.Value != "0" {
			return &ValidationError{Line: n.Line, Path: path, Msg: fmt.Sprintf("duration %s needs a unit (such as \"%sms\" or \"%ss\")", n.Value, n.Value, n.Value)}
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type mismatch
		}
		fields, names := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field %q in %s (allowed: %s)", k.Value, typeName(t), strings.Join(names, ", "))
				if s := suggest(k.Value, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				return &ValidationError{Line: k.Line, Path: path, Msg: msg}
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			if err := checkFields(v, ft, p, lines); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
				return err
			}
		}
	}
	return nil
}

func typeName(t reflect.Type) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return strings.ToLower(t.Name())
}

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo.
func suggest(s string, candidates []string) string {
	return suggestpkg.Closest(s, candidates)
}
