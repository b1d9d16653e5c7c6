package spec

import (
	"fmt"
	"strings"
)

// ValidationError is an invalid test definition. Path locates the offending
// field in scenario-file terms ("cgroups[0].workloads[1].work_type.kind");
// File and Line are set when the definition came from a file. Every
// validation in this package returns one, so host, guest and CLI report a
// mistake the same way.
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

// invalid returns a *ValidationError for the field at path.
func invalid(path, format string, args ...any) *ValidationError {
	return &ValidationError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// within prefixes the path of a *ValidationError from a nested value with
// the path of that value ("cgroups[0].workloads[1]" + "nice"); other errors
// become a *ValidationError at prefix.
func within(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if ve, ok := err.(*ValidationError); ok {
		out := *ve
		switch {
		case out.Path == "":
			out.Path = prefix
		case prefix != "":
			out.Path = prefix + "." + out.Path
		}
		return &out
	}
	return &ValidationError{Path: prefix, Msg: err.Error()}
}
