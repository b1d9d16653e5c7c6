package workload

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/scxvm/scxvm/spec"
)

// The spawner and its process workers talk through a compact hand-written
// binary form. Process workers are re-executions of the spawner's own
// executable, so both ends are always the same build and the form needs no
// versioning. (Host and guest agent are two binaries; their handshake,
// protocol.Build, is what keeps them in step.)
// It replaced JSON for the spec and msgpack for the report: reflection-based
// codecs build their type caches on first use, which cost every freshly
// exec'd worker about 0.5 ms of CPU. wire_test.go fills every field by
// reflection, so a field added to the types but not here fails the test.

// workerSpec is what a worker needs to know about itself.
type workerSpec struct {
	Index  int
	Parent int // the spawner's pid; a worker whose parent differs exits
	Config spec.WorkloadConfig
	CPUs   []int // affinity (nil: inherit)
	// PipeIn and PipeOut are the partner pipe fds (-1 without).
	PipeIn, PipeOut int
	Seed            int64
	// ChurnCgroups are the cgroup directories a CgroupChurn worker moves
	// through (ChurnCgroups).
	ChurnCgroups []string
	// NoLatency turns off wake-up latency measurement (benchmarks).
	NoLatency bool
}

var errWire = errors.New("decode worker message: truncated or malformed")

type wenc struct{ b []byte }

func (e *wenc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *wenc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *wenc) bool(v bool) {
	if v {
		e.uint(1)
	} else {
		e.uint(0)
	}
}
func (e *wenc) str(s string) { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *wenc) ints(v []int) {
	if v == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(v)) + 1)
	for _, x := range v {
		e.int(int64(x))
	}
}
func (e *wenc) uints(v []uint64) {
	if v == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(v)) + 1)
	for _, x := range v {
		e.uint(x)
	}
}

type wdec struct {
	b   []byte
	err error
}

func (d *wdec) fail() { d.err, d.b = errWire, nil }

func (d *wdec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *wdec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *wdec) bool() bool { return d.uint() != 0 }

func (d *wdec) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// length reads a slice length written by ints-style encoders (0 = nil,
// else n+1) and checks it against the bytes left (each element >= 1 byte).
func (d *wdec) length() (n int, isNil bool) {
	v := d.uint()
	if v == 0 {
		return 0, true
	}
	if v-1 > uint64(len(d.b)) {
		d.fail()
		return 0, true
	}
	return int(v - 1), false
}

func (d *wdec) ints() []int {
	n, isNil := d.length()
	if isNil {
		return nil
	}
	v := make([]int, n)
	for i := range v {
		v[i] = int(d.int())
	}
	return v
}

func (d *wdec) uints() []uint64 {
	n, isNil := d.length()
	if isNil {
		return nil
	}
	v := make([]uint64, n)
	for i := range v {
		v[i] = d.uint()
	}
	return v
}

func (e *wenc) config(c spec.WorkloadConfig) {
	e.int(int64(c.NumWorkers))
	t := c.WorkType
	e.str(string(t.Kind))
	for _, v := range []int{t.SpinIters, t.BurstIters, t.CacheBytes, t.Stride, t.FanOut, t.Ops,
		t.RegionBytes, t.Touches, t.Contenders, t.HoldIters, t.WorkIters} {
		e.int(int64(v))
	}
	e.int(int64(t.Burst))
	e.int(int64(t.Sleep))
	e.addedKnobs(t)
	if t.Phases == nil {
		e.uint(0)
	} else {
		e.uint(uint64(len(t.Phases)) + 1)
		for _, p := range t.Phases {
			e.str(string(p.Kind))
			e.int(int64(p.Duration))
		}
	}
	e.str(t.CustomName)
	a := c.Affinity
	e.str(string(a.Kind))
	e.ints(a.CPUs)
	e.ints(a.From)
	e.int(int64(a.Count))
	e.int(int64(a.CPU))
	e.str(string(c.SchedPolicy.Class))
	e.int(int64(c.SchedPolicy.Priority))
	e.str(string(c.MemPolicy.Mode))
	e.ints(c.MemPolicy.Nodes)
	if c.MemPolicy.Flags == nil {
		e.uint(0)
	} else {
		e.uint(uint64(len(c.MemPolicy.Flags)) + 1)
		for _, f := range c.MemPolicy.Flags {
			e.str(string(f))
		}
	}
	e.str(string(c.CloneMode))
	e.int(int64(c.Nice))
}

func (d *wdec) config() spec.WorkloadConfig {
	var c spec.WorkloadConfig
	c.NumWorkers = int(d.int())
	t := &c.WorkType
	t.Kind = spec.WorkKind(d.str())
	for _, p := range []*int{&t.SpinIters, &t.BurstIters, &t.CacheBytes, &t.Stride, &t.FanOut, &t.Ops,
		&t.RegionBytes, &t.Touches, &t.Contenders, &t.HoldIters, &t.WorkIters} {
		*p = int(d.int())
	}
	t.Burst = time.Duration(d.int())
	t.Sleep = time.Duration(d.int())
	d.addedKnobs(t)
	if n, isNil := d.length(); !isNil {
		t.Phases = make([]spec.Phase, n)
		for i := range t.Phases {
			t.Phases[i] = spec.Phase{Kind: spec.PhaseKind(d.str()), Duration: time.Duration(d.int())}
		}
	}
	t.CustomName = d.str()
	c.Affinity.Kind = spec.AffinityKind(d.str())
	c.Affinity.CPUs = d.ints()
	c.Affinity.From = d.ints()
	c.Affinity.Count = int(d.int())
	c.Affinity.CPU = int(d.int())
	c.SchedPolicy.Class = spec.PolicyClass(d.str())
	c.SchedPolicy.Priority = int(d.int())
	c.MemPolicy.Mode = spec.MemPolicyMode(d.str())
	c.MemPolicy.Nodes = d.ints()
	if n, isNil := d.length(); !isNil {
		c.MemPolicy.Flags = make([]spec.MemPolicyFlag, n)
		for i := range c.MemPolicy.Flags {
			c.MemPolicy.Flags[i] = spec.MemPolicyFlag(d.str())
		}
	}
	c.CloneMode = spec.CloneMode(d.str())
	c.Nice = int(d.int())
	return c
}

