package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Manager creates and manages cgroups below one root directory. Its methods
// are safe for concurrent use. Names are paths relative to the root
// ("a", or "a/b" for nested groups); they may not be empty, absolute or
// contain "..".
type Manager struct {
	root        string
	hierRoot    string // cgroup2 mount point (root itself with WithoutFSCheck)
	drainTo     string
	timeout     time.Duration
	fake        bool
	controllers []string // enabled in the manager's cgroups

	// write performs one write of value to file; tests replace it to
	// inject faults. It is called with mu not held.
	write func(file, value string) error
	sleep func(time.Duration)

	mu          sync.Mutex
	created     []string // names in creation order; "" is the root itself
	rootCreated bool
}

// NewManager returns a manager for the cgroup directory root, creating it
// when missing, after checking that it is on cgroup v2 and enabling the
// controllers (cpuset, and cpu when available) in the cgroup.subtree_control
// of root and of its ancestors up to the hierarchy root.
func NewManager(root string, opts ...Option) (*Manager, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	root = filepath.Clean(root)
	m := &Manager{root: root, timeout: o.timeout, fake: o.noFSCheck, sleep: time.Sleep}
	m.write = m.writeFile

	if !m.fake {
		hier, err := hierarchyRoot(root)
		if err != nil {
			return nil, err
		}
		m.hierRoot = hier
	} else {
		m.hierRoot = root
	}
	m.drainTo = m.hierRoot
	if o.drainTo != "" {
		m.drainTo = filepath.Clean(o.drainTo)
	}

	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup root: %w", err)
		}
		m.rootCreated = true
	} else if err != nil {
		return nil, fmt.Errorf("cgroup root: %w", err)
	}
	if err := m.enableControllers(o.controllers); err != nil {
		if m.rootCreated {
			os.Remove(root)
		}
		return nil, err
	}
	return m, nil
}

