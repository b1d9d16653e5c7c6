package workload

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// getcpuSyscall is getcpu(2) without the vDSO.
func getcpuSyscall() int {
	var cpu uint32
	_, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	if e != 0 {
		return -1
	}
	return int(cpu)
}

// futexWake wakes up to n waiters on addr (the spawner's wake on stop;
// workers use worker.futexWake).
func futexWake(addr *uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(n), 0, 0, 0)
}

func schedYield() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// Shared memory layout, in 64-byte lines so that no two writers share a
// cache line:
//
//	line 0            header: stop flag (u32 @0), started flag (u32 @4),
//	                  run deadline (i64 @8, CLOCK_MONOTONIC ns, 0: none)
//	lines 1..n        per-worker iteration counter (u64 @0)
//	lines n+1..       per group, groupLines(t) lines each: word (u32 @0),
//	                  ack (u32 @4), stamp (i64 @8), pipe stamps per role
//	                  (i64 @16, @24), two more futex words (u32 @32,
//	                  @36), three kind-specific slots (@40, @48, @56);
//	                  further lines for kinds that need them (worktypes)
const (
	lineSize    = 64
	memfdName   = "scxvm-workload"
	offStop     = 0
	offStarted  = 4
	offDeadline = 8
)

type layout struct {
	workers, groups int
	lines           int // per group
	size            int
}

func layoutFor(workers, groupSize int) layout { return layoutLines(workers, groupSize, 1) }

func layoutLines(workers, groupSize, lines int) layout {
	groups := workers / groupSize
	size := lineSize * (1 + workers + groups*lines)
	page := unix.Getpagesize()
	size = (size + page - 1) / page * page
	return layout{workers: workers, groups: groups, lines: lines, size: size}
}

// shm is a mapping of the shared memfd.
type shm struct {
	mem []byte
	lay layout
}

func (s *shm) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }
func (s *shm) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&s.mem[off])) }
func (s *shm) i64(off int) *int64  { return (*int64)(unsafe.Pointer(&s.mem[off])) }

func (s *shm) stop() *uint32             { return s.u32(offStop) }
func (s *shm) started() *uint32          { return s.u32(offStarted) }
func (s *shm) deadline() *int64          { return s.i64(offDeadline) }
func (s *shm) counter(i int) *uint64     { return s.u64(lineSize * (1 + i)) }
func (s *shm) groupBase(g int) int       { return lineSize * (1 + s.lay.workers + g*s.lay.lines) }
func (s *shm) groupWord(g int) *uint32   { return s.u32(s.groupBase(g)) }
func (s *shm) groupAck(g int) *uint32    { return s.u32(s.groupBase(g) + 4) }
func (s *shm) groupStamp(g int) *int64   { return s.i64(s.groupBase(g) + 8) }
func (s *shm) pipeStamp(g, r int) *int64 { return s.i64(s.groupBase(g) + 16 + 8*r) }

// createShm makes the memfd and maps it.
func createShm(lay layout) (fd int, s *shm, err error) {
	fd, err = unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, nil, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(lay.size)); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("size shared memory: %w", err)
	}
	s, err = mapShm(fd, lay)
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, s, nil
}

func mapShm(fd int, lay layout) (*shm, error) {
	mem, err := unix.Mmap(fd, 0, lay.size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map shared memory: %w", err)
	}
	return &shm{mem: mem, lay: lay}, nil
}

func (s *shm) unmap() error {
	if s == nil || s.mem == nil {
		return nil
	}
	err := unix.Munmap(s.mem)
	s.mem = nil
	return err
}

// wakeAll wakes every waiter on every group word (used on stop).
func (s *shm) wakeAll() {
	for g := range s.lay.groups {
		futexWake(s.groupWord(g), 1<<30)
		futexWake(s.groupAck(g), 1<<30)
		futexWake(s.groupWord2(g), 1<<30)
		futexWake(s.groupWord3(g), 1<<30)
	}
}

// threadCPUTime is CLOCK_THREAD_CPUTIME_ID of the calling thread.
func threadCPUTime() uint64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return uint64(ts.Nano())
}

var maxWaitTimespec = unix.NsecToTimespec(int64(maxSleepChunk / time.Nanosecond))

// futex(2) operations (shared, not FUTEX_PRIVATE_FLAG).
const (
	futexWaitOp = 0
	futexWakeOp = 1
)
