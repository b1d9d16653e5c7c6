package matrix

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/scxvm/scxvm/vmtest"
)

// Host is the room the guests of a Run share: cpus and memory.
type Host struct {
	// CPUs is the number of host cpus guests may keep busy.
	CPUs int `json:"cpus"`
	// MemoryMB is the memory guests may take.
	MemoryMB int `json:"memory_mb"`
}

// qemuOverheadMB is what a QEMU process takes beside its guest's memory
// (its own heap, TCG's translation cache, the initramfs copy), measured
// at 150-250 MB RSS above the guest's touched memory under TCG.
const qemuOverheadMB = 256

// hostReserveMB is left to the host itself when Host is probed.
const hostReserveMB = 512

// ProbeHost returns the cpus this process may run on and the memory the
// kernel says is available (MemAvailable in /proc/meminfo) less a reserve
// for the host.
func ProbeHost() (Host, error) {
	h := Host{CPUs: runtime.NumCPU()}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return h, &vmtest.InfraError{Op: "probe host memory", Err: err}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "MemAvailable" {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		if err != nil {
			return h, &vmtest.InfraError{Op: "probe host memory", Err: fmt.Errorf("/proc/meminfo: %q: %w", sc.Text(), err)}
		}
		h.MemoryMB = max(kb/1024-hostReserveMB, 1)
		return h, nil
	}
	if err := sc.Err(); err != nil {
		return h, &vmtest.InfraError{Op: "probe host memory", Err: err}
	}
	return h, &vmtest.InfraError{Op: "probe host memory", Err: fmt.Errorf("/proc/meminfo has no MemAvailable")}
}

// isTCG reports whether guests of accel run under TCG: "tcg", or "auto"
// (or empty) on a host whose /dev/kvm cannot be opened. (With a /dev/kvm,
// auto may still fall back to TCG after host's probe; admission then
// counts a cpu per vcpu, which errs on the safe side.)
func isTCG(accel string) bool {
	switch accel {
	case "tcg":
		return true
	case "", "auto":
		f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
		if err != nil {
			return true
		}
		f.Close()
	}
	return false
}

// need is the room one boot of vc takes: its guest memory plus QEMU's
// own, and one host cpu under TCG (single-threaded: one thread runs
// every vcpu), else a cpu per vcpu, at most the host's.
func (r *runner) need(vc vmtest.Config) Host {
	cpus := vc.Topology.CPUs()
	if r.tcg {
		cpus = 1
	}
	return Host{CPUs: min(cpus, r.pool.size.CPUs), MemoryMB: vc.GuestMemoryMB() + qemuOverheadMB}
}

// pool admits boots while the host has room for them. A boot that does
// not fit even on an idle host is admitted alone, never refused.
type pool struct {
	mu      sync.Mutex
	size    Host
	used    Host
	running int
	peak    int
	changed chan struct{} // closed and replaced on every release
}

func newPool(size Host) *pool { return &pool{size: size, changed: make(chan struct{})} }

// acquire waits until need fits beside the boots running, or ctx ends.
func (p *pool) acquire(ctx context.Context, need Host) error {
	for {
		p.mu.Lock()
		if p.running == 0 || (p.used.CPUs+need.CPUs <= p.size.CPUs && p.used.MemoryMB+need.MemoryMB <= p.size.MemoryMB) {
			p.used.CPUs += need.CPUs
			p.used.MemoryMB += need.MemoryMB
			p.running++
			p.peak = max(p.peak, p.running)
			p.mu.Unlock()
			return nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// release gives back what acquire took.
func (p *pool) release(need Host) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used.CPUs -= need.CPUs
	p.used.MemoryMB -= need.MemoryMB
	p.running--
	close(p.changed)
	p.changed = make(chan struct{})
}
