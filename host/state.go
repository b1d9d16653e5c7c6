package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/scxvm/scxvm/internal/cachedir"
)

// Values of Config.State: whether a VM may start from a saved state (a
// snapshot of a machine booted the same way) instead of booting.
const (
	// StateOff (the zero value) boots and offers no SaveState.
	StateOff = ""
	// StateSave boots and adds a QMP monitor, so that VM.SaveState can
	// save the machine's state into the cache.
	StateSave = "save"
	// StateAuto restores the machine's saved state from the cache when
	// there is one (VM.Start says which), else it is StateSave.
	StateAuto = "auto"
)

// Start modes, as VM.Start reports them.
const (
	StartCold = "cold" // the kernel booted
	StartWarm = "warm" // QEMU restored a saved state
)

// StartInfo says how a VM came up.
type StartInfo struct {
	// Mode is StartWarm or StartCold.
	Mode string `json:"mode"`
	// Key identifies the machine: QEMU's binary and every argument that
	// shapes the guest (kernel, image, machine, cpu model, topology,
	// memory, devices, kernel command line), files by content.
	Key string `json:"key,omitempty"`
	// State is the state file restored from (warm), or the one SaveState
	// writes (cold); empty when Config.State is StateOff or unusable.
	State string `json:"state,omitempty"`
	// Note says why a VM that could have started warm booted: no saved
	// state yet, or one that could not be used.
	Note string `json:"note,omitempty"`
}

// RestoreTime returns how long QEMU took from its start until the
// restored guest ran (warm VMs; QEMU's run state polled over the monitor
// every few milliseconds), or 0 when unknown or not yet.
func (vm *VM) RestoreTime() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.restored
}

