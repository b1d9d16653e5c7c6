package builtin

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// Kernel type and function names the schedulers depend on.
const (
	opsType      = "sched_ext_ops"
	opsValueType = "bpf_struct_ops_sched_ext_ops"
	taskType     = "task_struct"
)

// insertKfuncs lists the kfuncs that insert a task into a DSQ, newest first:
// 6.19 renamed the bool-returning version scx_bpf_dsq_insert___v2 and kept
// scx_bpf_dsq_insert for compatibility, 6.13 introduced scx_bpf_dsq_insert
// and 6.12 only has scx_bpf_dispatch. All take (p, dsq_id, slice, enq_flags).
var insertKfuncs = []string{"scx_bpf_dsq_insert___v2", "scx_bpf_dsq_insert", "scx_bpf_dispatch"}

// pfKthread is PF_KTHREAD from include/linux/sched.h, unchanged since 2.6.
const pfKthread = 0x00200000

// field is a member of a kernel struct: its byte offset and size.
type field struct {
	off, size uint32
}

// kfunc is a kernel function resolved in the kernel's BTF.
type kfunc struct {
	name string
	id   btf.TypeID
}

// layout is everything the schedulers need to know about the running
// kernel, read from its BTF.
type layout struct {
	valueSize uint32 // size of struct bpf_struct_ops_sched_ext_ops
	dataOff   uint32 // offset of its sched_ext_ops member "data"

	// Members of struct sched_ext_ops, relative to dataOff.
	name      field
	timeoutMs field
	enqueue   field

	// Members of struct task_struct.
	taskFlags field
	taskTgid  field
	taskComm  field

	insert kfunc
}

// readLayout resolves the layout from a kernel BTF spec.
func readLayout(spec *btf.Spec) (*layout, error) {
	var value *btf.Struct
	if err := spec.TypeByName(opsValueType, &value); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return nil, fmt.Errorf("kernel BTF has no %s (needs CONFIG_SCHED_CLASS_EXT, Linux 6.12+): %w", opsValueType, ErrNotSupported)
		}
		return nil, fmt.Errorf("find %s: %w", opsValueType, err)
	}
	l := &layout{valueSize: value.Size}

	var ops *btf.Struct
	for _, m := range value.Members {
		if st, ok := btf.As[*btf.Struct](m.Type); ok && st.Name == opsType {
			ops, l.dataOff = st, m.Offset.Bytes()
			break
		}
	}
	if ops == nil {
		return nil, fmt.Errorf("%s has no %s member: %w", opsValueType, opsType, ErrNotSupported)
	}

	var err error
	if l.name, err = findField(ops, "name"); err != nil {
		return nil, err
	}
	if l.timeoutMs, err = findField(ops, "timeout_ms"); err != nil {
		return nil, err
	}
	if l.enqueue, err = findField(ops, "enqueue"); err != nil {
		return nil, err
	}
	if l.timeoutMs.size != 4 || l.enqueue.size != 8 || l.name.size < 16 {
		return nil, fmt.Errorf("%s: unexpected member sizes (timeout_ms %d, enqueue %d, name %d): %w",
			opsType, l.timeoutMs.size, l.enqueue.size, l.name.size, ErrNotSupported)
	}

	var task *btf.Struct
	if err := spec.TypeByName(taskType, &task); err != nil {
		return nil, fmt.Errorf("find %s: %w", taskType, err)
	}
	if l.taskFlags, err = findField(task, "flags"); err != nil {
		return nil, err
	}
	if l.taskTgid, err = findField(task, "tgid"); err != nil {
		return nil, err
	}
	if l.taskComm, err = findField(task, "comm"); err != nil {
		return nil, err
	}
	if l.taskFlags.size != 4 || l.taskTgid.size != 4 || l.taskComm.size < 4 {
		return nil, fmt.Errorf("%s: unexpected sizes of flags (%d) or tgid (%d): %w",
			taskType, l.taskFlags.size, l.taskTgid.size, ErrNotSupported)
	}

	if l.insert, err = findInsertKfunc(spec); err != nil {
		return nil, err
	}
	return l, nil
}

// findField returns the member called name of st, looking through anonymous
// structs and unions (randomized_struct_fields_start may wrap task_struct's
// members in one).
func findField(st *btf.Struct, name string) (field, error) {
	f, ok := walkField(st.Members, name, 0)
	if !ok {
		return field{}, fmt.Errorf("kernel BTF: %s has no member %q: %w", st.TypeName(), name, ErrNotSupported)
	}
	return f, nil
}

func walkField(members []btf.Member, name string, base uint32) (field, bool) {
	for _, m := range members {
		if m.BitfieldSize > 0 {
			continue
		}
		off := base + m.Offset.Bytes()
		if m.Name == name {
			size, err := btf.Sizeof(m.Type)
			if err != nil {
				return field{}, false
			}
			return field{off: off, size: uint32(size)}, true
		}
		if m.Name != "" {
			continue
		}
		var inner []btf.Member
		switch t := btf.UnderlyingType(m.Type).(type) {
		case *btf.Struct:
			inner = t.Members
		case *btf.Union:
			inner = t.Members
		}
		if f, ok := walkField(inner, name, off); ok {
			return f, true
		}
	}
	return field{}, false
}

// findInsertKfunc picks the newest DSQ insert kfunc the kernel has and
// checks that it takes the four arguments the programs pass.
func findInsertKfunc(spec *btf.Spec) (kfunc, error) {
	for _, name := range insertKfuncs {
		var fn *btf.Func
		err := spec.TypeByName(name, &fn)
		if errors.Is(err, btf.ErrNotFound) {
			continue
		}
		if err != nil {
			return kfunc{}, fmt.Errorf("find kfunc %s: %w", name, err)
		}
		proto, ok := btf.As[*btf.FuncProto](fn.Type)
		if !ok || len(proto.Params) != 4 {
			return kfunc{}, fmt.Errorf("kfunc %s: want 4 parameters (p, dsq_id, slice, enq_flags), kernel has %v: %w",
				name, fn.Type, ErrNotSupported)
		}
		id, err := spec.TypeID(fn)
		if err != nil {
			return kfunc{}, fmt.Errorf("kfunc %s: %w", name, err)
		}
		return kfunc{name: name, id: id}, nil
	}
	return kfunc{}, fmt.Errorf("kernel BTF has none of the kfuncs %v: %w", insertKfuncs, ErrNotSupported)
}
