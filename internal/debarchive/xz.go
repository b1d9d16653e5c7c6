package debarchive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"

	"github.com/xi2/xz"
	"golang.org/x/sync/semaphore"
)

// An xz file (https://tukaani.org/xz/xz-file-format.txt) is a stream
// header, blocks, an index and a footer. Multi-threaded xz (and dpkg-deb,
// which compresses large packages that way) cuts the data into blocks of a
// few times the dictionary size and records each block's compressed and
// uncompressed size in its header, so that a reader can find where every
// block starts without decoding the one before. newXZReader uses that to
// decode up to GOMAXPROCS blocks at once: each block is handed to xi2/xz
// (the decoder pault.ag/go/debian uses too) wrapped as a one-block stream
// of its own, with an index and footer made for it, so that the decoder
// checks the block's header CRC, its integrity check and its sizes as it
// would in the original stream. Files without sizes in their block headers
// are decoded sequentially.

const (
	xzHeaderSize = 12
	xzFooterSize = 12
	// xzMaxBlock bounds the uncompressed size of a block held in memory
	// while it waits for its turn: larger blocks are decoded sequentially.
	xzMaxBlock = 256 << 20
	// xzMaxBuffered bounds the decoded bytes held at once across blocks.
	xzMaxBuffered = 512 << 20
)

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

// xzCheckSize is the size of a block's integrity check for the stream's
// check type (the low four bits of the stream flags).
func xzCheckSize(checkType byte) int {
	if checkType == 0 {
		return 0
	}
	return 4 << ((checkType - 1) / 3)
}

// xzBlock is one block found by its header.
type xzBlock struct {
	off, size    int64 // where the whole block is in the file, with padding and check
	unpadded     int64 // header + compressed data + check, as the index counts it
	uncompressed int64
}

// newXZReader returns a reader of the decompressed contents of the xz file
// in r, decoding blocks in parallel where their headers allow it.
func newXZReader(r *io.SectionReader) (io.ReadCloser, error) {
	hdr := make([]byte, xzHeaderSize)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("xz: stream header: %w", err)
	}
	if !bytes.Equal(hdr[:6], xzMagic) || hdr[6] != 0 || hdr[7] > 0x0f ||
		crc32.ChecksumIEEE(hdr[6:8]) != binary.LittleEndian.Uint32(hdr[8:]) {
		return nil, errors.New("xz: bad stream header")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &xzParallel{
		r: r, header: hdr, checkSize: int64(xzCheckSize(hdr[7] & 0x0f)),
		cancel: cancel,
		queue:  make(chan chan xzResult, runtime.GOMAXPROCS(0)),
		cpus:   semaphore.NewWeighted(int64(runtime.GOMAXPROCS(0))),
		mem:    semaphore.NewWeighted(xzMaxBuffered),
	}
	go p.dispatch(ctx)
	return p, nil
}

// xzParallel decodes blocks on worker goroutines and hands their output
// to Read in the file's order.
type xzParallel struct {
	r         *io.SectionReader
	header    []byte
	checkSize int64
	cancel    context.CancelFunc

	queue chan chan xzResult  // one result channel per block, in order
	cpus  *semaphore.Weighted // blocks being decoded
	mem   *semaphore.Weighted // decoded bytes not yet read
	cur   []byte              // the block being read
	held  int64               // what cur holds of mem
	seq   io.Reader           // sequential decoding, after a fallback
	done  int64               // bytes handed to Read's callers
	err   error               // sticky
}

// xzResult is a decoded block, or a request to go on sequentially.
type xzResult struct {
	data       []byte
	weight     int64
	sequential bool
	err        error
}

