package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/scxvm/scxvm/host"
	"github.com/scxvm/scxvm/initramfs"
	"github.com/scxvm/scxvm/kernel"
)

// bootMethods measures, for each of Config.BootKernels, QEMU start to the
// minimal init's hello booted through PVH (the vmlinux extracted from the
// bzImage) against the same booted from the bzImage, alternating the two
// in Config.Boots pairs.
func (b *bencher) bootMethods(ctx context.Context) []Row {
	var rows []Row
	for _, name := range b.cfg.BootKernels {
		if ctx.Err() != nil {
			break
		}
		rows = append(rows, b.bootMethod(ctx, name))
	}
	return rows
}

func (b *bencher) bootMethod(ctx context.Context, name string) Row {
	rowName := fmt.Sprintf("PVH boot against bzImage boot (%s)", name)
	if b.cfg.HelloInit == "" {
		return failed(rowName, "", errors.New("no minimal init (build host/testdata/helloinit and pass it)"))
	}
	k, err := kernel.Lookup(b.cfg.CacheDir, name)
	if err != nil {
		return failed(rowName, "", err)
	}
	im, err := initramfs.Open(ctx, initramfs.Config{Agent: b.cfg.HelloInit, Modules: k.Modules, CacheDir: b.cfg.CacheDir})
	if err != nil {
		return failed(rowName, "", fmt.Errorf("build helloinit image: %w", err))
	}
	defer im.Close()
	var pvhT, imgT []time.Duration
	var ratios []float64
	var lastErr error
	for i := range b.cfg.Boots {
		tag := "-" + name + "-" + strconv.Itoa(i)
		dImg, _, err := b.bootHelloInit(ctx, k, im.Path, host.BootImage, "bzimage"+tag)
		if err != nil {
			lastErr = err
			continue
		}
		dPVH, _, err := b.bootHelloInit(ctx, k, im.Path, host.BootPVH, "pvh"+tag)
		if err != nil {
			lastErr = err
			continue
		}
		pvhT, imgT = append(pvhT, dPVH), append(imgT, dImg)
		ratios = append(ratios, float64(dPVH)/float64(dImg))
	}
	if len(ratios) == 0 {
		return failed(rowName, "", lastErr)
	}
	p, i, r := median(pvhT), median(imgT), median(ratios)
	// Host load only ever adds time: the fastest boot of each kind is the
	// steadier estimate on a busy machine, so it is reported beside.
	fp, fi := slices.Min(pvhT), slices.Min(imgT)
	return Row{
		Name: rowName, Value: r, Unit: "x",
		Display: fmt.Sprintf("%.2fx (%.0f ms)", r, ms(p)),
		Baseline: fmt.Sprintf("minimal init from the bzImage %.0f ms (median ratio of %d boot pairs; fastest boots %.0f/%.0f ms = %.2fx)",
			ms(i), len(ratios), ms(fp), ms(fi), float64(fp)/float64(fi)),
		Metrics: map[string]float64{"pvh_ms": ms(p), "bzimage_ms": ms(i), "ratio": r, "boots": float64(len(ratios)),
			"pvh_min_ms": ms(fp), "bzimage_min_ms": ms(fi), "min_ratio": float64(fp) / float64(fi)},
	}
}
