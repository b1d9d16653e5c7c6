package spec

import (
	"maps"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// SchedTelemetry is one reading of the kernel's sched_ext interface: every
// file of /sys/kernel/sched_ext (the global files, and the running
// scheduler's root/ directory with its events where the kernel has them),
// plus sched_ext's debugfs files in the start and end readings. Keys are
// the files' paths relative to /sys/kernel/sched_ext ("enable_seq",
// "root/ops"); a file of "NAME VALUE" lines (root/events) gives one
// counter per line ("root/events/SCX_EV_SELECT_CPU_FALLBACK"); debugfs
// files are under "debugfs/" ("debugfs/sched/ext_server/cpu0/runtime").
// Which keys exist depends on the kernel: 6.12 has state, switch_all,
// nr_rejected, hotplug_seq, enable_seq and root/ops; 6.15 and later add
// root/events; 7.x adds root/caps (with sub-schedulers) and debugfs
// sched/ext_server.
type SchedTelemetry struct {
	// At is the time since the job arrived in the guest.
	At time.Duration `msgpack:"at" json:"at_ns"`
	// Counters are the files (and lines) that hold one unsigned integer.
	Counters Counters `msgpack:"counters,omitempty" json:"counters,omitempty"`
	// Values are the other files' contents, trimmed ("state": "enabled",
	// "root/ops": "simple").
	Values map[string]string `msgpack:"values,omitempty" json:"values,omitempty"`
}

// Delta returns, for every counter in both t and end, how much it grew
// from t to end (negative when it fell, as a new scheduler's root/events
// restart from zero). Counters that did not change are left out.
func (t SchedTelemetry) Delta(end SchedTelemetry) map[string]int64 {
	out := map[string]int64{}
	for _, k := range slices.Sorted(maps.Keys(end.Counters)) {
		if v0, ok := t.Counters[k]; ok && end.Counters[k] != v0 {
			out[k] = int64(end.Counters[k]) - int64(v0)
		}
	}
	return out
}

// Counters are named unsigned counters. They encode to msgpack with their
// keys in order (msgpack sorts the keys of only some map types itself), so
// that equal readings give equal bytes on the wire.
type Counters map[string]uint64

// EncodeMsgpack implements msgpack.CustomEncoder.
func (c Counters) EncodeMsgpack(enc *msgpack.Encoder) error {
	if c == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(len(c)); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.EncodeUint(c[k]); err != nil {
			return err
		}
	}
	return nil
}