// appendReport encodes r.
func appendReport(b []byte, r *spec.WorkerReport) []byte {
	e := wenc{b: b}
	e.int(int64(r.Index))
	e.int(int64(r.TID))
	e.bool(r.IsMessenger)
	for _, v := range []uint64{r.WorkUnits, r.Iterations, r.CPUTimeNs, r.WallTimeNs, r.OffCPUNs, r.MigrationCount} {
		e.uint(v)
	}
	e.ints(r.CPUsUsed)
	if r.Migrations == nil {
		e.uint(0)
	} else {
		e.uint(uint64(len(r.Migrations)) + 1)
		for _, m := range r.Migrations {
			e.uint(m.AtNs)
			e.int(int64(m.FromCPU))
			e.int(int64(m.ToCPU))
		}
	}
	e.uint(r.MaxGapMs)
	e.int(int64(r.MaxGapCPU))
	e.uint(r.MaxGapAtMs)
	e.uints(r.ResumeLatenciesNs)
	for _, v := range []uint64{r.ResumeLatencyCount, r.SchedstatRunDelayNs, r.SchedstatRunCount,
		r.SchedstatCPUTimeNs, r.VoluntaryCtxSwitches, r.InvoluntaryCtxSwitches} {
		e.uint(v)
	}
	e.uints(r.NumaPages)
	e.uint(r.NumaPagesMigrated)
	e.str(r.Degraded)
	e.bool(r.Completed)
	e.str(string(r.Exit.Kind))
	e.int(int64(r.Exit.Code))
	e.int(int64(r.Exit.Signal))
	e.str(r.Exit.Message)
	return e.b
}

// decodeReport decodes what appendReport wrote.
func decodeReport(b []byte) (spec.WorkerReport, error) {
	d := wdec{b: b}
	var r spec.WorkerReport
	r.Index = int(d.int())
	r.TID = int(d.int())
	r.IsMessenger = d.bool()
	for _, p := range []*uint64{&r.WorkUnits, &r.Iterations, &r.CPUTimeNs, &r.WallTimeNs, &r.OffCPUNs, &r.MigrationCount} {
		*p = d.uint()
	}
	r.CPUsUsed = d.ints()
	if n, isNil := d.length(); !isNil {
		r.Migrations = make([]spec.Migration, n)
		for i := range r.Migrations {
			r.Migrations[i] = spec.Migration{AtNs: d.uint(), FromCPU: int(d.int()), ToCPU: int(d.int())}
		}
	}
	r.MaxGapMs = d.uint()
	r.MaxGapCPU = int(d.int())
	r.MaxGapAtMs = d.uint()
	r.ResumeLatenciesNs = d.uints()
	for _, p := range []*uint64{&r.ResumeLatencyCount, &r.SchedstatRunDelayNs, &r.SchedstatRunCount,
		&r.SchedstatCPUTimeNs, &r.VoluntaryCtxSwitches, &r.InvoluntaryCtxSwitches} {
		*p = d.uint()
	}
	r.NumaPages = d.uints()
	r.NumaPagesMigrated = d.uint()
	r.Degraded = d.str()
	r.Completed = d.bool()
	r.Exit.Kind = spec.ExitKind(d.str())
	r.Exit.Code = int(d.int())
	r.Exit.Signal = int(d.int())
	r.Exit.Message = d.str()
	if d.err == nil && len(d.b) != 0 {
		d.err = errWire
	}
	return r, d.err
}

// appendSpec encodes a worker spec.
func appendSpec(b []byte, s *workerSpec) []byte {
	e := wenc{b: b}
	e.int(int64(s.Index))
	e.int(int64(s.Parent))
	e.config(s.Config)
	e.ints(s.CPUs)
	e.int(int64(s.PipeIn))
	e.int(int64(s.PipeOut))
	e.int(s.Seed)
	e.strs(s.ChurnCgroups)
	e.bool(s.NoLatency)
	return e.b
}

func decodeSpec(b []byte) (workerSpec, error) {
	d := wdec{b: b}
	var s workerSpec
	s.Index = int(d.int())
	s.Parent = int(d.int())
	s.Config = d.config()
	s.CPUs = d.ints()
	s.PipeIn = int(d.int())
	s.PipeOut = int(d.int())
	s.Seed = d.int()
	s.ChurnCgroups = d.strs()
	s.NoLatency = d.bool()
	if d.err == nil && len(d.b) != 0 {
		d.err = errWire
	}
	return s, d.err
}
