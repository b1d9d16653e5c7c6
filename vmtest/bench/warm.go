package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// warmStart measures warm starts against cold boots of the same kernel
// in the same run: Config.Boots pairs of `scxvm run steady` (built-in
// fifo), one with vmtest.Config.Cold, one restored from the snapshot of
// the same machine, alternating so that host noise hits both alike. The
// machine is one of its own (a kernel argument no other run uses), so the
// first, saving run is cold for sure; its snapshot is deleted at the end.
func (b *bencher) warmStart(ctx context.Context) []Row {
	const (
		helloName = "warm start: QEMU start to Hello"
		helloTgt  = "<= 500 ms and <= 0.1x cold boot"
		wallName  = "scxvm run steady wall, warm"
		wallTgt   = "<= 0.5x cold"
		saveName  = "snapshot save (pause, migrate to the cache, go on)"
		restName  = "snapshot restore (QEMU start to the guest running)"
	)
	fail := func(err error) []Row {
		return []Row{failed(helloName, helloTgt, err), failed(wallName, wallTgt, err), failed(saveName, "", err), failed(restName, "", err)}
	}
	sc, err := vmtest.LookupScenario("steady")
	if err != nil {
		return fail(err)
	}
	sc.Checks = allChecks
	cfg := b.vmConfig()
	cfg.Scenarios = []spec.Scenario{sc}
	cfg.KernelArgs = []string{"scxvm.bench=" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	cfg.ConsoleLog = filepath.Join(b.tmp, "warm.log")
	run := func(cold bool) (*vmtest.Result, error) {
		c := cfg
		c.Cold = cold
		res, err := vmtest.Run(ctx, c)
		var f *vmtest.Failure
		if res == nil || (err != nil && !errors.As(err, &f)) {
			if err == nil {
				err = errors.New("no result")
			}
			return nil, err
		}
		return res, nil
	}
	// The first run boots and saves the snapshot.
	first, err := run(false)
	if err != nil {
		return fail(fmt.Errorf("first run: %w", err))
	}
	if first.Snapshot == nil || !first.Snapshot.Saved {
		return fail(fmt.Errorf("the first run saved no snapshot: %s", first.StartNote))
	}
	defer os.Remove(first.Snapshot.Path)
	var coldHello, warmHello, coldWall, warmWall, restore []time.Duration
	var helloRatios, wallRatios []float64
	var lastErr error
	for i := range b.cfg.Boots {
		cold, err := run(true)
		if err != nil {
			lastErr = err
			continue
		}
		warm, err := run(false)
		if err != nil {
			lastErr = err
			continue
		}
		if warm.Start != "warm" {
			lastErr = fmt.Errorf("pair %d did not start warm: %s", i, warm.StartNote)
			continue
		}
		coldHello, warmHello = append(coldHello, cold.BootToHello), append(warmHello, warm.BootToHello)
		coldWall, warmWall = append(coldWall, cold.Wall), append(warmWall, warm.Wall)
		helloRatios = append(helloRatios, float64(warm.BootToHello)/float64(cold.BootToHello))
		wallRatios = append(wallRatios, float64(warm.Wall)/float64(cold.Wall))
		if warm.Snapshot != nil && warm.Snapshot.RestoreTime > 0 {
			restore = append(restore, warm.Snapshot.RestoreTime)
		}
	}
	s := first.Snapshot
	saveRow := Row{Name: saveName, Value: ms(s.SaveTime), Unit: "ms",
		Display:  fmt.Sprintf("%.0f ms, %.0f MB", ms(s.SaveTime), float64(s.Size)/1e6),
		Baseline: fmt.Sprintf("%d MB guest; its cold boot to Hello %.0f ms", memMB(cfg), ms(first.BootToHello)),
		Metrics:  map[string]float64{"save_ms": ms(s.SaveTime), "size_bytes": float64(s.Size), "first_boot_to_hello_ms": ms(first.BootToHello)}}
	if len(warmHello) == 0 {
		if lastErr == nil {
			lastErr = errors.New("no pair completed")
		}
		return []Row{failed(helloName, helloTgt, lastErr), failed(wallName, wallTgt, lastErr), saveRow, failed(restName, "", lastErr)}
	}
	n := len(warmHello)
	wh, ch, hr := median(warmHello), median(coldHello), median(helloRatios)
	ww, cw, wr := median(warmWall), median(coldWall), median(wallRatios)
	rows := []Row{
		{Name: helloName, Value: ms(wh), Unit: "ms", Display: fmt.Sprintf("%.0f ms", ms(wh)), Target: helloTgt,
			Met:      met(ms(wh) <= 500 && hr <= 0.1),
			Baseline: fmt.Sprintf("cold boot to Hello %.0f ms, same kernel (median ratio of %d pairs %.3fx)", ms(ch), n, hr),
			Samples:  b.cfg.Boots, SamplesOK: n,
			Metrics: map[string]float64{"warm_ms": ms(wh), "cold_ms": ms(ch), "ratio": hr}},
		{Name: wallName, Value: ms(ww), Unit: "ms", Display: fmt.Sprintf("%.1f s", ww.Seconds()), Target: wallTgt,
			Met:      met(wr <= 0.5),
			Baseline: fmt.Sprintf("cold %.1f s (median ratio of %d pairs %.2fx; the scenario runs %v)", cw.Seconds(), n, wr, sc.RunTime()),
			Samples:  b.cfg.Boots, SamplesOK: n,
			Metrics: map[string]float64{"warm_ms": ms(ww), "cold_ms": ms(cw), "ratio": wr}},
		saveRow,
	}
	if len(restore) == 0 {
		rows = append(rows, failed(restName, "", errors.New("no restore time measured")))
	} else {
		r := median(restore)
		rows = append(rows, Row{Name: restName, Value: ms(r), Unit: "ms", Display: fmt.Sprintf("%.0f ms", ms(r)),
			Baseline: fmt.Sprintf("of %.0f ms to Hello (the rest: the agent's answer to Resume)", ms(wh)),
			Samples:  b.cfg.Boots, SamplesOK: len(restore),
			Metrics: map[string]float64{"restore_ms": ms(r)}})
	}
	return rows
}

// memMB is the guest memory of cfg as vmtest gives it.
func memMB(cfg vmtest.Config) int {
	if cfg.MemoryMB > 0 {
		return cfg.MemoryMB
	}
	return 1024
}