// hierarchyRoot checks that root (or, when it does not exist yet, its
// nearest existing ancestor) is on cgroup2 and returns the mount point: the
// highest ancestor still on the same cgroup2 file system.
func hierarchyRoot(root string) (string, error) {
	dir := root
	for {
		var st unix.Statfs_t
		err := unix.Statfs(dir, &st)
		if err == nil {
			if st.Type != unix.CGROUP2_SUPER_MAGIC {
				return "", fmt.Errorf("%w at %s (found %s): mount -t cgroup2 none /sys/fs/cgroup, or boot with systemd.unified_cgroup_hierarchy=1", ErrNoCgroup2, dir, fsName(st.Type))
			}
			break
		}
		if !errors.Is(err, unix.ENOENT) || dir == filepath.Dir(dir) {
			return "", fmt.Errorf("check cgroup root %s: %w", dir, err)
		}
		dir = filepath.Dir(dir)
	}
	var top unix.Stat_t
	if err := unix.Stat(dir, &top); err != nil {
		return "", fmt.Errorf("check cgroup root %s: %w", dir, err)
	}
	for dir != filepath.Dir(dir) {
		parent := filepath.Dir(dir)
		var st unix.Statfs_t
		var pst unix.Stat_t
		if unix.Statfs(parent, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC ||
			unix.Stat(parent, &pst) != nil || pst.Dev != top.Dev {
			break
		}
		dir = parent
	}
	return dir, nil
}

func fsName(magic int64) string {
	switch magic {
	case unix.CGROUP_SUPER_MAGIC:
		return "cgroup v1"
	case unix.TMPFS_MAGIC:
		return "tmpfs, the cgroup v1 layout"
	case unix.SYSFS_MAGIC:
		return "sysfs, nothing mounted"
	default:
		return fmt.Sprintf("file system magic %#x", magic)
	}
}

// enableControllers enables the controllers in every cgroup from the
// hierarchy root down to the manager root, so that the manager's cgroups
// get them. Controllers are only written where missing.
func (m *Manager) enableControllers(want []controller) error {
	chain := []string{m.root}
	for d := m.root; d != m.hierRoot && d != filepath.Dir(d); {
		d = filepath.Dir(d)
		chain = append(chain, d)
	}
	slices.Reverse(chain) // top-down

	avail, err := m.readWords(filepath.Join(chain[0], "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("enable controllers: %w", err)
	}
	for _, c := range want {
		if avail != nil && !slices.Contains(avail, c.name) {
			if c.required {
				return fmt.Errorf("enable controllers: %s is not available in %s (cgroup.controllers: %q); is it bound to a cgroup v1 hierarchy?", c.name, chain[0], strings.Join(avail, " "))
			}
			continue
		}
		m.controllers = append(m.controllers, c.name)
	}
	for _, dir := range chain {
		if err := m.enableIn(dir); err != nil {
			return err
		}
	}
	return nil
}

// enableIn writes "+c" for each manager controller missing from dir's
// cgroup.subtree_control.
func (m *Manager) enableIn(dir string) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	have, err := m.readWords(file)
	if err != nil {
		return fmt.Errorf("enable controllers: %w", err)
	}
	var add []string
	for _, c := range m.controllers {
		if !slices.Contains(have, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := m.write(file, strings.Join(add, " ")); err != nil {
		return fmt.Errorf("enable controllers: %w", err)
	}
	return nil
}

// readWords reads a space-separated interface file. In fake mode a
// missing file reads as nil (meaning "anything").
func (m *Manager) readWords(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if m.fake && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w := strings.Fields(string(b))
	if w == nil {
		w = []string{}
	}
	return w, nil
}

// Controllers returns the controllers enabled for the manager's cgroups.
func (m *Manager) Controllers() []string { return slices.Clone(m.controllers) }

// Plain reports whether the manager works on a tree of plain files
// (WithoutFSCheck) rather than on cgroup2. Processes cannot be created in
// such a tree (workload.InCgroup); they can only be written to its files.
func (m *Manager) Plain() bool { return m.fake }

// Root returns the manager's root directory.
func (m *Manager) Root() string { return m.root }

// Path returns the directory of the named cgroup.
func (m *Manager) Path(name string) string { return filepath.Join(m.root, name) }

func checkName(name string) error {
	if name == "" || filepath.IsAbs(name) || filepath.Clean(name) != name || slices.Contains(strings.Split(name, "/"), "..") {
		return fmt.Errorf("bad cgroup name %q: want a relative path such as \"a\" or \"a/b\" without \"..\"", name)
	}
	return nil
}

// Create creates the named cgroup (and missing parents, which get the
// manager's controllers enabled). An existing cgroup is adopted: Cleanup
// removes it like one it created.
func (m *Manager) Create(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	parts := strings.Split(name, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		if i > 0 {
			if err := m.enableIn(m.Path(strings.Join(parts[:i], "/"))); err != nil {
				return fmt.Errorf("create cgroup %s: %w", name, err)
			}
		}
		err := os.Mkdir(m.Path(sub), 0o755)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", name, err)
		}
		m.mu.Lock()
		if !slices.Contains(m.created, sub) {
			m.created = append(m.created, sub)
		}
		m.mu.Unlock()
	}
	return nil
}

// Remove drains the named cgroup and its sub-cgroups and removes them,
// deepest first; rmdir is retried while the kernel reports the cgroup busy
// (exiting tasks linger briefly). Removing a cgroup that does not exist
// is not an error.
func (m *Manager) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := os.Stat(m.Path(name)); errors.Is(err, fs.ErrNotExist) {
		m.forget(name)
		return nil
	}
	// Sub-cgroups first, deepest first.
	var dirs []string
	filepath.WalkDir(m.Path(name), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, dir := range dirs {
		rel, _ := filepath.Rel(m.root, dir)
		if err := m.removeOne(rel); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) removeOne(name string) error {
	if err := m.Drain(name); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", name, err)
	}
	if err := m.rmdir(m.Path(name)); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", name, err)
	}
	m.forget(name)
	return nil
}

// rmdir removes a cgroup directory, retrying EBUSY until the timeout.
// In fake mode the interface files are removed first.
func (m *Manager) rmdir(dir string) error {
	if m.fake {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !e.IsDir() {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	deadline := time.Now().Add(m.timeout)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		m.sleep(20 * time.Millisecond)
	}
}

func (m *Manager) forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.created = slices.DeleteFunc(m.created, func(s string) bool { return s == name })
}

// SetCPUs writes cpus (a cpu list such as "0-3,5") to the named cgroup's
// cpuset.cpus.
func (m *Manager) SetCPUs(name, cpus string) error {
	return m.writeIn(name, "cpuset.cpus", cpus)
}

// ClearCPUs empties the named cgroup's cpuset.cpus, so that it uses its
// parent's effective cpus again.
func (m *Manager) ClearCPUs(name string) error {
	return m.writeIn(name, "cpuset.cpus", "")
}

// SetMems writes mems (a node list such as "0-1") to cpuset.mems.
func (m *Manager) SetMems(name, mems string) error {
	return m.writeIn(name, "cpuset.mems", mems)
}

func (m *Manager) writeIn(name, file, value string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return m.write(filepath.Join(m.Path(name), file), value)
}

// MoveTask moves process pid (all its threads) into the named cgroup.
func (m *Manager) MoveTask(name string, pid int) error {
	return m.MoveTasks(name, []int{pid})
}

// MoveTasks moves processes into the named cgroup through cgroup.procs.
// A process that no longer exists is skipped; EBUSY is retried.
func (m *Manager) MoveTasks(name string, pids []int) error {
	if err := checkName(name); err != nil {
		return err
	}
	return m.moveAll(filepath.Join(m.Path(name), "cgroup.procs"), pids)
}

// MoveToRoot moves process pid into the manager's root cgroup, the
// threaded domain of thread workers (see MoveThreads).
func (m *Manager) MoveToRoot(pid int) error {
	return m.moveAll(filepath.Join(m.root, "cgroup.procs"), []int{pid})
}

// MoveThreads moves threads into the named cgroup through cgroup.threads,
// first making the cgroup threaded when it is a domain (which makes the
// manager root a threaded domain). A thread whose process is outside the
// threaded domain has its whole process moved to the manager root first.
func (m *Manager) MoveThreads(name string, tids []int) error {
	if err := checkName(name); err != nil {
		return err
	}
	typeFile := filepath.Join(m.Path(name), "cgroup.type")
	typ, err := os.ReadFile(typeFile)
	if err != nil && !(m.fake && errors.Is(err, fs.ErrNotExist)) {
		return fmt.Errorf("move threads to %s: %w", name, err)
	}
	if t := strings.TrimSpace(string(typ)); t != "threaded" {
		if err := m.write(typeFile, "threaded"); err != nil {
			return fmt.Errorf("move threads to %s: %w", name, err)
		}
	}
	threads := filepath.Join(m.Path(name), "cgroup.threads")
	for _, tid := range tids {
		err := m.moveAll(threads, []int{tid})
		if errors.Is(err, syscall.EOPNOTSUPP) {
			// The thread's process is outside the threaded domain: move
			// the process to the manager root, then the thread.
			tgid, terr := threadGroup(tid)
			if terr != nil {
				return fmt.Errorf("move threads to %s: %w (%w)", name, err, terr)
			}
			if err = m.MoveToRoot(tgid); err == nil {
				err = m.moveAll(threads, []int{tid})
			}
		}
		if err != nil {
			return fmt.Errorf("move threads to %s: %w", name, err)
		}
	}
	return nil
}

// threadGroup returns the process id (Tgid) of thread tid.
func threadGroup(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Tgid in /proc/%d/status", tid)
}

// moveAll writes each id to file: ESRCH (gone) is skipped, EBUSY retried.
func (m *Manager) moveAll(file string, ids []int) error {
	for _, id := range ids {
		v := strconv.Itoa(id)
		for attempt := 0; ; attempt++ {
			err := m.write(file, v)
			if err == nil || errors.Is(err, syscall.ESRCH) {
				break
			}
			if errors.Is(err, syscall.EBUSY) && attempt < busyRetries {
				m.sleep(busyBackoff)
				continue
			}
			return err
		}
	}
	return nil
}

// Drain moves every process of the named cgroup to the drain target (the
// hierarchy root unless WithDrainTarget). For a threaded cgroup this moves
// the whole processes its threads belong to.
func (m *Manager) Drain(name string) error {
	pids, err := m.Tasks(name)
	if err != nil {
		return fmt.Errorf("drain %s: %w", name, err)
	}
	if err := m.moveAll(filepath.Join(m.drainTo, "cgroup.procs"), pids); err != nil {
		return fmt.Errorf("drain %s: %w", name, err)
	}
	return nil
}

// Tasks returns the processes in the named cgroup (cgroup.procs). For a
// threaded cgroup, whose cgroup.procs cannot be read, it returns the
// processes its threads belong to.
func (m *Manager) Tasks(name string) ([]int, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	pids, err := m.readIDs(filepath.Join(m.Path(name), "cgroup.procs"))
	if !errors.Is(err, syscall.EOPNOTSUPP) {
		return pids, err
	}
	tids, err := m.Threads(name)
	if err != nil {
		return nil, err
	}
	pids = pids[:0]
	for _, tid := range tids {
		tgid, err := threadGroup(tid)
		if err != nil {
			continue // exited meanwhile
		}
		if !slices.Contains(pids, tgid) {
			pids = append(pids, tgid)
		}
	}
	return pids, nil
}

// Threads returns the threads in the named cgroup (cgroup.threads).
func (m *Manager) Threads(name string) ([]int, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return m.readIDs(filepath.Join(m.Path(name), "cgroup.threads"))
}

func (m *Manager) readIDs(file string) ([]int, error) {
	f, err := os.Open(file)
	if m.fake && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []int
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" {
			continue
		}
		id, err := strconv.Atoi(line)
		if err != nil {
			return nil, fmt.Errorf("read %s: bad id %q", file, line)
		}
		ids = append(ids, id)
	}
	if err := s.Err(); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return ids, nil
}

