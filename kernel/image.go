package kernel

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/scxvm/scxvm/internal/cachedir"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Offsets in the x86 boot protocol's setup header
// (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1f1
	offSysSize       = 0x1f4
	offHeaderMagic   = 0x202
	offVersion       = 0x206
	offKernelVersion = 0x20e
	offPayloadOffset = 0x248
	offPayloadLength = 0x24c
	setupHeaderEnd   = 0x250
)

// maxImageSize bounds what Inspect reads into memory: a compressed image
// and the vmlinux decompressed from it.
const maxImageSize = 1 << 30

// image is a kernel image read into memory.
type image struct {
	format      string // "bzImage" or "elf"
	release     string // from the setup header or the banner
	compression string // payload compression of a bzImage
	raw         []byte // the file as read
	vmlinux     []byte // the ELF: the file itself, or the decompressed payload
	decompErr   error  // why the payload could not be decompressed
	// cached is a vmlinux extracted from this bzImage earlier (the
	// cache's vmlinux/ area), read instead of decompressing, on demand.
	cached string
}

// useCachedVMLinux points img at the vmlinux ExtractPVH cached for it,
// when there is one.
func (img *image) useCachedVMLinux(cacheDir string) {
	sum := sha256.Sum256(img.raw)
	p := filepath.Join(cacheDir, cachedir.VMLinux, "vmlinux-"+hex.EncodeToString(sum[:])[:32])
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return
	}
	kind, _, err := payload(img.raw)
	if err != nil {
		return
	}
	img.cached, img.compression = p, kind
}

// readImage reads a bzImage or an ELF vmlinux and its release when the
// setup header (or, for an ELF, the banner) has it. The payload of a bzImage
// is decompressed only on demand, by decompress. A file that is no x86-64
// kernel, or whose sizes contradict its boot header or ELF headers, gives a
// *BadImageError.
func readImage(path string) (*image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxImageSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > maxImageSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxImageSize)
	}
	img := &image{raw: raw}
	switch {
	case bytes.HasPrefix(raw, []byte(elf.ELFMAG)):
		if reason, err := checkELFKernel(raw); reason != "" {
			return nil, &BadImageError{Path: path, Reason: reason, Err: err}
		}
		img.format = "elf"
		img.vmlinux = raw
		img.release = bannerRelease(raw)
	case isBzImage(raw):
		if reason := checkBzImage(raw); reason != "" {
			return nil, &BadImageError{Path: path, Reason: reason}
		}
		img.format = "bzImage"
		img.release = headerRelease(raw)
		img.compression, _, _ = payload(raw)
	default:
		return nil, &BadImageError{Path: path, Reason: describeOther(raw)}
	}
	return img, nil
}

// decompress recovers the ELF vmlinux of a bzImage (once) and fills in the
// release from its banner when the header had none.
func (img *image) decompress() error {
	if img.vmlinux != nil || img.decompErr != nil {
		return img.decompErr
	}
	if img.cached != "" {
		// Read only when the payload itself is wanted (no config file).
		return nil
	}
	img.compression, img.vmlinux, img.decompErr = bzPayload(img.raw)
	if img.release == "" && img.vmlinux != nil {
		img.release = bannerRelease(img.vmlinux)
	}
	return img.decompErr
}

// isBzImage reports whether raw starts with an x86 boot sector carrying the
// "HdrS" setup header signature.
func isBzImage(raw []byte) bool {
	return len(raw) >= setupHeaderEnd && string(raw[offHeaderMagic:offHeaderMagic+4]) == "HdrS"
}

// headerRelease returns the release from the kernel_version string the
// setup header points to ("6.12.117 (user@host) #1 SMP ...").
func headerRelease(raw []byte) string {
	ptr := int(binary.LittleEndian.Uint16(raw[offKernelVersion:]))
	if ptr == 0 {
		return ""
	}
	start := ptr + 0x200
	if start >= len(raw) {
		return ""
	}
	end := bytes.IndexByte(raw[start:], 0)
	if end < 0 {
		return ""
	}
	fields := strings.Fields(string(raw[start : start+end]))
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// payloadBytes returns the decompressed payload (the vmlinux): the cached
// one when there is one, else the decompressed image (decompress first).
func (img *image) payloadBytes() []byte {
	if img.vmlinux == nil && img.cached != "" {
		b, err := os.ReadFile(img.cached)
		if err != nil {
			img.cached = ""
			img.decompress()
			return img.vmlinux
		}
		img.vmlinux = b
		if img.release == "" {
			img.release = bannerRelease(b)
		}
	}
	return img.vmlinux
}

// bannerRelease finds "Linux version RELEASE " in a decompressed kernel.
func bannerRelease(b []byte) string {
	const banner = "Linux version "
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(banner))
		if i < 0 {
			return ""
		}
		rest := b[off+i+len(banner):]
		end := bytes.IndexAny(rest, " \x00\n")
		// The banner format string ("Linux version %s ...") also occurs;
		// a release starts with a digit.
		if end > 0 && rest[0] >= '0' && rest[0] <= '9' {
			return string(rest[:end])
		}
		off += i + len(banner)
	}
}

