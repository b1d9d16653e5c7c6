package builtin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// fakeKernel describes the BTF of a made-up kernel.
type fakeKernel struct {
	kfuncs      []string // DSQ insert kfuncs it has
	kfuncParams int      // their parameter count; 0 means 4
	noSchedExt  bool     // no sched_ext types at all
	anonTask    bool     // task_struct members inside an anonymous struct
}

var (
	u32T  = &btf.Int{Name: "unsigned int", Size: 4}
	u64T  = &btf.Int{Name: "long long unsigned int", Size: 8}
	charT = &btf.Int{Name: "char", Size: 1, Encoding: btf.Char}
)

// Offsets of the fake kernel, in bytes.
const (
	fakeDataOff   = 8
	fakeEnqueue   = 8
	fakeTimeout   = 280
	fakeName      = 296
	fakeTaskAnon  = 64
	fakeTaskFlags = 44
	fakeTaskTgid  = 1500
	fakeTaskComm  = 1800
)

func (k fakeKernel) spec(t *testing.T) *btf.Spec {
	t.Helper()
	fnPtr := &btf.Pointer{Target: &btf.FuncProto{Return: &btf.Void{}}}
	var task *btf.Struct
	if k.anonTask {
		inner := &btf.Struct{Size: 2048, Members: []btf.Member{
			{Name: "flags", Type: u32T, Offset: fakeTaskFlags * 8},
			{Name: "tgid", Type: u32T, Offset: fakeTaskTgid * 8},
			{Name: "comm", Type: &btf.Array{Index: u32T, Type: charT, Nelems: 16}, Offset: fakeTaskComm * 8},
		}}
		task = &btf.Struct{Name: taskType, Size: 4096, Members: []btf.Member{
			{Name: "state", Type: u32T, Offset: 0},
			{Type: inner, Offset: fakeTaskAnon * 8},
		}}
	} else {
		task = &btf.Struct{Name: taskType, Size: 4096, Members: []btf.Member{
			{Name: "state", Type: u32T, Offset: 0},
			{Name: "flags", Type: u32T, Offset: fakeTaskFlags * 8},
			{Name: "tgid", Type: u32T, Offset: fakeTaskTgid * 8},
			{Name: "comm", Type: &btf.Array{Index: u32T, Type: charT, Nelems: 16}, Offset: fakeTaskComm * 8},
		}}
	}
	types := []btf.Type{task}
	if !k.noSchedExt {
		ops := &btf.Struct{Name: opsType, Size: 424, Members: []btf.Member{
			{Name: "select_cpu", Type: fnPtr, Offset: 0},
			{Name: "enqueue", Type: fnPtr, Offset: fakeEnqueue * 8},
			{Name: "flags", Type: u64T, Offset: 272 * 8},
			{Name: "timeout_ms", Type: u32T, Offset: fakeTimeout * 8},
			{Name: "name", Type: &btf.Array{Index: u32T, Type: charT, Nelems: 128}, Offset: fakeName * 8},
		}}
		common := &btf.Struct{Name: "bpf_struct_ops_common", Size: 8, Members: []btf.Member{
			{Name: "refcnt", Type: u32T, Offset: 0},
			{Name: "state", Type: u32T, Offset: 32},
		}}
		types = append(types, &btf.Struct{Name: opsValueType, Size: 432, Members: []btf.Member{
			{Name: "common", Type: common, Offset: 0},
			{Name: "data", Type: ops, Offset: fakeDataOff * 8},
		}})
	}
	n := k.kfuncParams
	if n == 0 {
		n = 4
	}
	taskPtr := &btf.Pointer{Target: task}
	for _, name := range k.kfuncs {
		params := []btf.FuncParam{{Name: "p", Type: taskPtr}}
		for i := 1; i < n; i++ {
			params = append(params, btf.FuncParam{Name: "arg", Type: u64T})
		}
		types = append(types, &btf.Func{
			Name:    name,
			Type:    &btf.FuncProto{Return: &btf.Void{}, Params: params},
			Linkage: btf.GlobalFunc,
		})
	}
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestReadLayout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kernel     fakeKernel
		wantKfunc  string
		wantTask   field // flags; tgid is checked by offset delta
		wantErr    error
		errContain string
	}{
		{name: "6.12", kernel: fakeKernel{kfuncs: []string{"scx_bpf_dispatch"}}, wantKfunc: "scx_bpf_dispatch"},
		{name: "6.13", kernel: fakeKernel{kfuncs: []string{"scx_bpf_dispatch", "scx_bpf_dsq_insert"}}, wantKfunc: "scx_bpf_dsq_insert"},
		{name: "6.19", kernel: fakeKernel{kfuncs: []string{"scx_bpf_dsq_insert", "scx_bpf_dsq_insert___v2"}}, wantKfunc: "scx_bpf_dsq_insert___v2"},
		{name: "anonymous task members", kernel: fakeKernel{kfuncs: []string{"scx_bpf_dsq_insert"}, anonTask: true}, wantKfunc: "scx_bpf_dsq_insert"},
		{name: "no kfunc", kernel: fakeKernel{}, wantErr: ErrNotSupported, errContain: "none of the kfuncs"},
		{name: "kfunc signature changed", kernel: fakeKernel{kfuncs: []string{"scx_bpf_dsq_insert"}, kfuncParams: 5}, wantErr: ErrNotSupported, errContain: "want 4 parameters"},
		{name: "no sched_ext", kernel: fakeKernel{noSchedExt: true, kfuncs: []string{"scx_bpf_dispatch"}}, wantErr: ErrNotSupported, errContain: "CONFIG_SCHED_CLASS_EXT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.kernel.spec(t)
			l, err := readLayout(spec)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(errString(err), tc.errContain) {
					t.Fatalf("readLayout error = %v, want %v containing %q", err, tc.wantErr, tc.errContain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var taskBase uint32
			if tc.kernel.anonTask {
				taskBase = fakeTaskAnon
			}
			want := layout{
				valueSize: 432,
				dataOff:   fakeDataOff,
				name:      field{fakeName, 128},
				timeoutMs: field{fakeTimeout, 4},
				enqueue:   field{fakeEnqueue, 8},
				taskFlags: field{taskBase + fakeTaskFlags, 4},
				taskTgid:  field{taskBase + fakeTaskTgid, 4},
				taskComm:  field{taskBase + fakeTaskComm, 16},
			}
			got := *l
			got.insert = kfunc{}
			if got != want {
				t.Errorf("layout = %+v\nwant     %+v", got, want)
			}
			var fn *btf.Func
			if err := spec.TypeByName(tc.wantKfunc, &fn); err != nil {
				t.Fatal(err)
			}
			id, _ := spec.TypeID(fn)
			if l.insert.name != tc.wantKfunc || l.insert.id != id {
				t.Errorf("insert kfunc = %+v, want %s (id %d)", l.insert, tc.wantKfunc, id)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func testLayout(t *testing.T) *layout {
	t.Helper()
	l, err := readLayout(fakeKernel{kfuncs: []string{"scx_bpf_dsq_insert"}}.spec(t))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// kfuncCalls returns the constants of the kfunc calls in insns.
func kfuncCalls(insns asm.Instructions) []int64 {
	var ids []int64
	for _, ins := range insns {
		if ins.IsKfuncCall() {
			ids = append(ids, ins.Constant)
		}
	}
	return ids
}

func TestStallEnqueue(t *testing.T) {
	l := testLayout(t)
	insns, err := stallEnqueue(l)
	if err != nil {
		t.Fatal(err)
	}
	// Marshalling resolves the jump labels.
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v\n%v", err, insns)
	}
	if ids := kfuncCalls(insns); len(ids) != 1 || ids[0] != int64(l.insert.id) {
		t.Errorf("kfunc calls %v, want one of id %d", ids, l.insert.id)
	}
	loads := map[int16]bool{}
	for _, ins := range insns {
		if ins.OpCode.Class().IsLoad() && ins.Src == asm.R6 {
			loads[ins.Offset] = true
		}
	}
	if !loads[int16(l.taskFlags.off)] || !loads[int16(l.taskTgid.off)] {
		t.Errorf("program does not read task flags at %d and tgid at %d:\n%v", l.taskFlags.off, l.taskTgid.off, insns)
	}

	far := *l
	far.taskTgid.off = 40000
	if _, err := stallEnqueue(&far); !errors.Is(err, ErrNotSupported) {
		t.Errorf("tgid at offset 40000: error %v, want ErrNotSupported", err)
	}
}

func TestStarveEnqueue(t *testing.T) {
	l := testLayout(t)
	insns, err := starveEnqueue(l)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v\n%v", err, insns)
	}
	if ids := kfuncCalls(insns); len(ids) != 1 || ids[0] != int64(l.insert.id) {
		t.Errorf("kfunc calls %v, want one of id %d", ids, l.insert.id)
	}
	loads := map[int16]bool{}
	for _, ins := range insns {
		if ins.OpCode.Class().IsLoad() && ins.Src == asm.R6 {
			loads[ins.Offset] = true
		}
	}
	if !loads[int16(l.taskFlags.off)] || !loads[int16(l.taskComm.off)] || loads[int16(l.taskTgid.off)] {
		t.Errorf("program should read task flags at %d and comm at %d, not tgid:\n%v", l.taskFlags.off, l.taskComm.off, insns)
	}
	if rcuPrefix != 0x756372 {
		t.Errorf("rcuPrefix %#x is not \"rcu\" little-endian", rcuPrefix)
	}
	far := *l
	far.taskComm.off = 40000
	if _, err := starveEnqueue(&far); !errors.Is(err, ErrNotSupported) {
		t.Errorf("comm at offset 40000: error %v, want ErrNotSupported", err)
	}
}

func TestErrorEnqueue(t *testing.T) {
	l := testLayout(t)
	insns := errorEnqueue(l, "counter", 42)
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v\n%v", err, insns)
	}
	if ids := kfuncCalls(insns); len(ids) != 1 || ids[0] != int64(l.insert.id) {
		t.Errorf("kfunc calls %v, want one of id %d", ids, l.insert.id)
	}
	var refs, after, bogus, global int
	for _, ins := range insns {
		if ins.Reference() == "counter" && ins.IsLoadFromMap() {
			refs++
		}
		if ins.IsConstantLoad(asm.DWord) {
			switch uint64(ins.Constant) {
			case 42:
				after++
			case BogusDSQ:
				bogus++
			case DSQGlobal:
				global++
			}
		}
	}
	if refs != 1 || after != 1 || bogus != 1 || global != 1 {
		t.Errorf("counter refs %d, threshold loads %d, bogus DSQ loads %d, global DSQ loads %d; want 1 each:\n%v",
			refs, after, bogus, global, insns)
	}
}

func TestOpsValue(t *testing.T) {
	l := testLayout(t)
	for _, enqueue := range []bool{false, true} {
		st, data := opsValue(l, "scxvm_fifo", 1234, enqueue)
		if int(st.Size) != len(data) {
			t.Fatalf("struct size %d, data %d bytes", st.Size, len(data))
		}
		members := map[string]uint32{}
		var last int64 = -1
		for _, m := range st.Members {
			if int64(m.Offset) <= last {
				t.Errorf("member %s out of offset order", m.Name)
			}
			last = int64(m.Offset)
			members[m.Name] = m.Offset.Bytes()
		}
		if _, ok := members["enqueue"]; ok != enqueue {
			t.Errorf("enqueue=%v: members %v", enqueue, members)
		}
		if got := binary.NativeEndian.Uint32(data[members["timeout_ms"]:]); got != 1234 {
			t.Errorf("timeout_ms = %d", got)
		}
		name := data[members["name"] : members["name"]+l.name.size]
		if got := string(bytes.TrimRight(name, "\x00")); got != "scxvm_fifo" {
			t.Errorf("name = %q", got)
		}
		// cilium/ebpf marshals the type to create the map.
		b, err := btf.NewBuilder([]btf.Type{st}, nil)
		if err == nil {
			_, err = b.Marshal(nil, nil)
		}
		if err != nil {
			t.Errorf("marshal ops type: %v", err)
		}
	}
}