// watchRestore polls QEMU's run state until the restored guest runs.
func (vm *VM) watchRestore(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if vm.plan.RAMFD > 0 {
		if err := vm.startIncoming(ctx); err != nil {
			vm.stop(fmt.Errorf("restore: %w", err))
			return
		}
	}
	for ctx.Err() == nil {
		ret, err := vm.qmp.do(ctx, "query-status", nil, nil)
		if err != nil {
			return
		}
		var st struct {
			Running bool `json:"running"`
		}
		json.Unmarshal(ret, &st)
		if st.Running {
			vm.mu.Lock()
			vm.restored = time.Since(vm.started)
			vm.mu.Unlock()
			return
		}
		select {
		case <-vm.done:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// SaveInfo describes a saved state.
type SaveInfo struct {
	Path string `json:"path"`
	// Size is the file's disk usage.
	Size int64         `json:"size"`
	Took time.Duration `json:"took_ns"`
	// Pruned lists what the cache bound removed after the save.
	Pruned []string `json:"pruned,omitempty"`
}

// Start says how the VM came up (warm or cold) and why.
func (vm *VM) Start() StartInfo { return vm.start }

// stateKey returns the key of the machine cfg and plan describe.
// Descriptor numbers are left out, and so are the vsock CID and the
// host's vsock port: the CID is a property of the vhost-vsock device, not
// of its migrated state (a restored VM gets a fresh one, which QEMU's
// post-load has the guest re-read), and a restored agent does not dial
// the port (the host dials the agent, see VM.Accept). The transports
// differ in their devices, so a vsock machine and a virtio-serial one
// never share a key.
func stateKey(cfg Config, plan Plan) (string, error) {
	p := plan
	p.ConsoleFD, p.SerialFD, p.VhostFD, p.GuestCID, p.VsockPort, p.IncomingFD = 0, 0, 0, 0, 0, 0
	p.MonitorFD = 1 // its arguments shape the saved state; its number does not
	p.RAMFD, p.RAMShared = 0, false
	if ramImage(cfg) {
		p.RAMFD = 1 // saved shared, restored private: the same machine
	}
	h := sha256.New()
	fmt.Fprintf(h, "scxvm-vmstate-2\n")
	qemu, err := fileIdentity(cfg.QEMU, "")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "qemu %s\n", qemu)
	for _, f := range []string{cfg.Kernel, cfg.Initramfs} {
		if f == "" {
			continue
		}
		id, err := fileIdentity(f, cfg.cacheDir())
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s\n", id)
	}
	b, _ := json.Marshal(Args(cfg, p))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileIdentity names a file's contents cheaply: a file of the cache (its
// name is its content hash) by its name, another one by path, size and
// modification time (hashing a 100 MB vmlinux would cost more
// than the restore saves).
func fileIdentity(path, cacheRoot string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if cacheRoot != "" {
		if root, err := filepath.Abs(cacheRoot); err == nil {
			for _, area := range []string{cachedir.Initramfs, cachedir.VMLinux} {
				if filepath.Dir(abs) == filepath.Join(root, area) {
					return area + "/" + filepath.Base(abs), nil
				}
			}
		}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("state key: %w", err)
	}
	return fmt.Sprintf("%s %d %d", abs, fi.Size(), fi.ModTime().UnixNano()), nil
}

// ramImage reports whether the guest's memory is one block that a saved
// state keeps as a memory image, the file's first Config.MemoryMB MiB, with
// QEMU's stream of the devices' state after it. A restore then maps the
// image (privately: copy on write, shared by concurrent restores) instead
// of loading the memory through the stream: under TCG that took a 1 GiB
// guest's restore from 340-416 ms to 100-113 ms (QEMU start to running,
// measured alternately on one machine). NUMA guests, one memory backend
// a node, keep their memory in the stream.
func ramImage(cfg Config) bool { return cfg.Topology.NUMANodes <= 1 }

// ramBytes is the size of the guest's memory.
func ramBytes(cfg Config) int64 { return int64(cfg.MemoryMB) << 20 }

// migrationCaps is the capabilities of a save or restore: with a memory
// image, QEMU's stream leaves out the shared guest memory.
func (vm *VM) migrationCaps() map[string]any {
	return map[string]any{"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": vm.plan.RAMFD > 0}}}
}

// stateName is the cache entry of a key.
func stateName(key string) string { return "vmstate-" + key[:32] }

// openState looks for the saved state of key and holds it: it returns the
// lease and a descriptor for QEMU's -incoming, or fs.ErrNotExist.
func openState(c *cachedir.Cache, key string) (*cachedir.Lease, *os.File, error) {
	path := filepath.Join(c.Dir(cachedir.Snapshot), stateName(key))
	l, err := c.Acquire(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, f, nil
}

// startIncoming starts the restore of a VM waiting with -incoming defer.
func (vm *VM) startIncoming(ctx context.Context) error {
	if _, err := vm.qmp.do(ctx, "migrate-set-capabilities", vm.migrationCaps(), nil); err != nil {
		return err
	}
	_, err := vm.qmp.do(ctx, "migrate-incoming", map[string]any{"uri": fmt.Sprintf("fd:%d", vm.plan.IncomingFD)}, nil)
	return err
}

// SaveState saves the machine's state into the cache's snapshot area
// under VM.Start().Key: it pauses the guest, has QEMU migrate it into a
// temporary file (handed over the monitor, so no shell and no pipe), waits
// for the migration to complete, links the file into place and lets the
// guest go on. A state saved meanwhile by a concurrent run of the same
// machine is kept. It needs Config.State StateSave or StateAuto and a
// cold start.
func (vm *VM) SaveState(ctx context.Context) (SaveInfo, error) {
	if vm.qmp == nil || vm.start.Key == "" {
		return SaveInfo{}, errors.New("save vm state: no monitor (Config.State)")
	}
	if vm.start.Mode == StartWarm {
		return SaveInfo{}, errors.New("save vm state: this VM was restored from one")
	}
	t0 := time.Now()
	c := cachedir.New(vm.cfg.cacheDir(), vm.cfg.CacheMax)
	info := SaveInfo{}
	if _, err := vm.qmp.do(ctx, "stop", nil, nil); err != nil {
		return info, fmt.Errorf("save vm state: %w", err)
	}
	defer func() {
		// Go on, whatever happened: the run does not depend on the save.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := vm.qmp.do(cctx, "cont", nil, nil); err != nil {
			vm.cfg.logf("host: resume after save: %v", err)
		}
	}()
	if ramImage(vm.cfg) && vm.ramFile == nil {
		return info, errors.New("save vm state: the guest's memory is not in a file")
	}
	path, err := c.WriteFile(cachedir.Snapshot, stateName(vm.start.Key), func(f *os.File) error {
		if vm.ramFile != nil {
			t := time.Now()
			if err := copyRAM(f, vm.ramFile, ramBytes(vm.cfg)); err != nil {
				return fmt.Errorf("copy the guest's memory: %w", err)
			}
			vm.cfg.logf("host: guest memory image written in %v", time.Since(t).Round(time.Millisecond))
		}
		return vm.migrateTo(ctx, f)
	})
	if err != nil {
		return info, fmt.Errorf("save vm state: %w", err)
	}
	info.Path, info.Took = path, time.Since(t0)
	// What the file takes on disk: a memory image is mostly holes.
	if n, err := cachedir.DirUsage(path); err == nil {
		info.Size = n
	}
	if res, err := c.Prune(); err == nil {
		for _, e := range res.Removed {
			info.Pruned = append(info.Pruned, e.Path)
		}
	}
	return info, nil
}

// migrateTo has the paused QEMU write its state to f. A descriptor
// (fd:) rather than a command (exec:cat > FILE): measured on a 1 GiB
// guest under TCG, three alternating saves each, fd: took 158, 480 and
// 241 ms, exec: 203, 565 and 308 ms for the same 102 MB.

func (vm *VM) migrateTo(ctx context.Context, f *os.File) error {
	q := vm.qmp
	// QEMU 7.2 throttles migration to 32 MiB/s by default.
	if _, err := q.do(ctx, "migrate-set-parameters", map[string]any{"max-bandwidth": int64(1) << 40}, nil); err != nil {
		return err
	}
	if _, err := q.do(ctx, "migrate-set-capabilities", vm.migrationCaps(), nil); err != nil {
		return err
	}
	// QEMU writes from f's offset: after the memory image, if any.
	if _, err := q.do(ctx, "getfd", map[string]any{"fdname": "vmstate"}, f); err != nil {
		return err
	}
	if _, err := q.do(ctx, "migrate", map[string]any{"uri": "fd:vmstate"}, nil); err != nil {
		return err
	}
	for {
		ret, err := q.do(ctx, "query-migrate", nil, nil)
		if err != nil {
			return err
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		json.Unmarshal(ret, &st)
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			q.do(context.Background(), "migrate_cancel", nil, nil)
			return ctx.Err()
		case <-vm.done:
			return fmt.Errorf("qemu exited during the save: %v", vm.waitErr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// DropState deletes the state the VM was restored from, when it is still
// the file at its path: call it when the restored guest did not come up
// (a damaged file, another QEMU). Other runs holding it keep their copy.
func (vm *VM) DropState() error {
	if vm.start.Mode != StartWarm || vm.stateFile == nil {
		return nil
	}
	fi, err := os.Stat(vm.start.State)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || !os.SameFile(fi, vm.stateFile) {
		return err
	}
	return os.Remove(vm.start.State)
}

// planState prepares a VM with Config.State set: the key, the monitor
// and, for StateAuto with a saved state, the restore. Failures only make
// it boot cold (with a note). It returns what to release once QEMU is
// gone.
func (vm *VM) planState(cfg Config, inherit func(*os.File) int) (closers []func()) {
	key, err := stateKey(cfg, vm.plan)
	if err != nil {
		vm.start.Note = err.Error()
		return nil
	}
	c := cachedir.New(cfg.cacheDir(), cfg.CacheMax)
	vm.start.Key = key
	vm.start.State = filepath.Join(c.Dir(cachedir.Snapshot), stateName(key))
	monHost, monGuest, err := socketPair("monitor")
	if err != nil {
		vm.start = StartInfo{Mode: StartCold, Note: err.Error()}
		return nil
	}
	mc, err := net.FileConn(monHost)
	monHost.Close()
	if err != nil {
		monGuest.Close()
		vm.start = StartInfo{Mode: StartCold, Note: err.Error()}
		return nil
	}
	closers = append(closers, func() { mc.Close(); monGuest.Close() })
	vm.qmp = newQMP(mc.(*net.UnixConn))
	vm.plan.MonitorFD = inherit(monGuest)
	if cfg.State == StateAuto {
		restore, cl := vm.planRestore(c, cfg, key, inherit)
		closers = append(closers, cl...)
		if restore {
			return closers
		}
	}
	if ramImage(cfg) {
		qemuRAM, hostRAM, err := newRAMFile()
		if err != nil {
			// Booting goes on; SaveState will refuse.
			vm.start.Note = fmt.Sprintf("snapshot not possible: %v", err)
			return closers
		}
		closers = append(closers, func() { qemuRAM.Close(); hostRAM.Close() })
		vm.ramFile = hostRAM
		vm.plan.RAMFD, vm.plan.RAMShared = inherit(qemuRAM), true
	}
	return closers
}

// planRestore plans the restore of key's saved state, if there is a
// usable one; otherwise it notes why not.
func (vm *VM) planRestore(c *cachedir.Cache, cfg Config, key string, inherit func(*os.File) int) (bool, []func()) {
	lease, f, err := openState(c, key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		vm.start.Note = "no saved state yet"
		return false, nil
	case err != nil:
		vm.start.Note = fmt.Sprintf("saved state unusable: %v", err)
		return false, nil
	}
	closers := []func(){func() { lease.Close(); f.Close() }}
	vm.stateFile, _ = f.Stat()
	if ramImage(cfg) {
		// The memory image, then QEMU's stream: QEMU maps the file's
		// first part and reads the rest from f's offset.
		if vm.stateFile == nil || vm.stateFile.Size() <= ramBytes(cfg) {
			vm.stateFile = nil
			vm.start.Note = "saved state unusable: shorter than the guest's memory"
			return false, closers
		}
		if _, err := f.Seek(ramBytes(cfg), io.SeekStart); err != nil {
			vm.stateFile = nil
			vm.start.Note = fmt.Sprintf("saved state unusable: %v", err)
			return false, closers
		}
		vm.plan.RAMFD = inherit(f)
		vm.plan.IncomingFD = vm.plan.RAMFD
	} else {
		vm.plan.IncomingFD = inherit(f)
	}
	vm.start.Mode = StartWarm
	return true, closers
}
