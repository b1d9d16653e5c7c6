package vmtest

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/host/console"
	"github.com/scxvm/scxvm/ktext"
	"github.com/scxvm/scxvm/protocol"
)

// Incident is a kernel failure report (panic, oops, BUG, warning, RCU
// stall, hung task) the host found on the serial console.
type Incident struct {
	Kind ktext.IncidentKind `json:"kind"`
	// Line is the matching console line; Excerpt the lines around it.
	Line    string   `json:"line"`
	Excerpt []string `json:"excerpt,omitempty"`
	// At is when the host read the line, from QEMU's start.
	At time.Duration `json:"at_ns"`
}

func (i Incident) String() string { return fmt.Sprintf("%s: %s", i.Kind, i.Line) }

// hostVM adapts *host.VM to vmHandle.
type hostVM struct {
	*host.VM
	panics chan Incident
}

// forwardPanics turns the console monitor's panic events into Incidents.
func (v hostVM) forwardPanics() {
	defer close(v.panics)
	for e := range v.VM.Events() {
		if e.Kind == ktext.Panic {
			select {
			case v.panics <- v.incident(e):
			default:
			}
		}
	}
}

func (v hostVM) Panics() <-chan Incident { return v.panics }

func (v hostVM) incident(e console.Event) Incident {
	ex := append(append(append([]string{}, e.Before...), e.Line), e.After...)
	return Incident{Kind: e.Kind, Line: e.Line, Excerpt: ex, At: e.Time.Sub(v.Started())}
}

func (v hostVM) Since() time.Duration { return time.Since(v.Started()) }

func (v hostVM) Incidents() []Incident {
	var out []Incident
	for _, e := range v.VM.Incidents() {
		out = append(out, v.incident(e))
	}
	return out
}

func (v hostVM) Accept(ctx context.Context) (io.ReadWriteCloser, error) { return v.VM.Accept(ctx) }

// resolveTransport settles "auto" (or "") the way package host would:
// vsock when /dev/vhost-vsock is usable, else virtio-serial. Run needs the
// answer before building the image (vsock may need kernel modules).
func resolveTransport(want string) string {
	switch want {
	case protocol.TransportVsock, protocol.TransportVirtioSerial:
		return want
	}
	if host.ProbeVsock() == nil {
		return protocol.TransportVsock
	}
	return protocol.TransportVirtioSerial
}

// startVM starts QEMU through package host.
func startVM(ctx context.Context, c vmConfig) (vmHandle, error) {
	vm, err := host.Start(ctx, host.Config{
		QEMU:        c.QEMU,
		Kernel:      c.Kernel,
		Initramfs:   c.Initramfs,
		Cmdline:     c.KernelArgs,
		Topology:    c.Topology,
		MemoryMB:    c.MemoryMB,
		Accel:       c.Accel,
		Transport:   c.Transport,
		Timeout:     c.Timeout,
		ConsoleLog:  c.ConsoleLog,
		Boot:        c.Boot,
		CacheDir:    c.CacheDir,
		CacheMax:    c.CacheMax,
		Shares:      c.Shares,
		Interactive: c.Interactive,
		State:       c.State,
		Stdin:       c.Stdin,
		Stdout:      c.Stdout,
		Logf:        c.Logf,
	})
	if err != nil {
		return nil, err
	}
	h := hostVM{VM: vm, panics: make(chan Incident, 1)}
	go h.forwardPanics()
	return h, nil
}
