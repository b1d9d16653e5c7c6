package logbuf

import (
	"fmt"
	"sync"
)

// HeadTail is an io.Writer that keeps the first and the last bytes written
// to it and counts what it drops in between: a loader's verifier log can
// be megabytes long, but its head (the program) and its tail (the
// rejection) are what a developer reads. It is safe for concurrent use.
type HeadTail struct {
	mu      sync.Mutex
	max     int
	head    []byte
	tail    []byte // ring buffer once full
	start   int    // index of the oldest tail byte when full
	full    bool
	dropped int64
}

// NewHeadTail returns a buffer that keeps up to max bytes of head and max
// bytes of tail.
func NewHeadTail(max int) *HeadTail {
	return &HeadTail{max: max}
}

// Write implements io.Writer; it never fails.
func (b *HeadTail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := b.max - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		if !b.full {
			k := min(b.max-len(b.tail), len(p))
			b.tail = append(b.tail, p[:k]...)
			p = p[k:]
			if len(b.tail) == b.max {
				b.full = true
			}
			continue
		}
		// Overwrite the oldest bytes of the ring.
		if len(p) >= b.max {
			b.dropped += int64(b.max) + int64(len(p)-b.max)
			copy(b.tail, p[len(p)-b.max:])
			b.start = 0
			break
		}
		k := min(b.max-b.start, len(p))
		copy(b.tail[b.start:], p[:k])
		b.dropped += int64(k)
		b.start = (b.start + k) % b.max
		p = p[k:]
	}
	return n, nil
}

// String returns the head, a marker naming the dropped byte count when
// bytes were dropped, and the tail.
func (b *HeadTail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.head)
	if b.dropped > 0 {
		s += fmt.Sprintf("\n[... %d bytes elided ...]\n", b.dropped)
	}
	return s + string(b.tail[b.start:]) + string(b.tail[:b.start])
}
