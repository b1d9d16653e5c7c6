package protocol

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testfill"
	"github.com/scxvm/scxvm/spec"
)

// sampleMessages returns one populated message of every type.
func sampleMessages() []Message {
	wc := spec.WorkloadConfig{
		NumWorkers: 4,
		WorkType: spec.WorkType{
			Kind:      spec.Sequence,
			SpinIters: 1000,
			Burst:     3 * time.Millisecond,
			Phases:    []spec.Phase{{Kind: spec.PhaseSpin, Duration: time.Millisecond}, {Kind: spec.PhaseYield}},
		},
		Affinity:    spec.Affinity{Kind: spec.AffinityRandom, From: []int{0, 1, 2, 3}, Count: 2},
		SchedPolicy: spec.SchedPolicy{Class: spec.PolicyFIFO, Priority: 10},
		MemPolicy:   spec.MemPolicy{Mode: spec.MemBind, Nodes: []int{0}, Flags: []spec.MemPolicyFlag{spec.MemFlagStaticNodes}},
		CloneMode:   spec.CloneThread,
		Nice:        -5,
	}
	rep := spec.WorkerReport{
		Index: 2, TID: 4242, IsMessenger: true,
		WorkUnits: 1 << 40, Iterations: 123456,
		CPUTimeNs: 1_999_000_000, WallTimeNs: 2_000_000_000, OffCPUNs: 1_000_000,
		MigrationCount: 3, CPUsUsed: []int{0, 3},
		Migrations: []spec.Migration{{AtNs: 10, FromCPU: 0, ToCPU: 3}},
		MaxGapMs:   12, MaxGapCPU: 3, MaxGapAtMs: 1500,
		ResumeLatenciesNs:   spec.Samples{1000, 2000, 1 << 50, 0},
		ResumeLatencyCount:  9000,
		SchedstatRunDelayNs: 5, SchedstatRunCount: 6, SchedstatCPUTimeNs: 7,
		VoluntaryCtxSwitches: 8, InvoluntaryCtxSwitches: 9,
		NumaPages: []uint64{100, 200}, NumaPagesMigrated: 4,
		Completed: false,
		Exit:      spec.ExitInfo{Kind: spec.ExitSignaled, Signal: 9, Message: "killed"},
	}
	return []Message{
		&Hello{
			ProtocolVersion: Version,
			Agent:           Build{Version: "(devel)", ID: "abc123", Schema: "0123456789ab"},
			KernelRelease:   "6.12.0-scx",
			KernelCmdline:   "console=ttyS0 panic=-1",
			SchedExt:        SchedExtInfo{Available: true, State: "disabled", EnableSeq: 3, Ops: "simple"},
			Topology: GuestTopology{CPUs: 4, Online: "0-3", Layout: spec.Topology{NUMANodes: 1, LLCs: 2, CoresPerLLC: 2, ThreadsPerCore: 1},
				CPULLC: []int{0, 0, 1, 1}, CPUNode: []int{0, 0, 0, 0}, MemoryBytes: 1 << 30},
			BootTime:    812 * time.Millisecond,
			AgentStart:  time.Unix(1_790_000_000, 123456789),
			Transport:   TransportVsock,
			ShareErrors: []string{"mount scxvm0 on /src: no such device"},
		},
		&Job{
			ID: 7,
			Scheduler: SchedulerSpec{Kind: SchedulerBinary, Name: "simple", Path: "/sched/scx_simple",
				Args: []string{"-v", "--slice-us=5000"}, AttachTimeout: 3 * time.Second, Restart: true,
				WatchdogTimeout: 500 * time.Millisecond, ErrorAfter: 100},
			Scenario: spec.Scenario{
				Name:     "cpuset-swap",
				Duration: 5 * time.Second,
				Cgroups: []spec.Cgroup{
					{Name: "a", CPUs: "0-1", Mems: "0", Workloads: []spec.WorkloadConfig{wc}},
					{Name: "b", CPUs: "2-3"},
				},
				Steps: []spec.Step{
					{At: time.Second, Action: spec.StepSwapCpusets, Cgroup: "a", Target: "b"},
					{At: 2 * time.Second, Action: spec.StepSpawn, Cgroup: "b", Workloads: []spec.WorkloadConfig{{NumWorkers: 1}}},
					{At: 3 * time.Second, Action: spec.StepKillWorker, Cgroup: "a", Worker: 1, Signal: 15},
				},
				Payloads: []spec.Payload{{Name: "stress", Path: "/usr/bin/stress-ng", Args: []string{"--cpu", "2"}, Cgroup: "b", Wait: true, ExpectExit: new(0)}},
			},
			ProgressInterval: 250 * time.Millisecond,
			Timeout:          time.Minute,
			Watchdog:         90 * time.Second,
			Collect:          []string{"/results", "/tmp/logs"},
		},
		&Progress{
			JobID: 7, At: 1500 * time.Millisecond,
			Iterations: []uint64{0, 1, 1 << 33},
			Workers:    []WorkerInfo{{Cgroup: "a", Index: 0, PID: 10}, {Cgroup: "a", Index: 1, PID: 11}, {Cgroup: "b", Index: 0}},
			SchedState: "enabled", EnableSeq: 4,
		},
		&SchedEvent{
			JobID: 7, Kind: SchedEjected, Scheduler: "stall", At: 2 * time.Second,
			Reason:      "runnable task stall",
			KernelLines: []string{`sched_ext: BPF scheduler "stall" disabled (runnable task stall)`, "sched_ext: stall: worker[77] failed to run for 0.512s"},
			Log:         "libbpf: loaded\nverifier: ok\n",
			Exit:        &ExitStatus{Code: 0, Signal: 9},
			EnableSeq:   5,
		},
		&KernelLog{Lines: []KernelLine{
			{Level: 6, Seq: 100, TimeUs: 812345, Text: "sched_ext: BPF scheduler \"fifo\" enabled"},
			{Level: 3, Seq: 101, TimeUs: 812400, Text: "ünïcode ✓"},
		}},
		&Reports{JobID: 7, Workers: []CgroupReport{{Cgroup: "a", Report: rep}, {Cgroup: "b", Report: spec.WorkerReport{Index: 0, Completed: true}}}},
		&JobResult{
			JobID: 7, Status: StatusTimedOut, Error: "job timeout 1m0s expired",
			Timings: Timings{Setup: time.Millisecond, Run: 5 * time.Second, Collect: 20 * time.Millisecond, Total: 5100 * time.Millisecond},
			Payloads: []PayloadResult{{Name: "stress", Signal: 9, TimedOut: true,
				OutputTail: "stress-ng: info: dispatching hogs", Duration: 5 * time.Second, Error: "", OutputBytes: 1 << 20},
				{Name: "perf", ExitCode: new(0), Duration: time.Second},
				{Name: "missing", Error: "start missing: fork/exec /usr/bin/missing: no such file or directory"}},
			SchedStateEnd: "disabled", EnableSeqStart: 4, EnableSeqEnd: 5,
			Collected: []CollectResult{{Dir: "/results", Files: 3, Bytes: 4096, Skipped: 1}, {Dir: "/tmp/logs", Error: "/tmp/logs: no such directory in the guest"}},
		},
		&Error{Op: "decode job", Message: "bad scenario", JobID: 7, Fatal: true},
		&Bye{Reason: "no more jobs"},
		&RunnableWaits{
			JobID: 7, Final: true, Floor: 375 * time.Millisecond,
			Waits: []TaskWait{
				{PID: 14, TGID: 14, Comm: "kworker/0:1", CPU: 0, Waited: 2300 * time.Millisecond, At: 900 * time.Millisecond, Ongoing: true, Kthread: true},
				{PID: 301, TGID: 300, Comm: "scxvm-agent", CPU: 1, Waited: 400 * time.Millisecond, At: 2 * time.Second, Policy: 5},
			},
			Stats: WatchStats{Interval: 100 * time.Millisecond, Samples: 42, Watched: 4200 * time.Millisecond,
				CPUTime: 80 * time.Millisecond, MaxTasks: 97, MaxSample: 9 * time.Millisecond, RealTime: true, Error: "read /proc: gone"},
		},
		&ShellEvent{JobID: 8, Started: true, TTY: "/dev/ttyS0", Exit: &ExitStatus{Code: 3}, Error: "no shell"},
		&Resize{Size: WindowSize{Rows: 50, Cols: 132}},
		&Output{JobID: 7, Payload: 1, Stream: StreamStderr, Data: []byte("ok 1 - test\x00\xff")},
		&FileData{JobID: 7, Dir: 1, Path: "sub/trace.dat", Mode: 0o644, Offset: 1 << 33, Data: []byte{0, 1, 2}},
		&Park{Reason: "snapshot"},
		&Parked{At: 1200 * time.Millisecond},
		&PutFile{Path: "/sched/scx_simple", Mode: 0o755, Size: 5, Offset: 0, Data: []byte("\x7fELF\x02"), Last: true,
			CRC32C: 0x89abcdef},
		&PutFile{Path: "/lib/x86_64-linux-gnu/libc.so", Link: "libc.so.6", Mode: 0o777},
		&Resume{WallClock: time.Unix(1_790_000_100, 42), Entropy: []byte{1, 2, 3, 4}, Files: 2, Restored: true},
	}
}