// dispatch finds the blocks by their headers and starts a decoder for
// each; the first block it cannot place asks Read to go on sequentially.
func (p *xzParallel) dispatch(ctx context.Context) {
	defer close(p.queue)
	off := int64(xzHeaderSize)
	var blocks []xzBlock
	for {
		b, ok, err := p.nextBlock(off)
		if err == nil && !ok && b.off == 0 {
			// The index: every block is queued.
			switch single, err := p.checkIndex(off, blocks); {
			case err != nil:
				p.enqueue(ctx, xzResult{err: err})
			case !single:
				// More streams or padding follow: the sequential
				// decoder goes on from the end of this one.
				p.enqueue(ctx, xzResult{sequential: true})
			}
			return
		}
		if err != nil || !ok {
			p.enqueue(ctx, xzResult{sequential: true})
			return
		}
		blocks = append(blocks, b)
		weight := min(b.uncompressed, xzMaxBuffered)
		if err := p.mem.Acquire(ctx, weight); err != nil {
			return
		}
		if err := p.cpus.Acquire(ctx, 1); err != nil {
			p.mem.Release(weight)
			return
		}
		res := make(chan xzResult, 1)
		if !p.enqueueChan(ctx, res) {
			p.cpus.Release(1)
			p.mem.Release(weight)
			return
		}
		go func() {
			defer p.cpus.Release(1)
			data, err := p.decodeBlock(b)
			res <- xzResult{data: data, weight: weight, err: err}
		}()
		off = b.off + b.size
	}
}

func (p *xzParallel) enqueue(ctx context.Context, r xzResult) {
	c := make(chan xzResult, 1)
	c <- r
	p.enqueueChan(ctx, c)
}

