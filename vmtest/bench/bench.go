package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scxvm/scxvm/internal/jsonfile"
	"github.com/scxvm/scxvm/kernel"
)

// Config selects what the benchmarks boot.
type Config struct {
	// Agent is the static binary used as the guest's init (scxvm-agent,
	// or scxvm itself). Required.
	Agent string
	// CLI is the scxvm command, run as the host driver for the RSS row;
	// empty skips that row.
	CLI string
	// HelloInit is the minimal static init of the boot baseline (build it
	// with CGO_ENABLED=0 go build ./host/testdata/helloinit); empty skips
	// the boot row.
	HelloInit string
	// Perf is the perf binary put in the guest; empty means perf from
	// $PATH. Without one the pipe rows have no baseline.
	Perf string
	// Kernel is the kernel name or path; empty means "debian".
	Kernel string
	// Boot is how Kernel boots in every row but the boot-method rows:
	// "auto" (default: through PVH when it has a PVH entry point, else the
	// bzImage), "pvh" or "image" (see host.Config.Boot).
	Boot string
	// BootKernels are the kernels (names or paths) of the boot-method
	// rows: the minimal init booted through PVH against the same from the
	// bzImage; nil means "debian" and "6.12", an empty non-nil slice none.
	BootKernels []string
	// CacheDir is the cache root; empty means kernel.DefaultCacheDir().
	CacheDir string
	// Accel is the accelerator of every boot: "auto" (default), "kvm" or
	// "tcg".
	Accel string
	// Boots is the number of boot pairs (minimal init, agent) measured;
	// zero means 3.
	Boots int
	// Rounds is the number of synthetic report rounds; zero means 3.
	Rounds int
	// Only names the groups of rows to measure (StepNames); empty means
	// all.
	Only []string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// StepNames are the groups of rows Config.Only can pick: boot to Hello
// and report throughput, PVH against bzImage boot, warm start against
// cold boot, the in-guest rows, scxvm exec against an empty run, the
// host driver's RSS.
var StepNames = []string{"boot", "boot-methods", "warm", "guest", "exec", "rss"}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Row is one line of the report.
type Row struct {
	// Name says what was measured.
	Name string `json:"name"`
	// Value is the measurement in Unit; Display is how the table shows it.
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Display string  `json:"display"`
	// Baseline describes what Value is compared with, and the ratio.
	Baseline string `json:"baseline,omitempty"`
	// Target is the goal (from the issues); Met says whether Value meets
	// it, nil when there is no target or nothing was measured.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	// Samples is how many samples (boots, rounds, scenarios) the row
	// was to be measured from and SamplesOK how many succeeded; Value
	// comes from those. Both are zero for a row of one measurement.
	Samples   int `json:"samples,omitempty"`
	SamplesOK int `json:"samples_ok,omitempty"`
	// Error is set when the row could not be measured; Met is then nil.
	Error string `json:"error,omitempty"`
	// Metrics holds the raw numbers behind the row.
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// Report is the result of Run.
type Report struct {
	Started   time.Time     `json:"started"`
	Wall      time.Duration `json:"wall_ns"`
	Kernel    string        `json:"kernel"`
	Release   string        `json:"release,omitempty"`
	Boot      string        `json:"boot,omitempty"` // "pvh" or "bzImage"
	Accel     string        `json:"accel,omitempty"`
	Transport string        `json:"transport,omitempty"`
	Rows      []Row         `json:"rows"`
}

// Run measures every row. Rows that fail carry their error; Run itself
// fails only when nothing can boot (no kernel, no agent).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	if cfg.Agent == "" {
		return nil, fmt.Errorf("bench: no agent binary (Config.Agent)")
	}
	if cfg.Kernel == "" {
		cfg.Kernel = kernel.Debian
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = kernel.DefaultCacheDir()
	}
	if cfg.Boots <= 0 {
		cfg.Boots = 3
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 3
	}
	if cfg.BootKernels == nil {
		cfg.BootKernels = []string{kernel.Debian, kernel.Build612}
	}
	if cfg.Perf == "" {
		cfg.Perf, _ = exec.LookPath("perf")
	}
	k, err := kernel.Lookup(cfg.CacheDir, cfg.Kernel)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	rep := &Report{Started: start, Kernel: k.Name, Release: k.Release}
	tmp, err := os.MkdirTemp("", "scxvm-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	b := &bencher{cfg: cfg, k: k, tmp: tmp, rep: rep}
	for i, step := range []func(context.Context) []Row{b.bootAndReports, b.bootMethods, b.warmStart, b.inGuest, b.execVsEmpty, b.hostRSS} {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, StepNames[i]) {
			continue
		}
		rep.Rows = append(rep.Rows, step(ctx)...)
	}
	for i := range rep.Rows {
		if rep.Rows[i].Error != "" {
			rep.Rows[i].Met = nil // what was not measured was not met
		}
	}
	rep.Wall = time.Since(start)
	return rep, nil
}

type bencher struct {
	cfg Config
	k   *kernel.Kernel
	tmp string
	rep *Report
}

// met returns a pointer to ok, for Row.Met.
func met(ok bool) *bool { return &ok }

// failed returns a row that could not be measured.
func failed(name, target string, err error) Row {
	return Row{Name: name, Target: target, Display: "-", Error: err.Error()}
}

// status is the MET column: "not measured: why", "yes", "NO" or "-"
// (no target), with "n/N samples" when some samples failed. A row with
// an error is never met, whatever its Met says.
func (row Row) status() string {
	if row.Error != "" {
		return "not measured: " + row.Error
	}
	s := "-"
	switch {
	case row.Met != nil && *row.Met:
		s = "yes"
	case row.Met != nil:
		s = "NO"
	}
	if row.SamplesOK < row.Samples {
		s += fmt.Sprintf(" (%d/%d samples)", row.SamplesOK, row.Samples)
	}
	return s
}

// WriteTable prints the report as one aligned table.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scxvm bench: kernel %s (%s), %s boot, accel %s, transport %s, %s, wall %v\n",
		r.Kernel, r.Release, orDash(r.Boot), r.Accel, r.Transport, r.Started.UTC().Format(time.RFC3339), r.Wall.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASUREMENT\tVALUE\tBASELINE (same run)\tTARGET\tMET")
	for _, row := range r.Rows {
		status := row.status()
		target := row.Target
		if target == "" {
			target = "(report only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Name, row.Display, orDash(row.Baseline), target, status)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteJSON writes the report, indented, to path.
func (r *Report) WriteJSON(path string) error {
	return jsonfile.Write(path, "bench report", r)
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