// roundTrip writes m as a frame and reads it back.
func roundTrip(t testing.TB, m Message) Message {
	t.Helper()
	var buf bytes.Buffer
	if err := NewWriter(&buf).WriteMessage(m); err != nil {
		t.Fatalf("write %s: %v", m.MessageType(), err)
	}
	got, err := NewReader(&buf).ReadMessage()
	if err != nil {
		t.Fatalf("read %s: %v", m.MessageType(), err)
	}
	return got
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range sampleMessages() {
		t.Run(m.MessageType().String(), func(t *testing.T) {
			seen[m.MessageType()] = true
			got := roundTrip(t, m)
			if !reflect.DeepEqual(got, m) {
				t.Errorf("round trip differs:\n got %#v\nwant %#v", got, m)
			}
		})
	}
	for typ := TypeHello; typ < numTypes; typ++ {
		if !seen[typ] {
			t.Errorf("no sample message of type %s", typ)
		}
	}
}

// TestRoundTripZero checks that zero messages survive too.
func TestRoundTripZero(t *testing.T) {
	for typ := TypeHello; typ < numTypes; typ++ {
		m, err := NewMessage(typ)
		if err != nil {
			t.Fatal(err)
		}
		if m.MessageType() != typ {
			t.Errorf("NewMessage(%s).MessageType() = %s", typ, m.MessageType())
		}
		got := roundTrip(t, m)
		// Hello's zero time decodes as the UTC zero time.
		if h, ok := got.(*Hello); ok && h.AgentStart.IsZero() {
			h.AgentStart = time.Time{}
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("zero %s: got %#v", typ, got)
		}
	}
}

