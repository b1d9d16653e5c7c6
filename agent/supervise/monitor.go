package supervise

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/scxvm/scxvm/agent/kmsg"
	"github.com/scxvm/scxvm/agent/scxfs"
	"github.com/scxvm/scxvm/ktext"
)

// maxTrailing bounds the kernel lines kept after a disable line.
const maxTrailing = 64

// watch is the monitor's view of what has happened so far.
type watch struct {
	sawEnabled  bool         // this scheduler's "enabled" line went by
	disabled    *kmsg.Record // the scheduler's "disabled (REASON)" record
	line        ktext.SchedLine
	trailing    []string
	stateLeft   bool
	lastState   scxfs.Status
	loaderGone  bool // loader exited, or the built-in was closed by Signal
	stopping    bool
	waitedExit  bool
	waitedLine  bool
	triggeredAt time.Time
}

// monitor runs from attachment until the loader is gone and the terminal
// event has been emitted.
func (s *Supervisor) monitor() {
	defer close(s.ended)
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var killTimer <-chan time.Time

	var w watch
	exited := s.exited // nil for built-ins
	stopc := s.stopc
	trigger := func(d time.Duration) {
		if w.triggeredAt.IsZero() {
			w.triggeredAt = time.Now()
			s.triggered.Store(true)
		}
		settle.Reset(d)
	}
	for {
		select {
		case rec := <-s.kernel:
			if s.takeKernel(&w, rec) {
				trigger(s.cfg.TrailingWait)
			}
		case <-exited:
			exited = nil
			w.loaderGone = true
			if w.waitedExit || w.stopping {
				trigger(0)
			} else {
				trigger(s.cfg.TrailingWait)
			}
		case <-tick.C:
			if _, ok := s.Terminal(); ok || w.stopping {
				break
			}
			s.mu.Lock()
			killed := s.killed != 0
			s.mu.Unlock()
			st, err := scxfs.Read(s.cfg.SchedExtDir)
			left := !s.asAttached(st, err)
			w.lastState = st
			if killed && !w.loaderGone {
				w.loaderGone = true
				trigger(s.cfg.TrailingWait)
			}
			if left && !w.stateLeft {
				s.cfg.Logf("scheduler %s: sched_ext reads state %q, ops %q, enable_seq %d (attached: ops %q, enable_seq %d; read error: %v)",
					s.name(), st.State, st.Ops, st.EnableSeq, s.ops, s.baseSeq, err)
				w.stateLeft = true
				trigger(s.cfg.TrailingWait)
			}
		case <-stopc:
			stopc = nil
			w.stopping = true
			if _, ok := s.Terminal(); ok && (s.cmd == nil || w.loaderGone) {
				return
			}
			killTimer = s.requestStop()
			if s.cmd == nil {
				w.loaderGone = true
				trigger(s.cfg.TrailingWait)
			}
		case <-killTimer:
			killTimer = nil
			s.cfg.Logf("scheduler %s: no exit %v after SIGINT, sending SIGKILL", s.name(), s.cfg.StopGrace)
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		case <-settle.C:
			if _, ok := s.Terminal(); ok {
				// Terminal already sent; only the loader's end matters now.
				if w.stopping && (s.cmd == nil || w.loaderGone) {
					return
				}
				break
			}
			if w.stopping && !w.loaderGone {
				break // the loader exit will trigger again
			}
			if w.stateLeft && w.disabled == nil && !w.waitedLine && !w.stopping {
				// The kernel prints its reason after it changed the state,
				// and the log reaches us later still: give it time.
				w.waitedLine = true
				settle.Reset(s.cfg.ExitWait)
				break
			}
			if w.stateLeft && w.disabled == nil && !w.loaderGone && !w.stopping && s.stillAttached() {
				// The state read that showed the scheduler gone is
				// contradicted: no kernel line, the loader runs, and
				// sched_ext shows it attached as before. Keep watching.
				s.cfg.Logf("scheduler %s: attached after all (ops %q, enable_seq %d); still watching", s.name(), s.ops, s.baseSeq)
				w.stateLeft, w.waitedLine, w.waitedExit = false, false, false
				w.triggeredAt = time.Time{}
				s.triggered.Store(false)
				break
			}
			ejection := (w.disabled != nil && w.line.Abnormal()) || (w.stateLeft && w.disabled == nil && !w.loaderGone)
			if ejection && !w.loaderGone && !w.waitedExit && s.cmd != nil && !w.stopping {
				// Give the loader a moment to print its exit info and exit.
				w.waitedExit = true
				settle.Reset(s.cfg.ExitWait)
				break
			}
			s.finish(s.decide(&w))
			if w.stopping || s.cmd == nil || w.loaderGone {
				return
			}
		}
	}
}