func (p *xzParallel) enqueueChan(ctx context.Context, c chan xzResult) bool {
	select {
	case p.queue <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

// nextBlock reads the block header at off. ok is false at the index (b.off
// is then 0) and for a block that cannot be decoded on its own (no sizes
// in its header, or too large to hold).
func (p *xzParallel) nextBlock(off int64) (b xzBlock, ok bool, err error) {
	first := make([]byte, 1)
	if _, err := p.r.ReadAt(first, off); err != nil {
		return b, false, fmt.Errorf("xz: block header at %d: %w", off, err)
	}
	if first[0] == 0 {
		return b, false, nil // index indicator
	}
	b.off = off
	hsize := (int64(first[0]) + 1) * 4
	h := make([]byte, hsize)
	if _, err := p.r.ReadAt(h, off); err != nil {
		return b, false, fmt.Errorf("xz: block header at %d: %w", off, err)
	}
	if crc32.ChecksumIEEE(h[:hsize-4]) != binary.LittleEndian.Uint32(h[hsize-4:]) {
		return b, false, nil // let the sequential decoder report it
	}
	flags := h[1]
	if flags&0x40 == 0 || flags&0x80 == 0 {
		return b, false, nil
	}
	rest := h[2 : hsize-4]
	comp, n := binary.Uvarint(rest)
	if n <= 0 {
		return b, false, nil
	}
	uncomp, m := binary.Uvarint(rest[n:])
	if m <= 0 || comp == 0 || comp > 1<<40 || uncomp > xzMaxBlock {
		return b, false, nil
	}
	b.unpadded = hsize + int64(comp) + p.checkSize
	b.size = hsize + (int64(comp)+3)&^3 + p.checkSize
	b.uncompressed = int64(uncomp)
	return b, true, nil
}

// checkIndex compares the stream's index, at off, with the blocks that
// were decoded. single reports that the stream's footer ends the file.
func (p *xzParallel) checkIndex(off int64, blocks []xzBlock) (single bool, err error) {
	foot := make([]byte, xzFooterSize)
	if p.r.Size() < off+xzFooterSize {
		return false, nil
	}
	if _, err := p.r.ReadAt(foot, p.r.Size()-xzFooterSize); err != nil {
		return false, fmt.Errorf("xz: stream footer: %w", err)
	}
	idxSize := (int64(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	if string(foot[10:]) != "YZ" || !bytes.Equal(foot[8:10], p.header[6:8]) ||
		crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot) ||
		off+idxSize+xzFooterSize != p.r.Size() {
		return false, nil
	}
	idx := make([]byte, idxSize)
	if _, err := p.r.ReadAt(idx, off); err != nil {
		return false, fmt.Errorf("xz: index: %w", err)
	}
	bad := fmt.Errorf("xz: the index does not match the %d blocks", len(blocks))
	if crc32.ChecksumIEEE(idx[:idxSize-4]) != binary.LittleEndian.Uint32(idx[idxSize-4:]) {
		return false, errors.New("xz: bad index checksum")
	}
	rest := idx[1 : idxSize-4]
	count, n := binary.Uvarint(rest)
	if n <= 0 || count != uint64(len(blocks)) {
		return false, bad
	}
	rest = rest[n:]
	for _, b := range blocks {
		unpadded, n := binary.Uvarint(rest)
		if n <= 0 {
			return false, bad
		}
		uncomp, m := binary.Uvarint(rest[n:])
		if m <= 0 || int64(unpadded) != b.unpadded || int64(uncomp) != b.uncompressed {
			return false, bad
		}
		rest = rest[n+m:]
	}
	for _, c := range rest {
		if c != 0 {
			return false, bad
		}
	}
	return true, nil
}

// decodeBlock decodes one block as a stream of its own.
func (p *xzParallel) decodeBlock(b xzBlock) ([]byte, error) {
	stream := io.MultiReader(
		bytes.NewReader(p.header),
		io.NewSectionReader(p.r, b.off, b.size),
		bytes.NewReader(xzTail(p.header[6:8], b)),
	)
	d, err := xz.NewReader(stream, 0)
	if err != nil {
		return nil, fmt.Errorf("xz: block at %d: %w", b.off, err)
	}
	out := make([]byte, b.uncompressed)
	if _, err := io.ReadFull(d, out); err != nil {
		return nil, fmt.Errorf("xz: block at %d: %w", b.off, err)
	}
	// The end of the one-block stream: the decoder checks the index it
	// was given against the block it decoded.
	if n, err := d.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("more data than its header says")
		}
		return nil, fmt.Errorf("xz: block at %d: %w", b.off, err)
	}
	return out, nil
}

// xzTail is the index and footer of a stream that holds block b alone.
func xzTail(flags []byte, b xzBlock) []byte {
	idx := []byte{0, 1}
	idx = binary.AppendUvarint(idx, uint64(b.unpadded))
	idx = binary.AppendUvarint(idx, uint64(b.uncompressed))
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	idx = binary.LittleEndian.AppendUint32(idx, crc32.ChecksumIEEE(idx))
	foot := make([]byte, 4, xzFooterSize)
	foot = binary.LittleEndian.AppendUint32(foot, uint32(len(idx)/4-1))
	foot = append(foot, flags...)
	binary.LittleEndian.PutUint32(foot, crc32.ChecksumIEEE(foot[4:10]))
	foot = append(foot, 'Y', 'Z')
	return append(idx, foot...)
}

// Read implements io.Reader.
func (p *xzParallel) Read(buf []byte) (int, error) {
	for p.err == nil && len(p.cur) == 0 && p.seq == nil {
		p.release()
		c, ok := <-p.queue
		if !ok {
			p.err = io.EOF
			break
		}
		res := <-c
		switch {
		case res.err != nil:
			p.err = res.err
		case res.sequential:
			p.err = p.startSequential()
		default:
			p.cur, p.held = res.data, res.weight
		}
	}
	if p.seq != nil && p.err == nil {
		n, err := p.seq.Read(buf)
		p.done += int64(n)
		return n, err
	}
	if len(p.cur) == 0 {
		return 0, p.err
	}
	n := copy(buf, p.cur)
	p.cur = p.cur[n:]
	p.done += int64(n)
	return n, nil
}

// startSequential decodes the file from its start with one decoder and
// skips what the parallel decoders already gave.
func (p *xzParallel) startSequential() error {
	d, err := xz.NewReader(io.NewSectionReader(p.r, 0, p.r.Size()), 0)
	if err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	if _, err := io.CopyN(io.Discard, d, p.done); err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	p.seq = d
	return nil
}

// release gives back the memory of the block read last.
func (p *xzParallel) release() {
	if p.held > 0 {
		p.mem.Release(p.held)
		p.held = 0
	}
	p.cur = nil
}

// Close stops the decoders and waits for them to let go of the file.
func (p *xzParallel) Close() error {
	p.cancel()
	p.release()
	for c := range p.queue {
		if res := <-c; res.weight > 0 {
			p.mem.Release(res.weight)
		}
	}
	if p.err == nil {
		p.err = errors.New("xz: reader closed")
	}
	return nil
}
