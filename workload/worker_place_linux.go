package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// AluHot, SmtSiblingSpin, IpcVariance, NumaMigrationChurn, CgroupChurn and
// NumaWorkingSetSweep: compute shapes and placement changes.

// sysRoot is where cpu and node topology are read.
const sysRoot = "/sys/devices/system"

// aluHot runs n steps of four independent multiply-add chains: unlike
// spin's one dependent add, they keep several multipliers busy.
func (w *worker) aluHot(n int) {
	a, b, c, d := w.x, w.x^0x9e3779b97f4a7c15, w.x+0x632be59bd9b4e019, w.x|1
	for range n {
		a = a*0x5851f42d4c957f2d + 1
		b = b*0x14057b7ef767814f + 3
		c = c*0xd1342543de82ef95 + 5
		d = d*0xaf251af3b0f025b5 + 7
	}
	w.x = a ^ b ^ c ^ d
	w.units += uint64(n)
}

// pauseSpin does n increments with a PAUSE every 64.
func (w *worker) pauseSpin(n int) {
	for n > 0 {
		c := min(n, 64)
		w.spin(c)
		cpuPause()
		n -= c
	}
}

// setupChase links the lines of a cache_bytes buffer into one random cycle
// (Sattolo's algorithm), so that every load of chaseLines depends on the
// one before and misses the cache once the buffer exceeds it.
func (w *worker) setupChase() {
	lines := max(w.t.CacheBytes/lineSize, 2)
	perm := make([]uint32, lines)
	for i := range perm {
		perm[i] = uint32(i)
	}
	r := w.x | 1
	for i := lines - 1; i > 0; i-- {
		r ^= r << 13
		r ^= r >> 7
		r ^= r << 17
		j := int(r % uint64(i))
		perm[i], perm[j] = perm[j], perm[i]
	}
	chase := make([]uint32, lines*(lineSize/4))
	for i := range lines {
		chase[int(perm[i])*(lineSize/4)] = perm[(i+1)%lines]
	}
	w.k.chase = chase
}

// chaseLines follows the cycle for n dependent loads.
func (w *worker) chaseLines(n int) {
	idx := w.k.idx
	for range n {
		idx = int(w.k.chase[idx*(lineSize/4)])
	}
	w.k.idx = idx
	w.x += uint64(idx)
	w.units += uint64(n)
}

// readCPUList parses a sysfs cpu or node list file.
func readCPUList(path string) (spec.CPUSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return spec.CPUSet{}, err
	}
	return spec.ParseCPUSet(strings.TrimSpace(string(b)))
}

// pinSMT pins an SmtSiblingSpin worker with an inherited affinity to one
// hardware thread of its pair's core: pair g takes the g-th core whose
// siblings are all allowed.
func (w *worker) pinSMT() {
	if len(w.spec.CPUs) > 0 {
		return // the configured affinity wins
	}
	allowed := spec.NewCPUSet(startMask()...)
	var cores [][]int
	seen := map[int]bool{}
	for _, c := range allowed.Slice() {
		if seen[c] {
			continue
		}
		sib, err := readCPUList(filepath.Join(sysRoot, "cpu", "cpu"+strconv.Itoa(c), "topology/thread_siblings_list"))
		if err != nil || sib.Len() < 2 || !sib.Difference(allowed).IsEmpty() {
			continue
		}
		for _, s := range sib.Slice() {
			seen[s] = true
		}
		cores = append(cores, sib.Slice())
	}
	if len(cores) == 0 {
		w.degrade("no core with two allowed SMT siblings among cpus %s: the pair spins unpinned", allowed)
		return
	}
	core := cores[w.group%len(cores)]
	if err := pinTo(core[w.role%len(core)]); err != nil {
		w.degrade("pin to SMT sibling %d: %v: spins unpinned", core[w.role%len(core)], err)
	}
}

// onlineNodes returns each online NUMA node's cpus; without NUMA
// information, node 0 with every cpu.
func onlineNodes() map[int]spec.CPUSet {
	out := map[int]spec.CPUSet{}
	online, err := readCPUList(filepath.Join(sysRoot, "node/online"))
	if err != nil {
		return out
	}
	for _, n := range online.Slice() {
		cpus, err := readCPUList(filepath.Join(sysRoot, "node", "node"+strconv.Itoa(n), "cpulist"))
		if err == nil {
			out[n] = cpus
		}
	}
	return out
}

// loadNodeRotation builds NumaMigrationChurn's rotation: the allowed cpus
// of each node that has some.
func (w *worker) loadNodeRotation() {
	allowed := spec.NewCPUSet(startMask()...)
	nodes := onlineNodes()
	ids := make([]int, 0, len(nodes))
	for n := range nodes {
		ids = append(ids, n)
	}
	slices.Sort(ids)
	for _, n := range ids {
		cpus := nodes[n].Intersect(allowed)
		if cpus.IsEmpty() {
			continue
		}
		var set unix.CPUSet
		for _, c := range cpus.Slice() {
			set.Set(c)
		}
		w.k.rotation = append(w.k.rotation, set)
	}
	if len(w.k.rotation) < 2 {
		w.degrade("the allowed cpus %s are on one NUMA node: re-pinned to that node each period, no cross-node move", allowed)
	}
	if len(w.k.rotation) == 0 {
		var set unix.CPUSet
		for _, c := range allowed.Slice() {
			set.Set(c)
		}
		w.k.rotation = []unix.CPUSet{set}
	}
	w.k.idx = w.role // spread the workers over the nodes
}

