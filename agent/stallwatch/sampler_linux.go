package stallwatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxOpenThreads bounds the threads whose files a Sampler keeps open;
// the files of further threads are opened for each read.
const maxOpenThreads = 1024

// Sampler reads the runnable threads of a /proc tree with raw system
// calls. Opening a proc file costs several times more than reading it
// (about 100 us against 15 us in a TCG guest), so the sampler keeps the
// directories and the stat and schedstat files of every thread open
// between samples and reads them again from offset 0, which makes the
// kernel regenerate their content. A file of an exited thread fails with
// ESRCH and is closed; a pid reused by a new thread is reopened then.
// Close releases the files.
type Sampler struct {
	root string
	// Self is a thread id to leave out (the sampling thread itself).
	Self int

	buf   []byte
	dents []byte
	pids  []int
	tids  []int
	rootF *dirFile
	// procs and threads hold the open files of /proc/PID and
	// /proc/PID/task/TID directories, by PID and TID.
	procs, threads map[int]*threadFiles
	// spares stand in for processes and threads beyond maxOpenThreads.
	spares [2]threadFiles
	gen    uint64
}

// threadFiles are the open files of one /proc/PID or /proc/PID/task/TID
// directory; -1 when not open.
type threadFiles struct {
	stat, schedstat int
	task            *dirFile // PID/task, for multi-threaded processes
	seen            uint64
	// kthread is set once a stat showed a kernel thread: single-threaded
	// for good, so later samples look at its state letter only.
	kthread bool
}

// dirFile is an open directory read again from its start.
type dirFile struct {
	path string
	fd   int
}

// NewSampler returns a sampler of the proc file system at root ("/proc").
func NewSampler(root string) *Sampler {
	return &Sampler{
		root: root, buf: make([]byte, 4096), dents: make([]byte, 16384),
		procs: map[int]*threadFiles{}, threads: map[int]*threadFiles{}, spares: [2]threadFiles{{stat: -1, schedstat: -1}, {stat: -1, schedstat: -1}},
	}
}

// Close closes every file the sampler keeps open. The sampler can still
// be used; it opens them again.
func (s *Sampler) Close() {
	for _, m := range []map[int]*threadFiles{s.procs, s.threads} {
		for id, f := range m {
			f.close()
			delete(m, id)
		}
	}
	s.spares[0].close()
	s.spares[1].close()
	if s.rootF != nil {
		unix.Close(s.rootF.fd)
		s.rootF = nil
	}
}

func (f *threadFiles) close() {
	for _, fd := range []int{f.stat, f.schedstat} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	if f.task != nil {
		unix.Close(f.task.fd)
	}
	f.stat, f.schedstat, f.task = -1, -1, nil
}

// Sample appends every runnable thread (state R) to dst and returns it
// with the number of threads read. Threads that exit while they are read
// are left out. An error means the tree itself could not be read.
func (s *Sampler) Sample(dst []Task) ([]Task, int, error) {
	s.gen++
	if s.rootF == nil {
		fd, err := unix.Open(s.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return dst, 0, fmt.Errorf("open %s: %w", s.root, err)
		}
		s.rootF = &dirFile{path: s.root, fd: fd}
	}
	var err error
	s.pids, err = s.list(s.rootF, s.pids[:0])
	if err != nil {
		return dst, 0, fmt.Errorf("list %s: %w", s.root, err)
	}
	n := 0
	for _, tgid := range s.pids {
		var procDir string // built when a file has to be opened
		dir := func() string {
			if procDir == "" {
				procDir = s.root + "/" + strconv.Itoa(tgid)
			}
			return procDir
		}
		// A single-threaded process (every kernel thread) is read in one
		// file: its stat is its only thread's.
		pf := s.files(s.procs, tgid, &s.spares[0])
		if pf.kthread {
			b, err := s.read(dir, "/stat", &pf.stat)
			if err != nil {
				continue // exited
			}
			n++
			if state, ok := StatState(b); ok && state != 'R' {
				continue
			}
		}
		st, ok, err := s.stat(dir, pf)
		if err != nil {
			return dst, n, err
		}
		if !ok {
			continue // exited
		}
		if st.Threads <= 1 {
			if !pf.kthread {
				n++
			}
			pf.kthread = st.Kthread
			dst = s.add(dst, dir, pf, tgid, st)
			continue
		}
		if pf.task == nil {
			fd, err := unix.Open(dir()+"/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue // exited
			}
			pf.task = &dirFile{path: dir() + "/task", fd: fd}
		}
		s.tids, err = s.list(pf.task, s.tids[:0])
		if err != nil {
			continue // exited
		}
		for _, tid := range s.tids {
			taskDir := pf.task.path
			var threadDir string
			dir := func() string {
				if threadDir == "" {
					threadDir = taskDir + "/" + strconv.Itoa(tid)
				}
				return threadDir
			}
			tf := s.files(s.threads, tid, &s.spares[1])
			st, ok, err := s.stat(dir, tf)
			if err != nil {
				return dst, n, err
			}
			if ok {
				n++
				dst = s.add(dst, dir, tf, tgid, st)
			}
		}
	}
	s.spares[0].close()
	s.spares[1].close()
	for _, m := range []map[int]*threadFiles{s.procs, s.threads} {
		for id, f := range m {
			if f.seen != s.gen {
				f.close()
				delete(m, id)
			}
		}
	}
	return dst, n, nil
}