// Magic numbers of the payload compressions the kernel supports.
var payloadMagics = []struct {
	name  string
	magic []byte
}{
	{"gzip", []byte{0x1f, 0x8b, 0x08}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}},
	{"bzip2", []byte{'B', 'Z', 'h'}},
	{"lzma", []byte{0x5d, 0x00, 0x00}},
	{"lzo", []byte{0x89, 'L', 'Z', 'O', 0x00}},
	{"none", []byte(elf.ELFMAG)},
}

// payload locates the compressed vmlinux inside a bzImage through the setup
// header's payload_offset/payload_length and names its compression by magic.
func payload(raw []byte) (compression string, data []byte, err error) {
	version := binary.LittleEndian.Uint16(raw[offVersion:])
	if version < 0x0208 {
		return "", nil, fmt.Errorf("boot protocol %#x predates payload fields", version)
	}
	setupSects := int(raw[offSetupSects])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(raw[offPayloadOffset:]))
	length := int(binary.LittleEndian.Uint32(raw[offPayloadLength:]))
	if start < 0 || length <= 0 || start+length > len(raw) {
		return "", nil, fmt.Errorf("payload [%d, +%d) outside the %d-byte image", start, length, len(raw))
	}
	data = raw[start : start+length]
	for _, m := range payloadMagics {
		if bytes.HasPrefix(data, m.magic) {
			return m.name, data, nil
		}
	}
	return "unknown", nil, fmt.Errorf("unknown payload compression (magic % x)", data[:min(6, len(data))])
}

// bzPayload decompresses the vmlinux inside a bzImage.
func bzPayload(raw []byte) (compression string, vmlinux []byte, err error) {
	compression, data, err := payload(raw)
	if err != nil {
		return compression, nil, err
	}
	vmlinux, err = decompress(compression, data)
	return compression, vmlinux, err
}

// errUnsupportedCompression is wrapped by decompress for a payload format
// the kernel knows and this package cannot decompress (lzo).
var errUnsupportedCompression = errors.New("payload compression not supported")

// decompress inflates a kernel payload and checks the result: no decoder
// error, an ELF file, and the size the kernel's build recorded. Every
// compressor but gzip is followed by that size (scripts/Makefile.lib
// size_append, a little-endian uint32), which is cut off before decoding;
// gzip's own trailer carries it and the decoder checks it.
func decompress(kind string, payload []byte) ([]byte, error) {
	if kind == "none" {
		return payload, nil
	}
	want := -1
	if len(payload) >= 4 {
		want = int(binary.LittleEndian.Uint32(payload[len(payload)-4:]))
	}
	r, done, err := payloadReader(kind, payload)
	if err != nil {
		return nil, err
	}
	defer done()
	var out bytes.Buffer
	if want > 0 && want <= maxImageSize {
		out.Grow(want)
	}
	n, err := io.Copy(&out, io.LimitReader(r, maxImageSize+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s payload: %w", kind, err)
	case n > maxImageSize:
		return nil, fmt.Errorf("%s payload: decompresses to more than %d bytes", kind, maxImageSize)
	case !bytes.HasPrefix(out.Bytes(), []byte(elf.ELFMAG)):
		return nil, fmt.Errorf("%s payload: result is not an ELF file", kind)
	case want >= 0 && uint32(n) != uint32(want):
		return nil, fmt.Errorf("%s payload: decompressed to %d bytes, the image records %d", kind, n, want)
	}
	return out.Bytes(), nil
}

// payloadReader returns a reader of the decompressed payload; done
// releases the decoder. The 4-byte size the build appends after the
// compressed stream is cut off first (gzip's own trailer holds it), so
// that a strict decoder reads exactly the stream.
func payloadReader(kind string, payload []byte) (r io.Reader, done func(), err error) {
	done = func() {}
	stream := payload
	if kind != "gzip" && kind != "none" && len(payload) >= 4 {
		stream = payload[:len(payload)-4]
	}
	in := bytes.NewReader(stream)
	switch kind {
	case "none":
		return bytes.NewReader(payload), done, nil
	case "gzip":
		var zr *gzip.Reader
		zr, err = gzip.NewReader(in)
		if err == nil {
			zr.Multistream(false)
			r = zr
		}
	case "xz":
		var xr *xz.Reader
		xr, err = xz.NewReader(in)
		if err == nil {
			xr.SingleStream = true
			r = xr
		}
	case "zstd":
		var zr *zstd.Decoder
		zr, err = zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
		if err == nil {
			done = zr.Close
			r = zr
		}
	case "lz4":
		r = lz4.NewReader(in)
	case "bzip2":
		r = bzip2.NewReader(in)
	case "lzma":
		r, err = lzma.NewReader(in)
	default:
		return nil, done, fmt.Errorf("%s: %w (extract it with scripts/extract-vmlinux and pass the ELF vmlinux)", kind, errUnsupportedCompression)
	}
	if err != nil {
		return nil, done, fmt.Errorf("%s payload: %w", kind, err)
	}
	return r, done, nil
}
