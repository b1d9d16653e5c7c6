package workload

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// maxTrackedCPUs bounds the cpus_used bitmap.
const maxTrackedCPUs = 4096

// meter takes a worker's measurements. Everything the loop touches is
// preallocated: checkpoint and latency never allocate.
type meter struct {
	getcpu func() int

	startMono int64
	lastCP    int64
	lastCPU   int
	maxGap    int64
	maxGapCPU int
	maxGapAt  int64

	cpusUsed       [maxTrackedCPUs / 64]uint64
	migrations     []spec.Migration // mmap'd, cap maxMigrationsRecorded; pages fault in as used
	migMem         []byte
	migrationCount uint64

	lat      []uint64 // mmap'd, cap spec.MaxLatencySamples; pages fault in as used
	latMem   []byte
	latCount uint64
	rng      uint64

	startCPUTime  uint64
	startSched    [3]uint64
	startRusage   unix.Rusage
	startMigrated uint64
}

func newMeter(seed uint64, wantLatency bool) *meter {
	m := &meter{getcpu: cpuReader(), rng: seed | 1, lastCPU: -1}
	// Anonymous mappings, not Go allocations: a fresh worker process
	// would otherwise grow its heap by the full capacity (and zero it)
	// before the first sample. Migration holds no pointers.
	if mem, err := anonMap(int(unsafe.Sizeof(spec.Migration{})) * maxMigrationsRecorded); err == nil {
		m.migMem = mem
		m.migrations = unsafe.Slice((*spec.Migration)(unsafe.Pointer(&mem[0])), maxMigrationsRecorded)[:0]
	}
	if wantLatency {
		if mem, err := anonMap(8 * spec.MaxLatencySamples); err == nil {
			m.latMem = mem
			m.lat = unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), spec.MaxLatencySamples)[:0]
		}
	}
	return m
}

// release unmaps the migration log and the latency reservoir. It is safe
// to call more than once.
func (m *meter) release() {
	if m.migMem != nil {
		unix.Munmap(m.migMem)
		m.migMem, m.migrations = nil, nil
	}
	if m.latMem != nil {
		unix.Munmap(m.latMem)
		m.latMem, m.lat = nil, nil
	}
}

