package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/initramfs"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/protocol"
)

// Report size of the throughput row (issue 7): 64 workers x 10,000 samples.
const (
	reportWorkers = 64
	reportSamples = 10_000
)

// bootAndReports measures boot to Hello against the minimal init
// (alternating, so that host noise hits both alike), both booted the
// fastest way the kernel allows (Config.Boot, default auto: PVH when it
// can), and, in the last agent boot, the synthetic report rounds.
func (b *bencher) bootAndReports(ctx context.Context) []Row {
	const bootName, bootTarget = "boot to Hello", "<= 1.05x minimal init"
	const repName = "report throughput (64 workers x 10,000 samples)"
	agentIm, err := initramfs.Open(ctx, initramfs.Config{Agent: b.cfg.Agent, Modules: b.k.Modules, CacheDir: b.cfg.CacheDir})
	if err != nil {
		err = fmt.Errorf("build agent image: %w", err)
		return []Row{failed(bootName, bootTarget, err), failed(repName, "", err)}
	}
	defer agentIm.Close()
	agentImg := agentIm.Path
	var helloImg string
	if b.cfg.HelloInit != "" {
		im, err := initramfs.Open(ctx, initramfs.Config{Agent: b.cfg.HelloInit, Modules: b.k.Modules, CacheDir: b.cfg.CacheDir})
		if err != nil {
			b.cfg.logf("build helloinit image: %v", err)
		} else {
			defer im.Close()
			helloImg = im.Path
		}
	}
	var agentT, initT []time.Duration
	var ratios []float64 // per pair: both boots close in time see the same noise
	var rounds []reportRound
	var bootErr, repErr error
	for i := range b.cfg.Boots {
		var initD time.Duration
		if helloImg != "" {
			d, _, err := b.bootHelloInit(ctx, b.k, helloImg, b.cfg.Boot, "helloinit-"+strconv.Itoa(i))
			if err != nil {
				bootErr = err
			} else {
				initT, initD = append(initT, d), d
			}
		}
		last := i == b.cfg.Boots-1
		d, rs, err := b.bootAgent(ctx, agentImg, i, last)
		if err != nil {
			bootErr, repErr = err, err
			continue
		}
		agentT = append(agentT, d)
		if initD > 0 {
			ratios = append(ratios, float64(d)/float64(initD))
		}
		rounds = append(rounds, rs...)
	}
	var rows []Row
	switch {
	case len(agentT) == 0:
		rows = append(rows, failed(bootName, bootTarget, bootErr))
	default:
		a := median(agentT)
		row := Row{Name: bootName, Value: ms(a), Unit: "ms", Display: fmt.Sprintf("%.0f ms", ms(a)), Target: bootTarget,
			Samples: b.cfg.Boots, SamplesOK: len(agentT),
			Metrics: map[string]float64{"agent_ms": ms(a), "boots": float64(len(agentT))}}
		if len(ratios) > 0 {
			m, ratio := median(initT), median(ratios)
			row.Baseline = fmt.Sprintf("minimal init %.0f ms, same %s boot (median ratio of %d boot pairs %.2fx)", ms(m), b.rep.Boot, len(ratios), ratio)
			row.Met = met(ratio <= 1.05)
			row.SamplesOK = len(ratios) // boot pairs where both booted
			row.Metrics["mininit_ms"], row.Metrics["ratio"] = ms(m), ratio
		} else {
			row.Error = "no minimal init baseline"
			if bootErr != nil {
				row.Error += ": " + bootErr.Error()
			} else if b.cfg.HelloInit == "" {
				row.Error += " (build one: CGO_ENABLED=0 go install github.com/scxvm/scxvm/host/testdata/helloinit@VERSION, and pass it with --helloinit)"
			}
		}
		rows = append(rows, row)
	}
	if len(rounds) == 0 {
		if repErr == nil {
			repErr = errors.New("no report round completed")
		}
		return append(rows, failed(repName, "", repErr))
	}
	slices.SortFunc(rounds, func(x, y reportRound) int { return int(x.transfer - y.transfer) })
	r := rounds[len(rounds)/2]
	mb := float64(reportWorkers*reportSamples*8) / 1e6
	rate := mb / r.transfer.Seconds()
	rows = append(rows, Row{
		Name: repName, Value: rate, Unit: "MB/s", Samples: b.cfg.Rounds, SamplesOK: len(rounds),
		Display:  fmt.Sprintf("%.1f MB/s, %.0f ms", rate, ms(r.transfer)),
		Baseline: fmt.Sprintf("%.2f MB of samples in %d frames over %s; agent send %.0f ms", mb, r.frames, b.rep.Transport, ms(r.agentSend)),
		Metrics: map[string]float64{"mb_per_s": rate, "transfer_ms": ms(r.transfer), "agent_send_ms": ms(r.agentSend),
			"generate_ms": ms(r.generate), "frames": float64(r.frames), "rounds": float64(len(rounds))},
	})
	return rows
}

// reportRound is one synthetic report transfer: from the job's send to
// the JobResult, less the agent's generation time.
type reportRound struct {
	transfer, generate, agentSend time.Duration
	frames                        int
}

func (b *bencher) startVM(ctx context.Context, k *kernel.Kernel, image, boot, name string) (*host.VM, error) {
	return host.Start(ctx, host.Config{
		Kernel:     k.Image,
		Boot:       boot,
		Accel:      b.cfg.Accel,
		CacheDir:   b.cfg.CacheDir,
		Initramfs:  image,
		Timeout:    5 * time.Minute,
		ConsoleLog: filepath.Join(b.tmp, name+".log"),
		Logf:       b.cfg.Logf,
	})
}

