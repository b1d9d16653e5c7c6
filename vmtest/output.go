package vmtest

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest/check"
)

// payloadOutput is one payload's output file on the host while its job
// runs: chunks are written as they arrive and never held.
type payloadOutput struct {
	path string
	f    *os.File
	n    int64 // bytes received
	err  error
}

// outputName returns the file name of a payload's output below
// Config.OutputPrefix.
func outputName(scenario string, baseline bool, payload string) string {
	clean := func(s string) string { return strings.NewReplacer("/", "_", "\\", "_", "\x00", "_").Replace(s) }
	name := clean(scenario)
	if baseline {
		name += ".none"
	}
	return name + "." + clean(payload) + ".log"
}

// openOutputs creates the output file of every payload of js's scenario
// when Config.OutputPrefix is set (an empty output leaves an empty file).
func (s *session) openOutputs(js *jobState) {
	js.outputs = make([]*payloadOutput, len(js.sc.Payloads))
	for i, p := range js.sc.Payloads {
		po := &payloadOutput{}
		js.outputs[i] = po
		if s.cfg.OutputPrefix == "" {
			continue
		}
		po.path = s.cfg.OutputPrefix + outputName(js.sc.Name, js.sr.Baseline, p.Label())
		if err := os.MkdirAll(filepath.Dir(po.path), 0o755); err != nil {
			po.err = fmt.Errorf("save output: %w", err)
			continue
		}
		po.f, po.err = os.Create(po.path)
		if po.err != nil {
			po.err = fmt.Errorf("save output: %w", po.err)
		}
	}
}

// output files a chunk of a payload's output: into its file, and to
// Config.Progress.
func (s *session) output(js *jobState, m *protocol.Output) {
	if m.Payload < 0 || m.Payload >= len(js.outputs) {
		js.errs = append(js.errs, fmt.Sprintf("output of unknown payload %d", m.Payload))
		return
	}
	po := js.outputs[m.Payload]
	po.n += int64(len(m.Data))
	if po.f != nil && po.err == nil {
		if _, err := po.f.Write(m.Data); err != nil {
			po.err = fmt.Errorf("save output: %w", err)
		}
	}
	s.emit(Event{Kind: EventOutput, Scenario: js.sc.Name, Scheduler: js.sr.Scheduler,
		Output: &OutputChunk{Payload: js.sc.Payloads[m.Payload].Label(), Stderr: m.Stream == protocol.StreamStderr, Data: m.Data}})
}

// closeOutputs closes the output files and fills in each payload's
// OutputFile, OutputMissing and OutputError.
func (js *jobState) closeOutputs() {
	for i, po := range js.outputs {
		if po.f != nil {
			if err := po.f.Close(); err != nil && po.err == nil {
				po.err = fmt.Errorf("save output: %w", err)
			}
			po.f = nil
		}
		if i >= len(js.sr.Payloads) {
			continue
		}
		pr := &js.sr.Payloads[i]
		pr.OutputFile = po.path
		if po.err != nil {
			pr.OutputError = po.err.Error()
		}
		if pr.OutputBytes > po.n {
			pr.OutputMissing = pr.OutputBytes - po.n
		}
	}
}

// collecting is the host side of the job's Collect directories.
type collecting struct {
	dirs   []Collect
	roots  []*os.Root
	errs   []error
	cur    *os.File
	curKey string
}

// fileData writes a collected chunk below its host directory, refusing
// paths that would leave it.
func (c *collecting) fileData(m *protocol.FileData) {
	if m.Dir < 0 || m.Dir >= len(c.dirs) {
		return
	}
	fail := func(err error) {
		if c.errs[m.Dir] == nil {
			c.errs[m.Dir] = err
		}
	}
	if c.errs[m.Dir] != nil && c.roots[m.Dir] == nil {
		return
	}
	rel := path.Clean(m.Path)
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		fail(fmt.Errorf("refused path %q from the guest: it leaves the directory", m.Path))
		return
	}
	rel = filepath.FromSlash(rel)
	root := c.roots[m.Dir]
	if root == nil {
		host := c.dirs[m.Dir].Host
		if err := os.MkdirAll(host, 0o755); err != nil {
			fail(err)
			return
		}
		r, err := os.OpenRoot(host)
		if err != nil {
			fail(err)
			return
		}
		root, c.roots[m.Dir] = r, r
	}
	mode := fs.FileMode(m.Mode).Perm() | 0o200 // the host user can write it again
	if m.IsDir {
		if err := root.MkdirAll(rel, mode|0o700); err != nil {
			fail(err)
		}
		return
	}
	key := fmt.Sprintf("%d\x00%s", m.Dir, rel)
	if c.curKey != key {
		c.closeFile()
		if d := filepath.Dir(rel); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				fail(err)
				return
			}
		}
		f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
		if err != nil {
			fail(err)
			return
		}
		c.cur, c.curKey = f, key
	}
	if _, err := c.cur.WriteAt(m.Data, m.Offset); err != nil {
		fail(err)
	}
}