// nodeStep moves the worker to the next node's cpus when the period is up.
func (w *worker) nodeStep() {
	now := nanotime()
	if now < w.k.next {
		return
	}
	w.k.next = now + int64(w.t.Period)
	set := &w.k.rotation[w.k.idx%len(w.k.rotation)]
	w.k.idx++
	unix.RawSyscall(unix.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(*set), uintptr(unsafe.Pointer(set)))
}

// setupCgroupChurn opens cgroup.procs of every cgroup the worker moves
// through; a write of "0" then moves the worker's process.
func (w *worker) setupCgroupChurn() error {
	dirs := w.spec.ChurnCgroups
	if len(dirs) < 2 {
		return fmt.Errorf("work_type: CgroupChurn got %d cgroups to move between, needs at least 2 (workload.ChurnCgroups)", len(dirs))
	}
	for _, d := range dirs {
		fd, err := unix.Open(filepath.Join(d, "cgroup.procs"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("work_type: CgroupChurn: open %s: %w", filepath.Join(d, "cgroup.procs"), err)
		}
		w.k.cgFds = append(w.k.cgFds, fd)
	}
	return nil
}

var procSelf = []byte("0")

// cgroupStep moves the worker to the next cgroup when the period is up.
func (w *worker) cgroupStep() {
	now := nanotime()
	if w.k.next == 0 {
		w.k.next = now + int64(w.t.Period)
		return
	}
	if now < w.k.next {
		return
	}
	w.k.next = now + int64(w.t.Period)
	w.k.idx = (w.k.idx + 1) % len(w.k.cgFds)
	_, e := w.syscall(unix.SYS_WRITE, uintptr(w.k.cgFds[w.k.idx]), uintptr(unsafe.Pointer(&procSelf[0])), 1)
	if e != 0 {
		w.degrade("move to %s: %v (stays where it is)", w.spec.ChurnCgroups[w.k.idx], e)
	}
}

// setupSweep maps NumaWorkingSetSweep's region and settles the nodes it
// moves through: the configured ones that are online, else every online
// node.
func (w *worker) setupSweep() error {
	mem, err := unix.Mmap(-1, 0, w.t.RegionBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("work_type.region_bytes: map %d bytes: %w", w.t.RegionBytes, err)
	}
	w.region = mem
	online := onlineNodes()
	for _, n := range w.t.Nodes {
		if _, ok := online[n]; ok {
			w.k.nodes = append(w.k.nodes, n)
		} else {
			w.degrade("node %d is not online: left out", n)
		}
	}
	if len(w.t.Nodes) == 0 || len(w.k.nodes) == 0 {
		w.k.nodes = w.k.nodes[:0]
		for n := range online {
			w.k.nodes = append(w.k.nodes, n)
		}
		slices.Sort(w.k.nodes)
	}
	if len(w.k.nodes) < 2 {
		w.degrade("one NUMA node: the working set stays where it is")
	}
	w.k.idx = w.role
	return nil
}

// mpolMFMove asks mbind to migrate pages already placed elsewhere.
const mpolMFMove = 1 << 1

// sweepChunk is the part of the region one NumaWorkingSetSweep iteration
// writes, so that progress is seen often even where a page fault is slow
// (a NUMA hinting fault, a TCG guest).
const sweepChunk = 256 << 10

// sweepStep writes every cache line of the region's next chunk, then binds
// the region to the next node when the period is up.
func (w *worker) sweepStep() {
	r := w.region
	start := w.k.ioCursor
	end := min(start+sweepChunk, int64(len(r)))
	for off := start; off < end; off += lineSize {
		r[off]++
	}
	w.k.ioCursor = end % int64(len(r))
	w.units += uint64((end - start) / lineSize)
	// With one node there is nothing to move; mbind would only cost its
	// LRU drain on every cpu.
	if len(w.k.nodes) < 2 {
		return
	}
	now := nanotime()
	if now < w.k.next {
		return
	}
	w.k.next = now + int64(w.t.Period)
	node := w.k.nodes[w.k.idx%len(w.k.nodes)]
	w.k.idx++
	mask := make([]uint64, node/64+1)
	mask[node/64] |= 1 << (node % 64)
	_, e := w.sys6(unix.SYS_MBIND, uintptr(unsafe.Pointer(&r[0])), uintptr(len(r)), unix.MPOL_BIND,
		uintptr(unsafe.Pointer(&mask[0])), uintptr(len(mask)*64+1), mpolMFMove)
	if e != 0 {
		w.degrade("mbind to node %d: %v", node, e)
	}
}