// TestRoundTripRandom is a property test: random values of every message
// type, with every exported field filled or left empty at random, come
// back deeply equal.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		typ := Type(1 + i%int(numTypes-1))
		m, _ := NewMessage(typ)
		testfill.Random(r, reflect.ValueOf(m).Elem())
		got := roundTrip(t, m)
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("random %s #%d differs:\n got %#v\nwant %#v", typ, i, got, m)
		}
	}
}

var le = binary.LittleEndian

func TestTypeString(t *testing.T) {
	tests := []struct {
		typ  Type
		want string
	}{
		{TypeHello, "hello"},
		{TypeSchedEvent, "sched_event"},
		{TypeBye, "bye"},
		{0, "type(0)"},
		{TypeRunnableWaits, "runnable_waits"},
		{TypeShellEvent, "shell_event"},
		{TypeResize, "resize"},
		{TypeOutput, "output"},
		{TypeFileData, "file_data"},
		{TypeResume, "resume"},
		{numTypes, "type(19)"},
		{0xffff, "type(65535)"},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("Type(%d).String() = %q, want %q", uint16(tt.typ), got, tt.want)
		}
	}
	if _, err := NewMessage(0); err == nil {
		t.Error("NewMessage(0) succeeded")
	}
}

func TestCurrentBuild(t *testing.T) {
	b := CurrentBuild()
	if b.ID == "" || len(b.ID) < 8 {
		t.Errorf("CurrentBuild().ID = %q, want the test binary's Go build ID", b.ID)
	}
	if len(b.Schema) != 12 || b.Schema != Schema() {
		t.Errorf("CurrentBuild().Schema = %q, Schema() = %q", b.Schema, Schema())
	}
	if b2 := CurrentBuild(); b2 != b {
		t.Errorf("CurrentBuild() changed: %+v then %+v", b, b2)
	}
}