// asAttached reports whether a reading of sched_ext shows this scheduler
// attached as it was: enabled, its ops, the enable_seq of its attach.
func (s *Supervisor) asAttached(st scxfs.Status, err error) bool {
	return err == nil && st.Attached() && st.Ops == s.ops && st.EnableSeq == s.baseSeq
}

// stillAttached reads sched_ext now: see asAttached.
func (s *Supervisor) stillAttached() bool {
	return s.asAttached(scxfs.Read(s.cfg.SchedExtDir))
}

// takeKernel records a kernel line; it reports whether the line matters.
func (s *Supervisor) takeKernel(w *watch, rec kmsg.Record) bool {
	l, ok := ktext.ParseSchedExt(rec.Text)
	if w.disabled == nil {
		if ok && l.Kind == ktext.Enabled && l.Scheduler == s.ops {
			w.sawEnabled = true
		}
		// A disable line before our enable line is a previous scheduler's
		// (the feed may start early), unless the state already says we
		// are gone and the enable line was lost.
		if ok && l.Kind == ktext.Disabled && l.Scheduler == s.ops && (w.sawEnabled || w.stateLeft) {
			w.disabled, w.line = &rec, l
			return true
		}
		return false
	}
	if len(w.trailing) >= maxTrailing {
		return false
	}
	// The exit message, stall lines and the stack trace that follow.
	if (ok && l.Scheduler == s.ops && l.Kind != ktext.Enabled) || strings.HasPrefix(rec.Text, " ") || rec.Cont {
		w.trailing = append(w.trailing, rec.Text)
		return true
	}
	return false
}

// requestStop asks the scheduler to unload and returns the SIGKILL timer.
func (s *Supervisor) requestStop() <-chan time.Time {
	if s.cmd == nil {
		if s.bi != nil {
			if err := s.bi.Close(); err != nil {
				s.cfg.Logf("scheduler %s: close: %v", s.name(), err)
			}
		}
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	return time.After(s.cfg.StopGrace)
}

// decide turns what was watched into the terminal event, with the
// kernel's debug dump when the scheduler went away against its will.
func (s *Supervisor) decide(w *watch) Event {
	e := s.decideKind(w)
	if e.Kind == Ejected || e.Kind == Died {
		s.takeDump(&e)
	}
	return e
}

// decideKind classifies what was watched.
func (s *Supervisor) decideKind(w *watch) Event {
	st, err := scxfs.Read(s.cfg.SchedExtDir)
	if err != nil {
		st = w.lastState
	}
	e := Event{Scheduler: s.name(), EnableSeq: st.EnableSeq, State: st.State, KernelLines: w.trailing}
	if w.disabled != nil {
		e.KernelLine = w.disabled.Text
	}
	s.fillExit(&e)
	e.Log = s.log.String()
	switch {
	case w.disabled != nil && w.line.Abnormal():
		e.Kind, e.Reason = Ejected, w.line.Reason
	case w.stopping:
		e.Kind, e.Reason = Detached, "stopped"
	case w.loaderGone:
		e.Kind = Died
		switch {
		case e.Signal != 0:
			e.Reason = fmt.Sprintf("loader killed by signal %d (%s)", e.Signal, syscall.Signal(e.Signal))
		default:
			e.Reason = fmt.Sprintf("loader exited with status %d", e.ExitCode)
		}
	case w.disabled != nil:
		e.Kind, e.Reason = Detached, w.line.Reason
	default:
		e.Kind = Ejected
		e.Reason = fmt.Sprintf("sched_ext state %q, ops %q, enable_seq %d (was %d): left enabled without a kernel log line",
			st.State, st.Ops, st.EnableSeq, s.baseSeq)
	}
	return e
}