// files returns the open files of dir, registering it. Beyond
// maxOpenThreads a directory is not registered: spare, whose files are
// closed before each use and after the sample, is returned instead.
func (s *Sampler) files(m map[int]*threadFiles, id int, spare *threadFiles) *threadFiles {
	f := m[id]
	if f == nil {
		if len(s.procs)+len(s.threads) >= maxOpenThreads {
			spare.close()
			return spare
		}
		f = &threadFiles{stat: -1, schedstat: -1}
		m[id] = f
	}
	f.seen = s.gen
	return f
}

// stat reads dir()/stat; ok is false when the thread is gone.
func (s *Sampler) stat(dir func() string, f *threadFiles) (st Stat, ok bool, err error) {
	b, err := s.read(dir, "/stat", &f.stat)
	if err != nil {
		return st, false, nil
	}
	st, err = ParseStat(b)
	if err != nil {
		return st, false, fmt.Errorf("%s/stat: %w", dir(), err)
	}
	return st, true, nil
}

// add appends the thread of dir to dst when it is runnable, with its
// schedstat counters.
func (s *Sampler) add(dst []Task, dir func() string, f *threadFiles, tgid int, st Stat) []Task {
	if st.State != 'R' || st.PID == s.Self {
		return dst
	}
	t := Task{PID: st.PID, TGID: tgid, Comm: st.Comm, CPU: st.CPU, Policy: st.Policy, Kthread: st.Kthread}
	if b, err := s.read(dir, "/schedstat", &f.schedstat); err == nil {
		if ss, err := ParseSchedstat(b); err == nil {
			t.RunNs, t.Slices = ss.RunNs, ss.Slices
		}
	} else {
		// No schedstat (CONFIG_SCHED_INFO off): clock ticks are coarser
		// but still move when the thread runs long.
		t.RunNs = st.UserTicks + st.SystemTicks
	}
	return append(dst, t)
}

// errGone reports a file that read nothing: its thread exited.
var errGone = errors.New("thread gone")

// read reads the small file dir()+name from offset 0 into the sampler's
// buffer, through *fd when it is open, else opening it (and keeping it in
// *fd). On error *fd is closed.
func (s *Sampler) read(dir func() string, name string, fd *int) ([]byte, error) {
	if *fd < 0 {
		f, err := unix.Open(dir()+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		*fd = f
	}
	for {
		n, err := unix.Pread(*fd, s.buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && n == 0 {
			err = errGone
		}
		if err != nil {
			unix.Close(*fd)
			*fd = -1
			return nil, err
		}
		return s.buf[:n], nil
	}
}

// list appends the numeric names in directory d, read from its start,
// to ids. It parses the directory entries itself: the names of other
// entries are not needed, and allocating a string per entry would cost
// more than the rest under TCG.
func (s *Sampler) list(d *dirFile, ids []int) ([]int, error) {
	if _, err := unix.Seek(d.fd, 0, 0); err != nil {
		return ids, err
	}
	for {
		n, err := unix.Getdents(d.fd, s.dents)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return ids, err
		}
		if n <= 0 {
			return ids, nil
		}
		ids = appendDirentIDs(ids, s.dents[:n])
	}
}

// appendDirentIDs appends the names of the linux_dirent64 records in buf
// that are decimal numbers.
func appendDirentIDs(ids []int, buf []byte) []int {
	// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen;
	// u8 d_type; char d_name[]; }
	const nameOff = 19
	for len(buf) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < nameOff || reclen > len(buf) {
			break
		}
		name := buf[nameOff:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if v, ok := parseDec(name); ok && v <= math.MaxInt32 {
			ids = append(ids, int(v))
		}
		buf = buf[reclen:]
	}
	return ids
}