func TestBuildCompatible(t *testing.T) {
	host := Build{Version: "(devel)", ID: "h", Schema: Schema()}
	for _, tt := range []struct {
		name  string
		agent Build
		want  string
	}{
		{"same schema, other binary", Build{Version: "(devel)", ID: "a", Schema: Schema()}, ""},
		{"stale agent", Build{Version: "(devel)", ID: "a", Schema: "000000000000"}, "another message schema"},
		{"unknown agent", Build{}, "another message schema"},
	} {
		err := host.Compatible(tt.agent)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Compatible = %v, want %q", tt.name, err, tt.want)
		}
	}
	released := Build{Version: "v1.2.0", Schema: Schema()}
	if err := released.Compatible(Build{Version: "v1.3.0", Schema: Schema()}); err == nil || !strings.Contains(err.Error(), "another release") {
		t.Errorf("releases v1.2.0 and v1.3.0: %v", err)
	}
	if err := released.Compatible(Build{Version: "(devel)", Schema: Schema()}); err != nil {
		t.Errorf("a checkout build of the same schema: %v", err)
	}
}

// TestSchemaSeesFields checks that the fingerprint covers nested spec
// types: a field renamed anywhere in a Job changes it.
func TestSchemaSeesFields(t *testing.T) {
	var a, b strings.Builder
	type inner struct {
		X int `msgpack:"x"`
	}
	type inner2 struct {
		Y int `msgpack:"y"`
	}
	describeType(&a, reflect.TypeFor[struct{ I inner }](), map[reflect.Type]bool{})
	describeType(&b, reflect.TypeFor[struct{ I inner2 }](), map[reflect.Type]bool{})
	if a.String() == b.String() {
		t.Errorf("a renamed nested field leaves the schema unchanged: %s", a.String())
	}
}

func TestParseGoBuildIDNote(t *testing.T) {
	note := func(name string, typ uint32, desc string) []byte {
		b := make([]byte, 12)
		le.PutUint32(b[0:], uint32(len(name)))
		le.PutUint32(b[4:], uint32(len(desc)))
		le.PutUint32(b[8:], typ)
		return append(append(b, name...), desc...)
	}
	tests := []struct {
		name string
		note []byte
		want string
	}{
		{"full", note("Go\x00\x00", 4, "act1/cont1/act2/cont2"), "cont2"},
		{"one part", note("Go\x00\x00", 4, "only"), "only"},
		{"wrong type", note("Go\x00\x00", 1, "a/b"), ""},
		{"wrong name", note("GNU\x00", 4, "a/b"), ""},
		{"short desc", note("Go\x00\x00", 4, "a/b")[:18], ""},
		{"tiny", []byte{1, 2}, ""},
	}
	for _, tt := range tests {
		if got := parseGoBuildIDNote(tt.note, le); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestShareArg(t *testing.T) {
	for _, tt := range []struct {
		tag, dir string
		rw       bool
	}{{"scxvm0", "/mnt/src", false}, {"scxvm1", "/home/a b,c=d%e", true}} {
		arg := FormatShareArg(tt.tag, tt.dir, tt.rw)
		if strings.ContainsAny(arg, " \t\n\"") {
			t.Errorf("FormatShareArg(%q) = %q: not one kernel parameter", tt.dir, arg)
		}
		v, ok := strings.CutPrefix(arg, ShareArg+"=")
		if !ok {
			t.Fatalf("FormatShareArg = %q, want %s=...", arg, ShareArg)
		}
		tag, dir, rw, err := ParseShareArg(v)
		if err != nil || tag != tt.tag || dir != tt.dir || rw != tt.rw {
			t.Errorf("ParseShareArg(%q) = %q, %q, %v, %v; want %q, %q, %v", v, tag, dir, rw, err, tt.tag, tt.dir, tt.rw)
		}
	}
	for _, bad := range []string{"", "scxvm0", "scxvm0,rx,/a", ",ro,/a", "scxvm0,ro,a", "scxvm0,ro,%zz"} {
		if _, _, _, err := ParseShareArg(bad); err == nil {
			t.Errorf("ParseShareArg(%q) succeeded", bad)
		}
	}
}
