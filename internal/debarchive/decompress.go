package debarchive

import (
	"compress/gzip"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/xi2/xz"
)

// Decompress returns a reader of the contents of r, which is compressed as
// the name's extension says (.xz, .zst, .gz; anything else is read as is).
// Close releases the decoder. xz is decoded by xi2/xz, several times
// faster than ulikunitz/xz on kernel modules; a .deb's data.tar.xz is
// decoded block-parallel (newXZReader).
func Decompress(name string, r io.Reader) (io.ReadCloser, error) {
	switch {
	case strings.HasSuffix(name, ".xz"):
		d, err := xz.NewReader(r, 0)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(d), nil
	case strings.HasSuffix(name, ".zst"):
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case strings.HasSuffix(name, ".gz"):
		return gzip.NewReader(r)
	}
	return io.NopCloser(r), nil
}