// Cleanup drains and removes every cgroup the manager created or adopted,
// newest first, and the root when the manager created it. It goes on after
// errors and returns them all.
func (m *Manager) Cleanup() error {
	m.mu.Lock()
	names := slices.Clone(m.created)
	rootCreated := m.rootCreated
	m.mu.Unlock()
	var errs []error
	for _, name := range slices.Backward(names) {
		if err := m.Remove(name); err != nil {
			errs = append(errs, err)
		}
	}
	if rootCreated && len(errs) == 0 {
		if err := m.rmdir(m.root); err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup root: %w", err))
		} else {
			m.mu.Lock()
			m.rootCreated = false
			m.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// writeFile writes value to an interface file with one write(2), bounded
// by the manager's timeout. In fake mode missing files are created.
func (m *Manager) writeFile(file, value string) error {
	flags := os.O_WRONLY | os.O_TRUNC
	if m.fake {
		flags |= os.O_CREATE
	}
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(file, flags, 0o644)
		if err != nil {
			done <- err
			return
		}
		_, err = f.Write([]byte(value))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	timer := time.NewTimer(m.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in our message
			}
			return &WriteError{File: file, Value: value, Err: err}
		}
		return nil
	case <-timer.C:
		return &WriteError{File: file, Value: value, Err: fmt.Errorf("timed out after %v", m.timeout), TimedOut: true}
	}
}

// WriteError is a failed write to a cgroup interface file.
type WriteError struct {
	File     string
	Value    string
	Err      error
	TimedOut bool
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("write %q to %s: %v", e.Value, e.File, e.Err)
}

// Unwrap returns the underlying error (a syscall.Errno for kernel errors).
func (e *WriteError) Unwrap() error { return e.Err }
