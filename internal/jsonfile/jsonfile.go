// Package jsonfile writes the project's JSON files (results, reports)
// one way: indented, HTML characters unescaped so that targets such as
// "<= 1.15x" stay readable, ending in a newline.
package jsonfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Write encodes v into the file at path, replacing it; what names the
// file in errors ("matrix report").
func Write(path, what string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}
