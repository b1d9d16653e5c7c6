package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// execVsEmpty measures what `scxvm exec -- /bin/true` costs from the
// start of the run to its verdict (image, boot, scheduler attach, the
// command, the checks) against `scxvm run` of an empty scenario (no
// workers, 1 ms) in the same configuration, alternating the two Boots
// times: the command's own cost is the difference.
func (b *bencher) execVsEmpty(ctx context.Context) []Row {
	const name = "scxvm exec -- /bin/true, wall time"
	truePath, err := exec.LookPath("true")
	if err != nil {
		return []Row{failed(name, "", fmt.Errorf("no true on the host: %w", err))}
	}
	base := b.vmConfig()
	var execs, empties, execJobs, emptyJobs []float64
	var lastErr error
	for i := range b.cfg.Boots {
		for _, isExec := range []bool{true, false} {
			cfg := base
			cfg.ConsoleLog = filepath.Join(b.tmp, "exec-"+strconv.Itoa(i)+".log")
			if isExec {
				cfg.Exec = []string{truePath}
			} else {
				cfg.Scenarios = []spec.Scenario{{Name: "empty", Duration: time.Millisecond}}
			}
			start := time.Now()
			res, err := vmtest.Run(ctx, cfg)
			wall := ms(time.Since(start))
			if err != nil {
				lastErr = err
				b.cfg.logf("exec bench (exec %v) %d: %v", isExec, i, err)
				continue
			}
			// The job alone, from sending it to its verdict: the same
			// setup and checks, without the boot's noise.
			job := 0.0
			if len(res.Scenarios) > 0 {
				job = ms(res.Scenarios[0].Elapsed)
			}
			if isExec {
				execs, execJobs = append(execs, wall), append(execJobs, job)
			} else {
				empties, emptyJobs = append(empties, wall), append(emptyJobs, job)
			}
		}
	}
	if len(execs) == 0 || len(empties) == 0 {
		return []Row{failed(name, "", fmt.Errorf("exec %d, empty %d of %d runs passed: %v", len(execs), len(empties), b.cfg.Boots, lastErr))}
	}
	e, m := median(execs), median(empties)
	return []Row{{
		Name: name, Value: e, Unit: "ms", Display: fmt.Sprintf("%.0f ms", e),
		Baseline: fmt.Sprintf("scxvm run of an empty scenario (1 ms, no workers) %.0f ms: %.2fx (medians of %d and %d alternated runs, fifo attached in both); the job alone (sent to verdict) %.0f ms against %.0f ms",
			m, e/m, len(execs), len(empties), median(execJobs), median(emptyJobs)),
		Samples: 2 * b.cfg.Boots, SamplesOK: len(execs) + len(empties),
		Metrics: map[string]float64{"exec_ms": e, "empty_ms": m, "ratio": e / m, "exec_job_ms": median(execJobs), "empty_job_ms": median(emptyJobs), "exec_min_ms": slices.Min(execs), "empty_min_ms": slices.Min(empties)},
	}}
}
