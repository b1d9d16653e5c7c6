package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/scxvm/scxvm/vmtest"
)

// ErrNotResult is returned by Read for JSON that is not a run result.
var ErrNotResult = errors.New("not an scxvm run result (write one with scxvm run --json FILE)")

// Read decodes a run result written by vmtest.Result.WriteJSON (scxvm run
// --json).
func Read(r io.Reader) (*vmtest.Result, error) {
	var res vmtest.Result
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if res.Scenarios == nil && res.Kernel.Name == "" && res.Failure == nil {
		return nil, fmt.Errorf("read result: %w", ErrNotResult)
	}
	return &res, nil
}

// ReadFile decodes the run result in the named file.
func ReadFile(path string) (*vmtest.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	defer f.Close()
	res, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}
