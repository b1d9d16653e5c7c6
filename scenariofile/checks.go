package scenariofile

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/scxvm/scxvm/spec"
)

// Off is the value that turns a check off in ParseCheck ("NAME=off").
const Off = "off"

// ParseCheck reads one threshold setting as a command line gives it,
// "KEY=VALUE" or "NAME=off", into a layer of checks. KEY is a threshold's
// scenario-file key ("max_p99_wake_latency") or the name of a check with
// one threshold ("p99_wake_latency"); VALUE is written as in a scenario
// file's checks ("20ms", "0.5") and decoded and validated by the same
// rules. NAME=off skips the check NAME (a check's name, or a threshold's
// key for its check). Errors are *spec.ValidationError with name as their
// file and the threshold's key as their path; an unknown name suggests
// the likely intended one.
func ParseCheck(name, setting string) (spec.Checks, error) {
	bad := func(path, format string, args ...any) error {
		return &spec.ValidationError{File: name, Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	key, value, ok := strings.Cut(setting, "=")
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if !ok || key == "" || value == "" {
		return spec.Checks{}, bad("", "want KEY=VALUE (a threshold, as in a scenario's checks) or CHECK=off")
	}
	check := spec.CheckOfKey(key)
	if check == "" {
		if !slices.Contains(spec.CheckNames, key) {
			var keys []string
			for _, d := range spec.CheckDocs() {
				keys = append(keys, strings.Split(d.Field, ", ")...)
			}
			msg := fmt.Sprintf("unknown check or threshold %q (thresholds: %s; checks: %s)", key, strings.Join(keys, ", "), strings.Join(spec.CheckNames, ", "))
			if s := suggest(key, append(keys, spec.CheckNames...)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return spec.Checks{}, bad("", "%s", msg)
		}
		check = key
		if value != Off {
			switch keys := spec.CheckKeys(check); len(keys) {
			case 0:
				return spec.Checks{}, bad(check, "the check has no threshold; %s=off turns it off", check)
			case 1:
				key = keys[0]
			default:
				return spec.Checks{}, bad(check, "the check has %d thresholds: set %s", len(keys), strings.Join(keys, "=..., ")+"=...")
			}
		}
	}
	if value == Off {
		return spec.Checks{Skip: []string{check}}, nil
	}
	// The value goes through the scenario files' decoder as the one
	// field of a checks mapping, built as a node so that no value can
	// add fields of its own.
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: key},
		{Kind: yaml.ScalarNode, Value: value},
	}}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return spec.Checks{}, fmt.Errorf("encode %s: %w", key, err)
	}
	var c spec.Checks
	if err := DecodeStrict(name, data, &c, nil); err != nil {
		var ve *spec.ValidationError
		if !errors.As(err, &ve) {
			return spec.Checks{}, err
		}
		if ve.Path == "" {
			// The decoder's own message names the line of a document
			// the user never saw.
			what := "a number"
			if fields, _ := yamlFields(reflect.TypeFor[spec.Checks]()); fields[key] == durationType {
				what = `a duration (such as "20ms" or "1.5s")`
			}
			return spec.Checks{}, bad(key, "%q is not %s", value, what)
		}
		ve.Line = 0
		return spec.Checks{}, ve
	}
	if err := c.Validate(); err != nil {
		var ve *spec.ValidationError
		if errors.As(err, &ve) {
			ve.File = name
		}
		return spec.Checks{}, err
	}
	if reflect.ValueOf(c).IsZero() {
		return spec.Checks{}, bad(key, "%s inherits the layer below; give a positive value, or %s=off to skip the check", value, check)
	}
	return c, nil
}

// LoadChecks reads a layer of checks from a YAML or JSON file holding
// what a scenario's `checks:` holds (skip and thresholds), strictly and
// validated as in a scenario file: errors are *spec.ValidationError with
// the file, the line and the field.
func LoadChecks(path string) (spec.Checks, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return spec.Checks{}, &spec.ValidationError{File: path, Msg: fmt.Sprintf("cannot read checks file: %v", errors.Unwrap(err))}
	}
	return ParseChecks(path, data)
}

// ParseChecks decodes a layer of checks from YAML or JSON data as
// LoadChecks does; name is used in error messages.
func ParseChecks(name string, data []byte) (spec.Checks, error) {
	var c spec.Checks
	lines := map[string]int{}
	if err := DecodeStrict(name, data, &c, lines); err != nil {
		return spec.Checks{}, err
	}
	if err := c.Validate(); err != nil {
		var ve *spec.ValidationError
		if errors.As(err, &ve) {
			ve.File = name
			ve.Line = lineOf(lines, ve.Path, 0)
		}
		return spec.Checks{}, err
	}
	return c, nil
}
