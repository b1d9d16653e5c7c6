package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
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
	counterTs := map[string]float64{}
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
			// A counter is a step function: two values at one time, or
			// a value written before one it follows, draw wrong.
			k := fmt.Sprintf("%d/%s", pid, name)
			if prev, ok := counterTs[k]; ok && ts <= prev {
				return nil, fmt.Errorf("%s: counter %q of process %d at ts %v after ts %v: timestamps must increase", where, name, pid, ts, prev)
			}
			counterTs[k] = ts
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
		{"counter back in time", `{"traceEvents":[` + named + `,{"name":"c","ph":"C","ts":2,"pid":1,"tid":1,"args":{"v":1}},{"name":"c","ph":"C","ts":2,"pid":1,"tid":1,"args":{"v":2}}]}`},
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
	s1.Telemetry = telemetry()
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

// telemetry is the sched_ext telemetry of a scenario whose scheduler is
// disabled and enabled again during the run (job-arrival times; the
// workers start at 500 ms): SCX_EV_SELECT_CPU_FALLBACK grows, the new
// instance's SCX_EV_DISPATCH_KEEP_LAST restarts from zero, enable_seq
// goes from 1 to 2; the other counters keep their values.
func telemetry() *vmtest.SchedTelemetry {
	ms := time.Millisecond
	reading := func(at time.Duration, state string, seq, fallback, keepLast uint64) spec.SchedTelemetry {
		return spec.SchedTelemetry{At: at,
			Counters: spec.Counters{"enable_seq": seq, "nr_rejected": 0, "hotplug_seq": 7,
				"root/events/SCX_EV_SELECT_CPU_FALLBACK": fallback, "root/events/SCX_EV_DISPATCH_KEEP_LAST": keepLast,
				"root/events/SCX_EV_ENQ_SKIP_EXITING": 3},
			Values: map[string]string{"state": state, "root/ops": "x"}}
	}
	start := reading(400*ms, "enabled", 1, 1000, 5)
	start.Counters["debugfs/sched/ext_server/cpu0/runtime"] = 50_000_000
	end := reading(1400*ms, "enabled", 2, 1300, 2)
	end.Counters["debugfs/sched/ext_server/cpu0/runtime"] = 50_000_000
	disabled := spec.SchedTelemetry{At: 900 * ms, Counters: spec.Counters{"enable_seq": 1, "nr_rejected": 0, "hotplug_seq": 7},
		Values: map[string]string{"state": "disabled"}}
	return &vmtest.SchedTelemetry{
		Start:   &start,
		Samples: []spec.SchedTelemetry{reading(700*ms, "enabled", 1, 1000, 5), reading(800*ms, "enabled", 1, 1200, 9), disabled, reading(1100*ms, "enabled", 2, 1200, 0)},
		End:     &end,
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

// TestTelemetryCounters checks the sched_ext counter tracks and state
// changes of a scenario: the job of steady is sent at 3 s, so a reading
// at 400 ms after the job's arrival is at 3.4 s.
func TestTelemetryCounters(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, result(), nil); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if _, err := validate(data); err != nil {
		t.Fatalf("invalid trace: %v", err)
	}
	series := map[string][]string{}
	for _, e := range find(t, data, func(e Event) bool { return e.Ph == "C" && e.Cat == "sched_ext" }) {
		if e.Pid != 1 || e.Tid != tidScheduler {
			t.Errorf("counter %s in pid %d tid %d: want steady's scheduler track (pid 1, tid %d)", e.Name, e.Pid, e.Tid, tidScheduler)
		}
		if len(e.Args) != 1 {
			t.Errorf("counter %s args %v: want one value", e.Name, e.Args)
		}
		for k, v := range e.Args {
			series[e.Name] = append(series[e.Name], fmt.Sprintf("%g %s=%v", e.Ts/1e3, k, v))
		}
	}
	want := map[string][]string{
		// Growth since the first reading, at 3.4 s, 3.7 s, 3.8 s, 3.9 s
		// (no events: the disabled scheduler has no root/), 4.1 s, 4.4 s.
		"SCX_EV_SELECT_CPU_FALLBACK": {"3400 since start=0", "3700 since start=0", "3800 since start=200", "4100 since start=200", "4400 since start=300"},
		// A new instance's counters restart: the growth falls below zero.
		"SCX_EV_DISPATCH_KEEP_LAST": {"3400 since start=0", "3700 since start=0", "3800 since start=4", "4100 since start=-5", "4400 since start=-3"},
		// Not an event counter: its value.
		"enable_seq": {"3400 value=1", "3700 value=1", "3800 value=1", "3900 value=1", "4100 value=2", "4400 value=2"},
	}
	// Left out: SCX_EV_ENQ_SKIP_EXITING, nr_rejected, hotplug_seq and the
	// debugfs runtime never change.
	if !reflect.DeepEqual(series, want) {
		t.Errorf("telemetry counters (ms key=value):\n got %v\nwant %v", series, want)
	}
	if n := len(find(t, data, func(e Event) bool { return e.Ph == "C" && e.Cat == "sched_ext" && e.Pid != 1 })); n != 0 {
		t.Errorf("%d telemetry counter events in scenarios without telemetry", n)
	}

	states := map[int][]string{}
	for _, e := range find(t, data, func(e Event) bool { return e.Ph == "i" && e.Cat == "sched_ext" }) {
		if e.Tid != tidScheduler || e.S != "t" {
			t.Errorf("%s in tid %d scope %q: want the scheduler's track", e.Name, e.Tid, e.S)
		}
		states[e.Pid] = append(states[e.Pid], fmt.Sprintf("%s@%g %v", e.Name, e.Ts/1e3, e.Args))
	}
	wantStates := map[int][]string{
		1: {
			"sched_ext enabled@3400 map[enable_seq:1 ops:x state:enabled]",
			"sched_ext disabled@3900 map[enable_seq:1 previous:enabled state:disabled]",
			"sched_ext enabled@4100 map[enable_seq:2 ops:x previous:disabled state:enabled]",
			"enable_seq bump@4100 map[from:1 ops:x state:enabled to:2]",
		},
		// Without telemetry the progress samples' state counts (mixed's
		// job at 5 s, its workers from 5.5 s, samples from 200 ms).
		2: {"sched_ext enabled@5700 map[state:enabled]", "sched_ext disabled@6300 map[previous:enabled state:disabled]"},
		3: {"sched_ext enabled@7700 map[state:enabled]", "sched_ext disabled@8300 map[previous:enabled state:disabled]"},
	}
	if !reflect.DeepEqual(states, wantStates) {
		t.Errorf("sched_ext state events:\n got %v\nwant %v", states, wantStates)
	}
}

// TestTelemetryUnchanged checks that a scenario whose counters all keep
// their values gets no telemetry counter track, only its state.
func TestTelemetryUnchanged(t *testing.T) {
	res := result()
	tel := telemetry()
	still := *tel.Start
	tel.Samples = []spec.SchedTelemetry{still, still}
	tel.Samples[0].At, tel.Samples[1].At = 600*time.Millisecond, 800*time.Millisecond
	tel.End = &still
	tel.End.At = time.Second
	res.Scenarios[0].Telemetry = tel
	var buf bytes.Buffer
	if err := Write(&buf, res, nil); err != nil {
		t.Fatal(err)
	}
	if ev := find(t, buf.Bytes(), func(e Event) bool { return e.Cat == "sched_ext" && e.Ph == "C" }); len(ev) != 0 {
		t.Errorf("%d counter events for counters that never changed: %+v", len(ev), ev)
	}
	if ev := find(t, buf.Bytes(), func(e Event) bool { return e.Pid == 1 && e.Cat == "sched_ext" && e.Ph == "i" }); len(ev) != 1 || ev[0].Name != "sched_ext enabled" {
		t.Errorf("state events %+v: want the first reading's state only", ev)
	}
}

func TestCounterDownsampling(t *testing.T) {
	res := result()
	sr := &res.Scenarios[0]
	sr.Progress = nil
	for k := range 10_000 {
		sr.Progress = append(sr.Progress, vmtest.ProgressSample{Elapsed: time.Duration(k+1) * time.Millisecond, Iterations: []uint64{uint64(k), uint64(k)}})
		sr.Telemetry.Samples = append(sr.Telemetry.Samples, spec.SchedTelemetry{At: time.Duration(k+1) * time.Millisecond, Counters: spec.Counters{"root/events/SCX_EV_SELECT_CPU_FALLBACK": uint64(k)}})
	}
	sr.Telemetry.Start, sr.Telemetry.End = nil, nil
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
	fb := find(t, buf.Bytes(), func(e Event) bool { return e.Pid == 1 && e.Name == "SCX_EV_SELECT_CPU_FALLBACK" })
	if len(fb) != 100 || fb[len(fb)-1].Args[counterSinceStart] != float64(9999) {
		t.Errorf("%d telemetry counter events, want 100 ending at 9999", len(fb))
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

// TestFixtureTelemetry checks the sched_ext tracks of a real run: a
// counter track for each counter the result says changed, ending at that
// change, and none for the others.
func TestFixtureTelemetry(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "telemetry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res vmtest.Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	tel := res.Scenarios[0].Telemetry
	if tel == nil || len(tel.Delta) == 0 || len(tel.Samples) == 0 {
		t.Fatal("fixture without telemetry samples or changed counters")
	}
	var buf bytes.Buffer
	if err := Write(&buf, &res, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := validate(buf.Bytes()); err != nil {
		t.Fatalf("invalid trace: %v", err)
	}
	last := map[string]float64{}
	n := map[string]int{}
	for _, e := range find(t, buf.Bytes(), func(e Event) bool { return e.Ph == "C" && e.Cat == "sched_ext" }) {
		last[e.Name] = e.Args[counterSinceStart].(float64)
		n[e.Name]++
	}
	want := map[string]float64{}
	for k, d := range tel.Delta {
		if !isEventCounter(k) {
			t.Fatalf("fixture: %s changed, want event counters only", k)
		}
		want[strings.TrimPrefix(k, "root/events/")] = float64(d)
	}
	if !reflect.DeepEqual(last, want) {
		t.Errorf("last value of each telemetry counter %v, want the result's changes %v", last, want)
	}
	for name, c := range n {
		if c != len(tel.Samples)+2 {
			t.Errorf("%s: %d counter events, want %d (start, samples, end)", name, c, len(tel.Samples)+2)
		}
	}
	t.Logf("telemetry counter events: %v", n)
}