// waitExit waits for QEMU to power off, killing it after a grace period.
func waitExit(vm *host.VM, grace time.Duration) {
	select {
	case <-vm.Done():
	case <-time.After(grace):
		vm.Kill()
		<-vm.Done()
	}
}

// bootHelloInit returns QEMU start to helloinit's "hello" on the channel
// and how the kernel booted.
func (b *bencher) bootHelloInit(ctx context.Context, k *kernel.Kernel, image, boot, name string) (time.Duration, host.BootInfo, error) {
	d, bi, err := b.helloInit(ctx, k, image, boot, name)
	if err != nil {
		b.cfg.logf("minimal init on %s, %s boot: %v", k.Name, bi.Method, err)
	} else {
		b.cfg.logf("minimal init on %s, %s boot: hello after %v", k.Name, bi.Method, d.Round(time.Millisecond))
	}
	return d, bi, err
}

func (b *bencher) helloInit(ctx context.Context, k *kernel.Kernel, image, boot, name string) (time.Duration, host.BootInfo, error) {
	vm, err := b.startVM(ctx, k, image, boot, name)
	if err != nil {
		return 0, host.BootInfo{}, fmt.Errorf("start qemu: %w", err)
	}
	defer vm.Close()
	bi := vm.Boot()
	actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	stream, err := vm.Accept(actx)
	if err != nil {
		return 0, bi, fmt.Errorf("minimal init: %w", err)
	}
	buf := make([]byte, 5)
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(stream, buf); done <- err }()
	select {
	case err = <-done:
	case <-actx.Done():
		stream.Close()
		err = actx.Err()
	}
	if err != nil {
		select {
		case <-vm.Done():
			err = fmt.Errorf("%w (qemu exited: %v; console: %s)", err, vm.Wait(), strings.Join(vm.ConsoleTail(5), " | "))
		default:
		}
		return 0, bi, fmt.Errorf("minimal init: read hello: %w", err)
	}
	d := time.Since(vm.Started())
	waitExit(vm, 30*time.Second)
	return d, bi, nil
}

// bootAgent returns QEMU start to the agent's Hello and, when reports is
// set, runs the synthetic report rounds before saying bye.
func (b *bencher) bootAgent(ctx context.Context, image string, i int, reports bool) (time.Duration, []reportRound, error) {
	vm, err := b.startVM(ctx, b.k, image, b.cfg.Boot, "agent-"+strconv.Itoa(i))
	if err != nil {
		return 0, nil, fmt.Errorf("start qemu: %w", err)
	}
	defer vm.Close()
	b.rep.Accel, b.rep.Transport, b.rep.Boot = vm.Accel(), vm.Transport(), vm.Boot().Method
	actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	stream, err := vm.Accept(actx)
	if err != nil {
		return 0, nil, fmt.Errorf("agent: %w", err)
	}
	c := protocol.NewConn(stream)
	defer c.Close()
	if _, err := c.AcceptHello(actx); err != nil {
		return 0, nil, fmt.Errorf("agent: %w", err)
	}
	d := time.Since(vm.Started())
	b.cfg.logf("agent: hello after %v", d.Round(time.Millisecond))
	var rounds []reportRound
	var roundErr error
	if reports {
		for id := range b.cfg.Rounds {
			r, err := reportJob(actx, c, uint32(id+1))
			if err != nil {
				roundErr = err
				break
			}
			b.cfg.logf("reports: %v (%d frames, agent generated in %v, sent in %v)", r.transfer.Round(time.Millisecond), r.frames, r.generate.Round(time.Millisecond), r.agentSend.Round(time.Millisecond))
			rounds = append(rounds, r)
		}
	}
	c.Send(&protocol.Bye{Reason: "bench"})
	for {
		m, err := c.RecvContext(actx)
		if _, ok := m.(*protocol.Bye); ok || err != nil {
			break
		}
	}
	waitExit(vm, 30*time.Second)
	if len(rounds) == 0 && roundErr != nil {
		return d, nil, roundErr
	}
	return d, rounds, nil
}

// reportJob runs one synthetic report job and times it.
func reportJob(ctx context.Context, c *protocol.Conn, id uint32) (reportRound, error) {
	var r reportRound
	sent := time.Now()
	if err := c.Send(&protocol.Job{ID: id, Synthetic: &protocol.SyntheticReports{Workers: reportWorkers, Samples: reportSamples}, Timeout: 2 * time.Minute}); err != nil {
		return r, fmt.Errorf("send report job: %w", err)
	}
	workers, samples := 0, 0
	for {
		m, err := c.RecvContext(ctx)
		if err != nil {
			return r, fmt.Errorf("report job: %w", err)
		}
		switch m := m.(type) {
		case *protocol.Reports:
			r.frames++
			for _, w := range m.Workers {
				workers++
				samples += len(w.Report.ResumeLatenciesNs)
			}
		case *protocol.JobResult:
			total := time.Since(sent)
			if m.Status != protocol.StatusOK {
				return r, fmt.Errorf("report job: %s: %s", m.Status, m.Error)
			}
			if workers != reportWorkers || samples != reportWorkers*reportSamples {
				return r, fmt.Errorf("report job: got %d workers, %d samples (the agent lacks the synthetic report mode?)", workers, samples)
			}
			r.generate, r.agentSend = m.Timings.Setup, m.Timings.Collect
			r.transfer = total - r.generate
			return r, nil
		case *protocol.Error:
			return r, fmt.Errorf("report job: agent: %s: %s", m.Op, m.Message)
		}
	}
}

// median returns the middle value of xs (the upper one of the middle two
// for an even count).
func median[T cmp.Ordered](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
