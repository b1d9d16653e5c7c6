package vmtest

import (
	"fmt"
	"path/filepath"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
)

// Several schedulers in one boot: a spec.Scenario whose Scheduler field is set
// runs under that scheduler instead of Config.Scheduler. Every binary
// scheduler of the run goes into the image; the agent stops the running
// scheduler and starts the next one when a job's scheduler differs from
// the previous job's (package matrix runs its cells this way).

// schedulerFor returns the scheduler scenario sc runs under: its own
// Scheduler when set, else Config.Scheduler.
func (c *Config) schedulerFor(sc spec.Scenario) spec.Scheduler {
	if sc.Scheduler != nil {
		return *sc.Scheduler
	}
	return c.Scheduler
}

// schedulerSpecs returns the distinct schedulers of the run in the order
// of first use.
func (c *Config) schedulerSpecs() []spec.Scheduler {
	ss, _ := c.scenarios()
	var out []spec.Scheduler
	seen := map[string]bool{}
	for _, sc := range ss {
		sched := c.schedulerFor(sc)
		if k := binaryKey(sched); !seen[k] {
			seen[k] = true
			out = append(out, sched)
		}
	}
	if cmp, ok := c.compareScheduler(); ok && !seen[binaryKey(cmp)] {
		out = append(out, cmp)
	}
	return out
}

// jobScheduler returns the scheduler of one run of sc: the scheduler it
// runs under, or for a Compare run (baseline) the Compare scheduler.
func (c *Config) jobScheduler(sc spec.Scenario, baseline bool) spec.Scheduler {
	if cmp, ok := c.compareScheduler(); ok && baseline {
		return cmp
	}
	return c.schedulerFor(sc)
}

// needsSchedExt reports whether any scenario of the run loads a sched_ext
// scheduler.
func (c *Config) needsSchedExt() bool {
	if c.Compare != "" {
		return true
	}
	for _, sched := range c.schedulerSpecs() {
		if !sched.IsNone() {
			return true
		}
	}
	return false
}

// binaryKey identifies the scheduler binary of a spec (its arguments
// aside).
func binaryKey(s spec.Scheduler) string { return s.Path + "\x00" + s.Name }

// validateScenarioSchedulers checks the per-scenario scheduler overrides.
func (c *Config) validateScenarioSchedulers(ss []spec.Scenario) error {
	for _, sc := range ss {
		if sc.Scheduler == nil {
			continue
		}
		if err := sc.Scheduler.Validate(); err != nil {
			return &ConfigError{Field: "scenario " + sc.Name + ": scheduler", Err: err}
		}
	}
	return nil
}

// scenarioKey identifies a scenario run in a Config: the same scenario
// may run once per scheduler.
func (c *Config) scenarioKey(sc spec.Scenario) string {
	return sc.Name + "\x00" + c.schedulerFor(sc).String()
}

// resolveSchedulerBinaries resolves the binary of every scheduler of the
// run. It returns the host paths keyed by binaryKey, and refuses two
// different binaries with one base name (both would be /sched/<base>).
func resolveSchedulerBinaries(cacheDir string, k *kernel.Kernel, specs []spec.Scheduler) (map[string]string, error) {
	paths := map[string]string{}
	bases := map[string]string{}
	for _, sched := range specs {
		p, err := resolveSchedulerBinary(cacheDir, k, sched)
		if err != nil {
			return nil, err
		}
		if p == "" {
			continue
		}
		base := filepath.Base(p)
		if other, ok := bases[base]; ok && other != p {
			return nil, &ConfigError{Field: "scheduler", Msg: fmt.Sprintf("%s and %s have the same base name; rename one", other, p)}
		}
		bases[base] = p
		paths[binaryKey(sched)] = p
	}
	return paths, nil
}

// binaryPaths returns the distinct host paths of paths, sorted.
func binaryPaths(paths map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return sorted(out)
}

// guestSchedulerPath returns the guest path of spec's binary.
func (s *session) guestSchedulerPath(sched spec.Scheduler) string {
	p := s.schedPaths[binaryKey(sched)]
	if p == "" {
		p = s.schedPath
	}
	return "/sched/" + filepath.Base(p)
}

// lateSchedEvent files ev with the earlier job js it belongs to: the
// agent noticed it after that job ended (a loader exits some time after
// its ejection). When it is the job's first ejection, death or load
// failure and the job passed or failed only its checks, it becomes that
// job's failure (and the run's, when the run's failure was that job's).
func (s *session) lateSchedEvent(js *jobState, ev SchedEvent) {
	firstBad := js.addSchedEvent(ev)
	prev := js.sr
	defer func() {
		if js.index >= 0 {
			s.res.Scenarios[js.index] = *prev
		}
	}()
	s.emit(Event{Kind: EventSched, Scenario: prev.Name, Scheduler: prev.Scheduler, SchedEvent: &ev, Message: describeSchedEvent(ev) + " (previous scenario)"})
	if !firstBad || (prev.Failure != nil && prev.Failure.Kind != FailChecks) {
		return
	}
	old := prev.Failure
	prev.Failure = s.jobFailure(js, nil)
	prev.Passed = false
	if s.res.Failure == nil || (old != nil && s.res.Failure == old) {
		s.res.Failure = prev.Failure
	}
}
