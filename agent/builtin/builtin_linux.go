package builtin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Names of the objects in the collection a scheduler is loaded from.
const (
	opsMapName     = "ops"
	counterMapName = "scxvm_enq_count"
	enqueueProg    = "scxvm_enqueue"
)

// Scheduler is a built-in scheduler attached to the kernel. Close detaches
// it.
type Scheduler struct {
	name, opsName string

	mu     sync.Mutex
	closed bool
	coll   *ebpf.Collection
	link   link.Link
}

// Load builds the built-in scheduler name (one of [Names]) for the running
// kernel, loads it and attaches its struct_ops map with a BPF link. It
// returns once the link exists; the kernel may still be enabling the
// scheduler, so callers wait for /sys/kernel/sched_ext/state to read
// "enabled". A verifier rejection returns an error wrapping
// *ebpf.VerifierError with the verifier's log.
//
// Decoding the kernel's BTF dominates the cost: 2-9 s in a TCG guest, about
// 0.3 s natively; [Options.BTFCache] pays it once for several Loads.
func Load(name string, opts Options) (*Scheduler, error) {
	opsName, err := OpsName(name)
	if err != nil {
		return nil, err
	}
	o, err := opts.resolve(name)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}

	start := time.Now()
	// One cache, so that the kernel BTF is parsed once for the layout, the
	// program's attach target and the struct_ops map's value type.
	spec, err := o.cache.Kernel()
	if err != nil {
		if errors.Is(err, btf.ErrNotSupported) || errors.Is(err, ebpf.ErrNotSupported) {
			err = fmt.Errorf("%w (kernel has no BTF: needs CONFIG_DEBUG_INFO_BTF): %w", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("load %s: kernel BTF: %w", name, err)
	}
	l, err := readLayout(spec)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	o.logf("builtin %s: ops %q, insert kfunc %s (BTF id %d), timeout %d ms, kernel BTF read in %v",
		name, opsName, l.insert.name, l.insert.id, o.timeoutMs, time.Since(start).Round(time.Millisecond))

	cs, err := collectionSpec(name, opsName, l, o)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	start = time.Now()
	coll, err := ebpf.NewCollectionWithOptions(cs, ebpf.CollectionOptions{Cache: o.cache})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	o.logf("builtin %s: loaded in %v", name, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	lk, err := link.AttachStructOps(link.StructOpsOptions{Map: coll.Maps[opsMapName]})
	if err != nil {
		coll.Close()
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			err = fmt.Errorf("%w (another sched_ext scheduler is attached)", err)
		}
		return nil, fmt.Errorf("load %s: attach: %w", name, err)
	}
	o.logf("builtin %s: attached in %v", name, time.Since(start).Round(time.Millisecond))
	return &Scheduler{name: name, opsName: opsName, coll: coll, link: lk}, nil
}

// collectionSpec describes the maps and programs of scheduler name.
func collectionSpec(name, opsName string, l *layout, o options) (*ebpf.CollectionSpec, error) {
	cs := &ebpf.CollectionSpec{
		Maps:     map[string]*ebpf.MapSpec{},
		Programs: map[string]*ebpf.ProgramSpec{},
	}

	var enqueue asm.Instructions
	switch name {
	case Stall:
		insns, err := stallEnqueue(l)
		if err != nil {
			return nil, err
		}
		enqueue = insns
	case Starve:
		insns, err := starveEnqueue(l)
		if err != nil {
			return nil, err
		}
		enqueue = insns
	case Error:
		cs.Maps[counterMapName] = &ebpf.MapSpec{
			Name:       counterMapName,
			Type:       ebpf.Array,
			KeySize:    4,
			ValueSize:  8,
			MaxEntries: 1,
		}
		enqueue = errorEnqueue(l, counterMapName, o.errorAfter)
	}
	if enqueue != nil {
		cs.Programs[enqueueProg] = &ebpf.ProgramSpec{
			Name:         enqueueProg,
			Type:         ebpf.StructOps,
			AttachTo:     opsType + ":enqueue",
			License:      "GPL",
			Instructions: enqueue,
		}
	}

	value, data := opsValue(l, opsName, o.timeoutMs, enqueue != nil)
	cs.Maps[opsMapName] = &ebpf.MapSpec{
		Name:       opsName,
		Type:       ebpf.StructOpsMap,
		Flags:      unix.BPF_F_LINK,
		Key:        &btf.Int{Size: 4},
		KeySize:    4,
		Value:      value,
		MaxEntries: 1,
		Contents:   []ebpf.MapKV{{Key: uint32(0), Value: data}},
	}
	return cs, nil
}

// opsValue returns a struct sched_ext_ops holding only the members the
// schedulers set, and its contents. cilium/ebpf copies members by name into
// the kernel's layout and fills function pointers with the program whose
// AttachTo names the member.
func opsValue(l *layout, opsName string, timeoutMs uint32, enqueue bool) (*btf.Struct, []byte) {
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Char}
	st := &btf.Struct{
		Name: opsType,
		Size: 8 + 4 + 4 + l.name.size,
		Members: []btf.Member{
			{Name: "timeout_ms", Type: u32, Offset: 8 * 8},
			{Name: "name", Type: &btf.Array{Index: u32, Type: char, Nelems: l.name.size}, Offset: 16 * 8},
		},
	}
	if enqueue {
		// Members go in offset order.
		st.Members = append([]btf.Member{{
			Name: "enqueue", Type: &btf.Pointer{Target: &btf.FuncProto{Return: &btf.Void{}}}, Offset: 0,
		}}, st.Members...)
	}
	data := make([]byte, st.Size)
	binary.NativeEndian.PutUint32(data[8:], timeoutMs)
	copy(data[16:16+l.name.size-1], opsName)
	return st, data
}

// Name returns the ops name the kernel shows in
// /sys/kernel/sched_ext/root/ops while the scheduler is loaded, such as
// "scxvm_fifo".
func (s *Scheduler) Name() string { return s.opsName }

// Close detaches the scheduler by destroying its link, then releases its
// maps and programs. It is idempotent and safe after the kernel ejected the
// scheduler.
func (s *Scheduler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true

	var err error
	if s.link != nil {
		if cerr := s.link.Close(); cerr != nil {
			err = fmt.Errorf("close %s link: %w", s.name, cerr)
		}
	}
	if s.coll != nil {
		s.coll.Close()
	}
	return err
}