func anonMap(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

// begin records the starting values; call it on the worker thread.
func (m *meter) begin() {
	m.startSched = readSchedstat()
	unix.Getrusage(unix.RUSAGE_THREAD, &m.startRusage)
	if multiNode() {
		m.startMigrated = readVmstat("numa_pages_migrated")
	}
	m.startCPUTime = threadCPUTime()
	m.startMono = nanotime()
	m.lastCP = m.startMono
	m.lastCPU = m.getcpu()
	m.markCPU(m.lastCPU)
}

func (m *meter) markCPU(cpu int) {
	if cpu >= 0 && cpu < maxTrackedCPUs {
		m.cpusUsed[cpu/64] |= 1 << (cpu % 64)
	}
}

// checkpoint records progress at now: the gap since the previous
// checkpoint and a cpu change.
func (m *meter) checkpoint(now int64) {
	cpu := m.getcpu()
	if gap := now - m.lastCP; gap > m.maxGap {
		m.maxGap, m.maxGapCPU, m.maxGapAt = gap, cpu, now-m.startMono
	}
	m.lastCP = now
	if cpu != m.lastCPU {
		m.migrationCount++
		if len(m.migrations) < cap(m.migrations) {
			m.migrations = append(m.migrations, spec.Migration{AtNs: uint64(now - m.startMono), FromCPU: m.lastCPU, ToCPU: cpu})
		}
		m.lastCPU = cpu
		m.markCPU(cpu)
	}
}

// credit excludes an intended pause (a sleep of d ns) from the gap.
func (m *meter) credit(d int64) { m.lastCP += d }

// latency adds one resume-latency sample (reservoir sampling).
func (m *meter) latency(ns int64) {
	if ns < 0 {
		ns = 0
	}
	m.latCount++
	if m.latMem == nil {
		return
	}
	if len(m.lat) < cap(m.lat) {
		m.lat = append(m.lat, uint64(ns))
		return
	}
	if j := m.rand() % m.latCount; j < uint64(len(m.lat)) {
		m.lat[j] = uint64(ns)
	}
}

// rand is xorshift64*.
func (m *meter) rand() uint64 {
	m.rng ^= m.rng >> 12
	m.rng ^= m.rng << 25
	m.rng ^= m.rng >> 27
	return m.rng * 2685821657736338717
}

// finish fills r with the measurements and releases the reservoir.
func (m *meter) finish(r *spec.WorkerReport, process bool) {
	end := nanotime()
	cpuTime := threadCPUTime()
	sched := readSchedstat()
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)

	r.WallTimeNs = uint64(end - m.startMono)
	r.CPUTimeNs = cpuTime - m.startCPUTime
	if r.WallTimeNs > r.CPUTimeNs {
		r.OffCPUNs = r.WallTimeNs - r.CPUTimeNs
	}
	r.MigrationCount = m.migrationCount
	r.Migrations = append([]spec.Migration(nil), m.migrations...)
	for w, bits := range m.cpusUsed {
		for b := range 64 {
			if bits&(1<<b) != 0 {
				r.CPUsUsed = append(r.CPUsUsed, w*64+b)
			}
		}
	}
	if m.maxGap > 0 {
		r.MaxGapMs = uint64(m.maxGap / 1e6)
		r.MaxGapCPU = m.maxGapCPU
		r.MaxGapAtMs = uint64(m.maxGapAt / 1e6)
	}
	if m.latCount > 0 {
		r.ResumeLatenciesNs = append(spec.Samples(nil), m.lat...)
		r.ResumeLatencyCount = m.latCount
	}
	m.release()
	r.SchedstatCPUTimeNs = sub(sched[0], m.startSched[0])
	r.SchedstatRunDelayNs = sub(sched[1], m.startSched[1])
	r.SchedstatRunCount = sub(sched[2], m.startSched[2])
	r.VoluntaryCtxSwitches = uint64(sub(uint64(ru.Nvcsw), uint64(m.startRusage.Nvcsw)))
	r.InvoluntaryCtxSwitches = uint64(sub(uint64(ru.Nivcsw), uint64(m.startRusage.Nivcsw)))
	// numa_maps walks the page tables (costly): only where there is a
	// choice of node.
	if multiNode() {
		r.NumaPagesMigrated = sub(readVmstat("numa_pages_migrated"), m.startMigrated)
		if process {
			r.NumaPages = readNumaMaps("/proc/self/numa_maps")
		}
	}
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// multiNode reports whether the system has more than one NUMA node.
var multiNode = sync.OnceValue(func() bool {
	_, err := os.Stat("/sys/devices/system/node/node1")
	return err == nil
})

// readSchedstat returns cpu time, run delay and run count of the calling
// thread (zeros when schedstats are unavailable). Raw system calls and a
// stack buffer: no poller, no allocation.
func readSchedstat() [3]uint64 {
	var out [3]uint64
	fd, err := unix.Open("/proc/thread-self/schedstat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return out
	}
	var buf [128]byte
	n, _ := unix.Read(fd, buf[:])
	unix.Close(fd)
	i := 0
	for f := range out {
		for i < n && (buf[i] < '0' || buf[i] > '9') {
			i++
		}
		for i < n && buf[i] >= '0' && buf[i] <= '9' {
			out[f] = out[f]*10 + uint64(buf[i]-'0')
			i++
		}
	}
	return out
}

// readVmstat returns one /proc/vmstat counter (0 when missing).
func readVmstat(name string) uint64 {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if k, v, ok := strings.Cut(strings.TrimSpace(string(line)), " "); ok && k == name {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

// readNumaMaps sums the N<node>=<pages> fields of a numa_maps file per
// node (nil when unreadable or without NUMA information).
func readNumaMaps(path string) []uint64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var pages []uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for _, field := range strings.Fields(sc.Text()) {
			if len(field) < 3 || field[0] != 'N' {
				continue
			}
			k, v, ok := strings.Cut(field[1:], "=")
			if !ok {
				continue
			}
			node, err1 := strconv.Atoi(k)
			n, err2 := strconv.ParseUint(v, 10, 64)
			if err1 != nil || err2 != nil || node < 0 || node >= spec.MaxNodes {
				continue
			}
			for len(pages) <= node {
				pages = append(pages, 0)
			}
			pages[node] += n
		}
	}
	return pages
}
