package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// moduleName returns a module file's base name without .ko and compression
// suffix, and the compression ("", "xz", "zst" or "gz").
func moduleName(path string) (name, compression string) {
	base := filepath.Base(path)
	for _, c := range []string{"xz", "zst", "gz"} {
		if s, ok := strings.CutSuffix(base, ".ko."+c); ok {
			return s, c
		}
	}
	return strings.TrimSuffix(base, ".ko"), ""
}

// decompress reads path and undoes compression ("" copies as is).
func decompress(path, compression string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch compression {
	case "":
	case "xz":
		if r, err = xz.NewReader(f); err != nil {
			return nil, fmt.Errorf("decompress %s: %w", path, err)
		}
	case "zst":
		d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("decompress %s: %w", path, err)
		}
		defer d.Close()
		r = d
	case "gz":
		if r, err = gzip.NewReader(f); err != nil {
			return nil, fmt.Errorf("decompress %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("decompress %s: unknown compression %q", path, compression)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return nil, fmt.Errorf("decompress %s: %w", path, err)
	}
	return buf.Bytes(), nil
}
