// Package scenariofile reads scenarios from YAML or JSON files: strictly,
// so that an unknown field, a value of the wrong type or an invalid
// scenario is reported with the file, the line, the field's path and the
// allowed values. The scenario itself and its validation are package
// spec's.
package scenariofile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	suggestpkg "github.com/scxvm/scxvm/internal/suggest"
	"github.com/scxvm/scxvm/spec"
)

// Load reads one scenario, or a list of scenarios, from a YAML
// or JSON file. Decoding is strict: an unknown field, a bad value or an
// invalid scenario gives a *spec.ValidationError naming the file, the line, the
// field and the allowed values.
func Load(path string) ([]spec.Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &spec.ValidationError{File: path, Msg: fmt.Sprintf("cannot read scenario file: %v", errors.Unwrap(err))}
	}
	return Parse(path, data)
}

// Parse decodes scenarios from YAML or JSON data; name is used in
// error messages.
func Parse(name string, data []byte) ([]spec.Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &spec.ValidationError{File: name, Msg: "empty scenario file"}
		}
		return nil, &spec.ValidationError{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
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
		if len(items) == 0 {
			// Zero scenarios would run nothing and pass.
			return nil, &spec.ValidationError{File: name, Line: root.Line, Msg: "empty list: a scenario file holds at least one scenario"}
		}
	default:
		return nil, &spec.ValidationError{File: name, Line: root.Line, Msg: "a scenario file holds a mapping (one scenario) or a list of scenarios"}
	}
	var out []spec.Scenario
	for i, item := range items {
		prefix := ""
		if root.Kind == yaml.SequenceNode {
			prefix = fmt.Sprintf("[%d].", i)
		}
		lines := map[string]int{}
		if err := checkFields(item, reflect.TypeFor[spec.Scenario](), strings.TrimSuffix(prefix, "."), lines); err != nil {
			err.File = name
			return nil, err
		}
		var s spec.Scenario
		if err := item.Decode(&s); err != nil {
			return nil, &spec.ValidationError{File: name, Line: item.Line, Msg: decodeMessage(err)}
		}
		normalizeKinds(&s)
		if err := s.Validate(); err != nil {
			var ve *spec.ValidationError
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

// DecodeStrict decodes one YAML or JSON mapping from data into v (a
// pointer to a struct) by the rules Parse reads scenarios with: an
// unknown field (with the allowed ones and a likely intended one), a bare
// number for a duration or a value of the wrong type is a
// *spec.ValidationError with name as its file, the line and the field's
// path. lines, when not nil, receives the line of every field path
// ("schedulers[1].args"), so that the caller's own validation can name
// the line of the field it rejects (LineOf).
func DecodeStrict(name string, data []byte, v any, lines map[string]int) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &spec.ValidationError{File: name, Msg: "empty file"}
		}
		return &spec.ValidationError{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("scenariofile.DecodeStrict: %T is not a pointer to a struct", v)
	}
	if root.Kind != yaml.MappingNode {
		return &spec.ValidationError{File: name, Line: root.Line, Msg: "want a mapping of " + typeName(t.Elem())}
	}
	if lines == nil {
		lines = map[string]int{}
	}
	if err := checkFields(root, t.Elem(), "", lines); err != nil {
		err.File = name
		return err
	}
	if err := root.Decode(v); err != nil {
		return &spec.ValidationError{File: name, Line: root.Line, Msg: decodeMessage(err)}
	}
	return nil
}

// LineOf returns the line DecodeStrict recorded for path, or for its
// closest parent, or def.
func LineOf(lines map[string]int, path string, def int) int { return lineOf(lines, path, def) }

// normalizeKinds rewrites work kinds to their canonical spelling
// ("pipeio" -> "PipeIo"); unknown kinds are left for Validate to report.
func normalizeKinds(s *spec.Scenario) {
	fix := func(ws []spec.WorkloadConfig) {
		for i := range ws {
			if k, err := spec.ParseWorkKind(string(ws[i].WorkType.Kind)); err == nil && ws[i].WorkType.Kind != "" {
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
		reflect.TypeFor[spec.Scenario]():       "scenario",
		reflect.TypeFor[spec.Cgroup]():         "cgroup",
		reflect.TypeFor[spec.Step]():           "step",
		reflect.TypeFor[spec.Payload]():        "payload",
		reflect.TypeFor[spec.WorkloadConfig](): "workload",
		reflect.TypeFor[spec.WorkType]():       "work_type",
		reflect.TypeFor[spec.Affinity]():       "affinity",
		reflect.TypeFor[spec.SchedPolicy]():    "sched_policy",
		reflect.TypeFor[spec.MemPolicy]():      "mem_policy",
		reflect.TypeFor[spec.Phase]():          "phase",
		reflect.TypeFor[spec.Checks]():         "checks",
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
func checkFields(n *yaml.Node, t reflect.Type, path string, lines map[string]int) *spec.ValidationError {
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
			return &spec.ValidationError{Line: n.Line, Path: path, Msg: fmt.Sprintf("duration %s needs a unit (such as \"%sms\" or \"%ss\")", n.Value, n.Value, n.Value)}
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
				return &spec.ValidationError{Line: k.Line, Path: path, Msg: msg}
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

// Named is implemented by types that DecodeStrict reads and that name
// themselves in its errors ("unknown field "x" in NAME"); other types go
// by their lower-cased Go name.
type Named interface{ FileName() string }

func typeName(t reflect.Type) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	if n, ok := reflect.Zero(t).Interface().(Named); ok {
		return n.FileName()
	}
	return strings.ToLower(t.Name())
}

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo.
func suggest(s string, candidates []string) string {
	return suggestpkg.Closest(s, candidates)
}
