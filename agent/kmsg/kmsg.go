package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Device is the kernel log device.
const Device = "/dev/kmsg"

// Record is one kernel log record.
type Record struct {
	// Level is the syslog level, 0 (emerg) to 7 (debug).
	Level int
	// Facility is the syslog facility (0 = kernel).
	Facility int
	// Seq is the record's sequence number; gaps mean lost records.
	Seq uint64
	// Time is the record's timestamp since boot (CLOCK_MONOTONIC in the
	// kernel's printk clock).
	Time time.Duration
	// Cont marks a continuation fragment (flag 'c' or '+').
	Cont bool
	// Text is the message, with the kernel's \xNN escapes left as they are.
	Text string
}

// ErrMalformed is returned (wrapped) for a record that does not parse.
var ErrMalformed = errors.New("malformed kmsg record")

// ParseRecord parses one record line "PRI,SEQ,TS_USEC,FLAGS[,...];TEXT"
// without its trailing newline and dictionary lines.
func ParseRecord(line string) (Record, error) {
	var r Record
	prefix, text, ok := strings.Cut(line, ";")
	if !ok {
		return r, fmt.Errorf("%w: no ';' in %q", ErrMalformed, truncate(line))
	}
	f := strings.Split(prefix, ",")
	if len(f) < 4 {
		return r, fmt.Errorf("%w: %d prefix fields in %q, want >= 4", ErrMalformed, len(f), truncate(line))
	}
	pri, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return r, fmt.Errorf("%w: priority %q", ErrMalformed, f[0])
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return r, fmt.Errorf("%w: sequence %q", ErrMalformed, f[1])
	}
	ts, err := strconv.ParseUint(f[2], 10, 63)
	if err != nil {
		return r, fmt.Errorf("%w: timestamp %q", ErrMalformed, f[2])
	}
	r.Level = int(pri & 7)
	r.Facility = int(pri >> 3)
	r.Seq = seq
	r.Time = time.Duration(ts) * time.Microsecond
	r.Cont = f[3] == "c" || f[3] == "+"
	r.Text = text
	return r, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// maxRecord bounds one /dev/kmsg read; the kernel fails reads into a
// buffer smaller than the next record with EINVAL.
const maxRecord = 16 << 10

// Reader reads records from /dev/kmsg or from any stream in the same
// format (one record per line, dictionary lines starting with a space).
type Reader struct {
	r       io.Reader
	buf     []byte
	pending []byte
	// Lost counts records the kernel overwrote before they were read.
	Lost uint64
	last uint64
	seen bool
	err  error
}

// NewReader returns a Reader over r. Every Read of r gets a buffer of
// 16 KiB, which /dev/kmsg needs; partial lines are carried over, so plain
// files and pipes work too.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, buf: make([]byte, maxRecord)}
}

// Open opens /dev/kmsg for reading from the oldest record in the buffer.
// Close the file to stop a Reader blocked in Next.
func Open() (*os.File, error) {
	f, err := os.Open(Device)
	if err != nil {
		return nil, fmt.Errorf("open kernel log: %w", err)
	}
	return f, nil
}

// Next returns the next record. It blocks while the underlying reader
// does. Malformed lines are skipped; records overwritten by the kernel
// (EPIPE from /dev/kmsg) are counted in Lost. At the end of the stream it
// returns io.EOF, or the underlying read error.
func (r *Reader) Next() (Record, error) {
	for {
		if i := bytes.IndexByte(r.pending, '\n'); i >= 0 {
			line := string(r.pending[:i])
			r.pending = r.pending[i+1:]
			if line == "" || line[0] == ' ' {
				continue // dictionary line or blank
			}
			rec, err := ParseRecord(line)
			if err != nil {
				continue
			}
			if r.seen && rec.Seq > r.last+1 {
				r.Lost += rec.Seq - r.last - 1
			}
			r.seen, r.last = true, rec.Seq
			return rec, nil
		}
		if r.err != nil {
			if len(r.pending) > 0 {
				// A final line without newline.
				r.pending = append(r.pending, '\n')
				continue
			}
			return Record{}, r.err
		}
		n, err := r.r.Read(r.buf)
		if len(r.pending) > 4*maxRecord {
			r.pending = r.pending[:0] // no newline in 64 KiB: not kmsg
		}
		r.pending = append(r.pending, r.buf[:n]...)
		switch {
		case errors.Is(err, syscall.EPIPE):
			// The kernel overwrote records we had not read; the next read
			// continues at the oldest available one.
		case errors.Is(err, syscall.EAGAIN):
			// Only with a non-blocking reader: nothing to read.
			return Record{}, err
		case err != nil:
			r.err = err
		}
	}
}
