package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

// validate checks data against the Trace Event Format's JSON Object
// Format as Perfetto and chrome://tracing read it: a traceEvents array of
// events with the fields each phase requires, plus the rules a viewer
// needs to draw it right (complete slices of one thread nest, async
// begin/end pairs match, every thread and process is named). It returns
// the events by phase.
func validate(data []byte) (map[string]int, error) {
	var file struct {
		TraceEvents     []map[string]any `json:"traceEvents"`
		DisplayTimeUnit string           `json:"displayTimeUnit"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if file.TraceEvents == nil {
		return nil, fmt.Errorf("no traceEvents array")
	}
	if u := file.DisplayTimeUnit; u != "" && u != "ms" && u != "ns" {
		return nil, fmt.Errorf("displayTimeUnit %q: want ms or ns", u)
	}
	num := func(e map[string]any, k string) (float64, bool) {
		n, ok := e[k].(json.Number)
		if !ok {
			return 0, false
		}
		f, err := n.Float64()
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	integer := func(e map[string]any, k string) (int64, bool) {
		n, ok := e[k].(json.Number)
		if !ok {
			return 0, false
		}
		i, err := n.Int64()
		return i, err == nil
	}
	type key struct{ pid, tid int64 }
	type slice struct{ from, to float64 }
	phases := map[string]int{}
	procNamed := map[int64]bool{}
	threadNamed := map[key]bool{}
	used := map[key]bool{}
	slices_ := map[key][]slice{}
	async := map[string]int{}
	for i, e := range file.TraceEvents {
		where := fmt.Sprintf("event %d (%v)", i, e)
		ph, _ := e["ph"].(string)
		name, _ := e["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s: no name", where)
		}
		pid, ok1 := integer(e, "pid")
		tid, ok2 := integer(e, "tid")
		if !ok1 || (!ok2 && e["tid"] != nil) {
			return nil, fmt.Errorf("%s: pid and tid must be integers", where)
		}
		if args, ok := e["args"]; ok {
			if _, ok := args.(map[string]any); !ok {
				return nil, fmt.Errorf("%s: args must be an object", where)
			}
		}
		phases[ph]++
		if ph == "M" {
			args, _ := e["args"].(map[string]any)
			switch name {
			case "process_name", "thread_name":
				if s, _ := args["name"].(string); s == "" {
					return nil, fmt.Errorf("%s: %s without args.name", where, name)
				}
				if name == "process_name" {
					procNamed[pid] = true
				} else {
					threadNamed[key{pid, tid}] = true
				}
			case "process_sort_index", "thread_sort_index":
				if _, ok := num(args, "sort_index"); !ok {
					return nil, fmt.Errorf("%s: %s without a numeric args.sort_index", where, name)
				}
			default:
				return nil, fmt.Errorf("%s: unknown metadata event", where)
			}
			continue
		}
		ts, ok := num(e, "ts")
		if !ok || ts < 0 {
			return nil, fmt.Errorf("%s: ts must be a number >= 0", where)
		}
		switch ph {
		case "X":
			d, ok := num(e, "dur")
			if !ok || d < 0 {
				return nil, fmt.Errorf("%s: complete event needs dur >= 0", where)
			}
			k := key{pid, tid}
			used[k] = true
			slices_[k] = append(slices_[k], slice{ts, ts + d})
		case "i", "I":
			switch s, _ := e["s"].(string); s {
			case "g", "p", "t", "":
			default:
				return nil, fmt.Errorf("%s: instant scope %q: want g, p or t", where, s)
			}
			if s, _ := e["s"].(string); s == "t" || s == "" {
				used[key{pid, tid}] = true
			}
		case "C":
			args, _ := e["args"].(map[string]any)
			if len(args) == 0 {
				return nil, fmt.Errorf("%s: counter without values", where)
			}
			for k := range args {
				if _, ok := num(args, k); !ok {
					return nil, fmt.Errorf("%s: counter value %s is not a number", where, k)
				}
			}
		case "b", "e":
			id, _ := e["id"].(string)
			cat, _ := e["cat"].(string)
			if id == "" || cat == "" {
				return nil, fmt.Errorf("%s: async event needs id and cat", where)
			}
			k := fmt.Sprintf("%d/%s/%s/%s", pid, cat, id, name)
			if ph == "b" {
				async[k]++
			} else {
				if async[k] == 0 {
					return nil, fmt.Errorf("%s: async end without begin", where)
				}
				async[k]--
			}
		default:
			return nil, fmt.Errorf("%s: unexpected phase %q", where, ph)
		}
		if !procNamed[pid] {
			return nil, fmt.Errorf("%s: process %d has no process_name before its events", where, pid)
		}
	}
	for k, n := range async {
		if n != 0 {
			return nil, fmt.Errorf("async slice %s not ended", k)
		}
	}
	for k := range used {
		if !threadNamed[k] {
			return nil, fmt.Errorf("thread %d of process %d has events but no thread_name", k.tid, k.pid)
		}
	}
	for k, ss := range slices_ {
		sort.Slice(ss, func(i, j int) bool {
			if ss[i].from != ss[j].from {
				return ss[i].from < ss[j].from
			}
			return ss[i].to > ss[j].to
		})
		var stack []slice
		for _, s := range ss {
			for len(stack) > 0 && stack[len(stack)-1].to <= s.from+0.001 { // ts are µs with ns precision
				stack = stack[:len(stack)-1]
			}
			if len(stack) > 0 && s.to > stack[len(stack)-1].to+0.001 {
				return nil, fmt.Errorf("thread %d of process %d: slice %v overlaps %v without nesting", k.tid, k.pid, s, stack[len(stack)-1])
			}
			stack = append(stack, s)
		}
	}
	return phases, nil
}

func TestValidateRejects(t *testing.T) {
	named := `{"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"p"}},{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"t"}}`
	for _, tc := range []struct{ name, json string }{
		{"not an object", `[]`},
		{"no events", `{}`},
		{"no dur", `{"traceEvents":[` + named + `,{"name":"x","ph":"X","ts":1,"pid":1,"tid":1}]}`},
		{"bad scope", `{"traceEvents":[` + named + `,{"name":"x","ph":"i","s":"q","ts":1,"pid":1,"tid":1}]}`},
		{"string counter", `{"traceEvents":[` + named + `,{"name":"c","ph":"C","ts":1,"pid":1,"tid":1,"args":{"v":"1"}}]}`},
		{"negative ts", `{"traceEvents":[` + named + `,{"name":"x","ph":"i","s":"t","ts":-1,"pid":1,"tid":1}]}`},
		{"unnamed thread", `{"traceEvents":[` + named + `,{"name":"x","ph":"X","ts":1,"dur":1,"pid":1,"tid":2}]}`},
		{"unnamed process", `{"traceEvents":[{"name":"x","ph":"i","s":"g","ts":1,"pid":5,"tid":1}]}`},
		{"overlap", `{"traceEvents":[` + named + `,{"name":"a","ph":"X","ts":0,"dur":10,"pid":1,"tid":1},{"name":"b","ph":"X","ts":5,"dur":10,"pid":1,"tid":1}]}`},
		{"async unmatched", `{"traceEvents":[` + named + `,{"name":"a","cat":"c","id":"0x1","ph":"b","ts":0,"pid":1,"tid":1}]}`},
		{"unknown phase", `{"traceEvents":[` + named + `,{"name":"a","ph":"Z","ts":0,"pid":1,"tid":1}]}`},
	} {
		if _, err := validate([]byte(tc.json)); err == nil {
			t.Errorf("%s: validate accepted %s", tc.name, tc.json)
		}
	}
	ok := `{"traceEvents":[` + named + `,{"name":"a","ph":"X","ts":0,"dur":10,"pid":1,"tid":1},{"name":"b","ph":"X","ts":2,"dur":3,"pid":1,"tid":1}],"displayTimeUnit":"ms"}`
	if _, err := validate([]byte(ok)); err != nil {
		t.Errorf("validate rejected a nested trace: %v", err)
	}
}

// result is a run of two scenarios, the second with its baseline and a
// scheduler ejection, and a kernel incident during the first.
func result() *vmtest.Result {
	ms := time.Millisecond
	worker := func(cg string, i int, iters uint64, migs ...spec.Migration) check.Worker {
		return check.Worker{Cgroup: cg, Kind: spec.CpuSpin, Report: spec.WorkerReport{
			Index: i, TID: 100 + i, Iterations: iters, Completed: true, CPUTimeNs: uint64(900 * ms),
			MaxGapMs: 300, MaxGapAtMs: 700, MaxGapCPU: 1, Migrations: migs, MigrationCount: uint64(len(migs)),
		}}
	}
	progress := []vmtest.ProgressSample{
		{Elapsed: 200 * ms, Iterations: []uint64{10, 20}, SchedState: "enabled"},
		{Elapsed: 400 * ms, Iterations: []uint64{20, 20}, SchedState: "enabled"},
		{Elapsed: 600 * ms, Iterations: []uint64{20, 30}, SchedState: "enabled"},
		{Elapsed: 800 * ms, Iterations: []uint64{30, 40}, SchedState: "disabled"},
	}
	sc := func(name, sched string, base bool) vmtest.ScenarioResult {
		return vmtest.ScenarioResult{
			Name: name, Scheduler: sched, Baseline: base, Passed: true,
			Workers:  []check.Worker{worker("a", 0, 30, spec.Migration{AtNs: uint64(100 * ms), FromCPU: 0, ToCPU: 1}), worker("b", 0, 40)},
			Progress: progress, Duration: 800 * ms, Elapsed: 2 * time.Second,
			Timings: &vmtest.JobTimings{Setup: 500 * ms, Run: 800 * ms, Collect: 100 * ms, Total: 1400 * ms},
		}
	}
	s1 := sc("steady", "scx_x", false)
	s1.SchedEvents = []vmtest.SchedEvent{{Kind: "attached", At: 300 * ms, Scheduler: "x"}}
	s2 := sc("mixed", "scx_x", false)
	s2.Passed = false
	s2.SchedEvents = []vmtest.SchedEvent{{Kind: "ejected", At: 900 * ms, Scheduler: "x", Reason: "runnable task stall", Message: "x: a[1] failed to run for 30s", Log: "line1\nline2"}}
	s2.Failures = []check.Failure{{Check: spec.CheckSchedulerAttached, Worker: -1, Message: "ejected"}}
	return &vmtest.Result{
		Kernel: vmtest.KernelInfo{Name: "debian", Release: "7.3"}, Scheduler: "scx_x", Topology: "1n1l2c1t",
		BootToHello: 3 * time.Second,
		Scenarios:   []vmtest.ScenarioResult{s1, s2, sc("mixed", "none", true)},
		Incidents:   []vmtest.Incident{{Kind: ktext.Warning, Line: "WARNING: at foo", At: 4 * time.Second, Excerpt: []string{"WARNING: at foo", "Call Trace:"}}, {Kind: ktext.BUG, Line: "BUG: boot", At: time.Second}},
	}
}

func TestWriteValid(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, result(), nil); err != nil {
		t.Fatal(err)
	}
	phases, err := validate(buf.Bytes())
	if err != nil {
		t.Fatalf("invalid trace: %v\n%s", err, buf.String())
	}
	for _, ph := range []string{"M", "X", "i", "C", "b", "e"} {
		if phases[ph] == 0 {
			t.Errorf("no %q events in the trace (phases %v)", ph, phases)
		}
	}
}

// find returns the events that match.
func find(t *testing.T, data []byte, match func(Event) bool) []Event {
	t.Helper()
	var file struct {
		TraceEvents []Event `json:"traceEvents"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	var out []Event
	for _, e := range file.TraceEvents {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

func TestWriteContent(t *testing.T) {
	res := result()
	var buf bytes.Buffer
	if err := Write(&buf, res, nil); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Scenario 1's job is sent at boot-to-hello (3 s); its workers start
	// after the 0.5 s setup.
	start := 3.5e6
	names := map[int]string{}
	for _, e := range find(t, data, func(e Event) bool { return e.Name == "process_name" }) {
		names[e.Pid] = e.Args["name"].(string)
	}
	if want := []string{"steady · scx_x", "mixed · scx_x", "mixed · none (EEVDF baseline)"}; names[1] != want[0] || names[2] != want[1] || names[3] != want[2] {
		t.Errorf("process names %v, want %v", names, want)
	}
	ev := find(t, data, func(e Event) bool { return e.Name == "attached" })
	if len(ev) != 1 || ev[0].Ts != 3.3e6 || ev[0].Pid != 1 {
		t.Errorf("attached event %+v: want ts 3.3e6 (job at 3 s + 0.3 s) in process 1", ev)
	}
	ej := find(t, data, func(e Event) bool { return e.Name == "ejected" })
	if len(ej) != 1 || ej[0].Args["reason"] != "runnable task stall" || ej[0].Args["log"] != "line1\nline2" || ej[0].Pid != 2 {
		t.Errorf("ejected event %+v: want the reason and log in process 2", ej)
	}
	// The WARNING at 4 s falls in the first job (3 s to 5 s); the BUG at
	// 1 s happened during boot.
	warn := find(t, data, func(e Event) bool { return e.Name == "kernel warning" })
	if len(warn) != 1 || warn[0].Pid != 1 || warn[0].Ts != 4e6 || warn[0].S != "p" {
		t.Errorf("kernel warning %+v: want process 1 at 4e6, process scope", warn)
	}
	bug := find(t, data, func(e Event) bool { return e.Name == "kernel BUG" })
	if len(bug) != 1 || bug[0].Pid != 4 || bug[0].S != "g" {
		t.Errorf("kernel BUG %+v: want the run's process (4), global scope", bug)
	}
	// Worker 0 of steady: progress until 400 ms, none until 600 ms,
	// progress to 800 ms.
	var got []string
	for _, e := range find(t, data, func(e Event) bool { return e.Pid == 1 && e.Tid == tidWorker0 && e.Ph == "X" }) {
		got = append(got, fmt.Sprintf("%s@%g+%g", e.Name, e.Ts-start, *e.Dur))
	}
	if want := []string{"progress@0+400000", "no progress@400000+200000", "progress@600000+200000"}; !slices.Equal(got, want) {
		t.Errorf("worker 0 slices %v, want %v", got, want)
	}
	stall := find(t, data, func(e Event) bool { return e.Pid == 1 && e.Tid == tidWorker0 && e.Ph == "b" })
	if len(stall) != 1 || stall[0].Ts != start+400e3 {
		t.Errorf("longest stall %+v: want a begin at 400 ms (ends at 700 ms, 300 ms long)", stall)
	}
	mig := find(t, data, func(e Event) bool { return e.Pid == 1 && e.Name == "migrate in" })
	if len(mig) != 1 || mig[0].Tid != tidCPU0+1 || mig[0].Ts != start+100e3 {
		t.Errorf("migration %+v: want one on cpu 1's track at 100 ms", mig)
	}
	rates := find(t, data, func(e Event) bool { return e.Pid == 1 && e.Name == "iterations/s by cgroup" })
	if len(rates) != 3 || rates[0].Args["a"].(float64) != 50 || rates[0].Args["b"].(float64) != 0 {
		t.Errorf("cgroup rates %+v: want 3, the first a=50/s b=0/s", rates)
	}
}

func TestCounterDownsampling(t *testing.T) {
	res := result()
	sr := &res.Scenarios[0]
	sr.Progress = nil
	for k := range 10_000 {
		sr.Progress = append(sr.Progress, vmtest.ProgressSample{Elapsed: time.Duration(k+1) * time.Millisecond, Iterations: []uint64{uint64(k), uint64(k)}})
	}
	var buf bytes.Buffer
	if err := Write(&buf, res, &Options{MaxCounterPoints: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := validate(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	n := len(find(t, buf.Bytes(), func(e Event) bool { return e.Pid == 1 && e.Name == "iterations a/0" }))
	if n != 101 {
		t.Errorf("%d counter events for worker a/0, want 101 (the start and 100 samples)", n)
	}
}

// TestFixtures validates the traces of the report's real run results.
func TestFixtures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var res vmtest.Result
		if err := json.Unmarshal(data, &res); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "trace.json")
		if err := WriteFile(out, &res, nil); err != nil {
			t.Fatal(err)
		}
		trace, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		phases, err := validate(trace)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		t.Logf("%s: %d bytes, events by phase %v", filepath.Base(path), len(trace), phases)
		if len(res.Scenarios) > 0 && (phases["X"] == 0 || phases["C"] == 0) {
			t.Errorf("%s: no slices or counters (%v)", path, phases)
		}
	}
}
