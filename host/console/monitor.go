package console

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/scxvm/scxvm/ktext"
)

// Event is one kernel failure report found on the console.
type Event struct {
	Kind   ktext.IncidentKind `json:"kind"`
	Line   string             `json:"line"`    // the line that matched, as printed
	LineNo int                `json:"line_no"` // 1-based line number in the console stream
	Time   time.Time          `json:"time"`    // when the host read the line
	Before []string           `json:"before"`  // lines just before Line, oldest first
	After  []string           `json:"after"`   // lines just after Line (the trace)
}

// String returns the kind and the matched line.
func (e Event) String() string {
	return fmt.Sprintf("%s: %s", e.Kind, ktext.StripTimestamp(e.Line))
}

// Excerpt returns the matched line with its context, one line per line,
// the matched line marked with "> ".
func (e Event) Excerpt() string {
	var b strings.Builder
	for _, l := range e.Before {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("> " + e.Line + "\n")
	for _, l := range e.After {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// Options configures a Monitor. The zero value is valid.
type Options struct {
	// Log receives every byte written to the Monitor, unchanged.
	Log io.Writer
	// TailLines is the size of the ring buffer of recent lines
	// (default 1000).
	TailLines int
	// Before and After bound the context kept around a detected line
	// (defaults 10 and 40).
	Before, After int
	// AfterWait bounds how long an event waits for its After lines before
	// it is emitted anyway (default 500ms).
	AfterWait time.Duration
	// Now returns the current time (default time.Now); for tests.
	Now func() time.Time
}

// maxLine bounds the length of one line; longer runs are split.
const maxLine = 4096

// Monitor is an io.Writer that a console stream is copied into. It is
// safe for concurrent use.
type Monitor struct {
	opts Options

	mu        sync.Mutex
	partial   []byte
	ring      []string // circular, len <= opts.TailLines
	head      int      // index of the oldest line once the ring is full
	lines     int      // lines seen
	pending   []*pendingEvent
	incidents []Event
	events    chan Event
	closed    bool
	logErr    error
}

type pendingEvent struct {
	ev    Event
	timer *time.Timer
}

// NewMonitor returns a Monitor with the given options.
func NewMonitor(opts Options) *Monitor {
	if opts.TailLines <= 0 {
		opts.TailLines = 1000
	}
	if opts.Before <= 0 {
		opts.Before = 10
	}
	if opts.After <= 0 {
		opts.After = 40
	}
	if opts.AfterWait <= 0 {
		opts.AfterWait = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Monitor{opts: opts, events: make(chan Event, 64)}
}

// Write copies p to the log, splits it into lines and runs the detectors.
// It never fails because of the log: a log write error is kept and
// returned by LogErr, so that the console keeps draining.
func (m *Monitor) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opts.Log != nil && m.logErr == nil {
		if _, err := m.opts.Log.Write(p); err != nil {
			m.logErr = err
		}
	}
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			m.partial = append(m.partial, rest...)
			for len(m.partial) >= maxLine {
				m.line(string(m.partial[:maxLine]))
				m.partial = append(m.partial[:0], m.partial[maxLine:]...)
			}
			break
		}
		if len(m.partial) > 0 {
			m.partial = append(m.partial, rest[:i]...)
			m.line(string(m.partial))
			m.partial = m.partial[:0]
		} else {
			m.line(string(rest[:i]))
		}
		rest = rest[i+1:]
	}
	return len(p), nil
}

// line handles one complete line; m.mu is held.
func (m *Monitor) line(l string) {
	l = strings.TrimRight(l, "\r")
	m.lines++
	// Feed the After context of events still collecting.
	keep := m.pending[:0]
	for _, p := range m.pending {
		p.ev.After = append(p.ev.After, l)
		if len(p.ev.After) >= m.opts.After || endOfReport(l) {
			m.emit(p)
			continue
		}
		keep = append(keep, p)
	}
	m.pending = keep

	if k, ok := ktext.Detect(l); ok && !m.closed {
		p := &pendingEvent{ev: Event{
			Kind:   k,
			Line:   l,
			LineNo: m.lines,
			Time:   m.opts.Now(),
			Before: m.tailLocked(m.opts.Before),
		}}
		p.timer = time.AfterFunc(m.opts.AfterWait, func() { m.flush(p) })
		m.pending = append(m.pending, p)
	}
	m.push(l)
}

// endOfReport reports whether l closes a kernel report ("---[ end trace
// ... ]---" or "---[ end Kernel panic ... ]---").
func endOfReport(l string) bool {
	return strings.Contains(l, "---[ end ")
}

// flush emits p if it is still pending.
func (m *Monitor) flush(p *pendingEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, q := range m.pending {
		if q == p {
			m.pending = append(m.pending[:i], m.pending[i+1:]...)
			m.emit(p)
			return
		}
	}
}

// emit records p and offers it on the events channel; m.mu is held.
func (m *Monitor) emit(p *pendingEvent) {
	if p.timer != nil {
		p.timer.Stop()
	}
	m.incidents = append(m.incidents, p.ev)
	if m.closed {
		return
	}
	select {
	case m.events <- p.ev:
	default: // nobody listening fast enough; Incidents still has it
	}
}

func (m *Monitor) push(l string) {
	if len(m.ring) < m.opts.TailLines {
		m.ring = append(m.ring, l)
		return
	}
	m.ring[m.head] = l
	m.head = (m.head + 1) % len(m.ring)
}

func (m *Monitor) tailLocked(n int) []string {
	if n > len(m.ring) {
		n = len(m.ring)
	}
	out := make([]string, 0, n)
	for i := len(m.ring) - n; i < len(m.ring); i++ {
		out = append(out, m.ring[(m.head+i)%len(m.ring)])
	}
	return out
}

// Tail returns up to n of the most recent complete lines, oldest first,
// followed by the current unterminated line if any.
func (m *Monitor) Tail(n int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.tailLocked(n)
	if len(m.partial) > 0 {
		out = append(out, strings.TrimRight(string(m.partial), "\r"))
		if len(out) > n {
			out = out[1:]
		}
	}
	return out
}

// Lines returns the number of complete lines seen so far.
func (m *Monitor) Lines() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lines
}

// Events returns a channel on which each detected report is sent once its
// context is collected. Sends never block: if the channel's buffer is
// full the event is only recorded in Incidents. The channel is closed by
// Close.
func (m *Monitor) Events() <-chan Event { return m.events }

// Incidents returns every report detected so far, including those still
// collecting context, in the order they were completed.
func (m *Monitor) Incidents() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]Event(nil), m.incidents...)
	for _, p := range m.pending {
		ev := p.ev
		ev.After = append([]string(nil), ev.After...)
		out = append(out, ev)
	}
	return out
}

// LogErr returns the first error writing to Options.Log, if any.
func (m *Monitor) LogErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logErr
}

// Close ends the stream: an unterminated last line is processed, pending
// events are emitted and the Events channel is closed. Close is
// idempotent; writes after Close still reach the log and the ring buffer.
func (m *Monitor) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	if len(m.partial) > 0 {
		l := string(m.partial)
		m.partial = m.partial[:0]
		m.line(l)
	}
	for _, p := range m.pending {
		m.emit(p)
	}
	m.pending = nil
	m.closed = true
	close(m.events)
	return nil
}