func (c *collecting) closeFile() {
	if c.cur != nil {
		c.cur.Close()
		c.cur, c.curKey = nil, ""
	}
}

// finish closes everything and returns the results, the agent's counts
// beside the host's errors.
func (c *collecting) finish(agent []protocol.CollectResult) []CollectResult {
	c.closeFile()
	for _, r := range c.roots {
		if r != nil {
			r.Close()
		}
	}
	out := make([]CollectResult, len(c.dirs))
	for i, d := range c.dirs {
		out[i] = CollectResult{Guest: d.Guest, Host: d.Host}
		var errs []string
		if i < len(agent) {
			a := agent[i]
			out[i].Files, out[i].Bytes, out[i].Skipped = a.Files, a.Bytes, a.Skipped
			if a.Error != "" {
				errs = append(errs, a.Error)
			}
		} else {
			errs = append(errs, "the agent did not report it")
		}
		if c.errs[i] != nil {
			errs = append(errs, fmt.Sprintf("write to %s: %v", d.Host, c.errs[i]))
		}
		out[i].Error = strings.Join(errs, "; ")
	}
	return out
}

// CollectError is Run's error when the run passed but a Config.Collect
// directory could not be copied (it does not exist in the guest, or the
// host could not write it).
type CollectError struct {
	Collected []CollectResult
}

func (e *CollectError) Error() string {
	var msgs []string
	for _, c := range e.Collected {
		if c.Error != "" {
			msgs = append(msgs, fmt.Sprintf("collect %s=%s: %s", c.Guest, c.Host, c.Error))
		}
	}
	return strings.Join(msgs, "; ")
}

// collectError returns a *CollectError when a collected directory has an
// error, else nil.
func collectError(res *Result) error {
	for _, c := range res.Collected {
		if c.Error != "" {
			return &CollectError{Collected: res.Collected}
		}
	}
	return nil
}

// checkPayloads pairs the scenario's payloads with their results for
// check payload_exit.
func checkPayloads(sc spec.Scenario, results []PayloadResult) []check.Payload {
	out := make([]check.Payload, len(sc.Payloads))
	for i, p := range sc.Payloads {
		out[i] = check.Payload{Name: p.Label(), ExpectExit: p.ExpectExit, Missing: true}
		if i < len(results) {
			r := results[i]
			out[i] = check.Payload{Name: p.Label(), ExpectExit: p.ExpectExit, ExitCode: r.ExitCode,
				Signal: r.Signal, TimedOut: r.TimedOut, Error: r.Error, Duration: r.Duration}
		}
	}
	return out
}

// payloadFailure attributes a job to its first payload whose exit status
// counts and was not the expected one.
func payloadFailure(js *jobState) *Failure {
	ps := checkPayloads(js.sc, js.sr.Payloads)
	for i, p := range ps {
		v := p.Verdict()
		if v == "" {
			continue
		}
		kind := FailPayload
		if strings.HasPrefix(v, "could not start") {
			kind = FailPayloadNotStarted
		}
		return &Failure{Kind: kind, Scenario: js.sc.Name, Message: fmt.Sprintf("payload %s %s", p.Name, v), Detail: outputDetail(js, i)}
	}
	return nil
}

// outputDetail is the last lines of payload i's output and where the
// whole of it is.
func outputDetail(js *jobState, i int) []string {
	if i >= len(js.sr.Payloads) {
		return nil
	}
	pr := js.sr.Payloads[i]
	var out []string
	if lines := tailLines(splitLines(pr.Output), 20); len(lines) > 0 {
		out = append(out, "output (last lines):")
		for _, l := range lines {
			out = append(out, "| "+l)
		}
	}
	if pr.OutputFile != "" {
		out = append(out, fmt.Sprintf("whole output (%d bytes): %s", pr.OutputBytes, pr.OutputFile))
	}
	return out
}

// timeoutFailure attributes a job that ran into its timeout in the
// guest, naming what sets the limit and the payload it waited for.
func (s *session) timeoutFailure(js *jobState, r *protocol.JobResult) *Failure {
	limit := js.sc.JobTimeout()
	what := "the scenario's timeout field (default: duration + 30s)"
	if js.sc.Name == ExecScenarioName && len(s.cfg.Exec) > 0 {
		what = "--timeout (Config.ExecTimeout)"
	}
	f := &Failure{Kind: FailTimeout, Scenario: js.sc.Name,
		Message: fmt.Sprintf("the job timed out in the guest after %v, the limit set by %s: %s", limit, what, r.Error)}
	for i, p := range js.sc.Payloads {
		if i < len(js.sr.Payloads) && p.Waited() && js.sr.Payloads[i].TimedOut {
			f.Message = fmt.Sprintf("payload %s timed out: still running after %v, the limit set by %s; killed", p.Label(), limit, what)
			f.Detail = outputDetail(js, i)
			break
		}
	}
	return f
}
