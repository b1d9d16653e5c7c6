package report

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// Big runs stay usable: 256 workers with 10,000 progress samples, 10,000
// latency samples and 1,000 migrations each, beside an EEVDF baseline of
// the same size.
const (
	bigWorkers    = 256
	bigSamples    = 10_000
	bigMigrations = 1_000
	// maxBigHTML is the most a big run's page may weigh.
	maxBigHTML = 5 << 20
)

func TestBigRunSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 256-worker result")
	}
	res := synthResult(bigWorkers, bigSamples, bigSamples, bigMigrations, true)
	var buf bytes.Buffer
	if err := Write(&buf, res, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("256 workers x 10,000 samples, with baseline: %d bytes of HTML", buf.Len())
	if buf.Len() > maxBigHTML {
		t.Errorf("report of a 256-worker run is %d bytes, want at most %d", buf.Len(), maxBigHTML)
	}
	// Downsampling must not lose the charts.
	if n := bytes.Count(buf.Bytes(), []byte(`<figure class="chart`)); n != 8 {
		t.Errorf("report has %d charts, want 8 (rate, 2 x per worker, cpu, fairness, latency, migrations, timeline)", n)
	}
}

// BenchmarkWriteBig measures the report of a 256-worker, 10,000-sample run
// (target: under 3 s an op; ms/op is reported), against the baseline of a
// small run written in the same benchmark.
func BenchmarkWriteBig(b *testing.B) {
	big := synthResult(bigWorkers, bigSamples, bigSamples, bigMigrations, true)
	small := synthResult(8, 200, 200, 20, true)
	start := time.Now()
	if err := Write(io.Discard, small, nil); err != nil {
		b.Fatal(err)
	}
	smallTime := time.Since(start)
	b.ResetTimer()
	for b.Loop() {
		if err := Write(io.Discard, big, nil); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Milliseconds()), "ms/op")
	b.ReportMetric(float64(per)/float64(max(smallTime, 1)), "x-small-run")
}
