package protocol

import (
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
	"github.com/vmihailenco/msgpack/v5"
)

const (
	benchWorkers = 64
	benchSamples = 10_000
	// sampleBytes counts the logical sample data of a benchmark Reports
	// message: 8 bytes per sample. MB/s figures are in these bytes.
	sampleBytes = benchWorkers * benchSamples * 8
)

// benchReports is a Reports message of benchWorkers fully populated worker
// reports with benchSamples latency samples each.
func benchReports() *Reports {
	r := rand.New(rand.NewPCG(7, 8))
	msg := &Reports{JobID: 1}
	for w := range benchWorkers {
		s := make(spec.Samples, benchSamples)
		for i := range s {
			s[i] = uint64(math.Exp(r.NormFloat64()*1.5 + 9))
		}
		msg.Workers = append(msg.Workers, CgroupReport{
			Cgroup: "cg" + string(rune('a'+w%4)),
			Report: spec.WorkerReport{
				Index: w, TID: 1000 + w, WorkUnits: r.Uint64N(1 << 40), Iterations: r.Uint64N(1 << 30),
				CPUTimeNs: r.Uint64N(1 << 32), WallTimeNs: 2_000_000_000, OffCPUNs: r.Uint64N(1 << 30),
				MigrationCount: 12, CPUsUsed: []int{0, 1, 2, 3},
				Migrations: []spec.Migration{{AtNs: 1000, FromCPU: 0, ToCPU: 1}, {AtNs: 2000, FromCPU: 1, ToCPU: 3}},
				MaxGapMs:   3, MaxGapCPU: 2, MaxGapAtMs: 900,
				ResumeLatenciesNs: s, ResumeLatencyCount: 40_000,
				SchedstatRunDelayNs: r.Uint64N(1 << 30), SchedstatRunCount: 5000, SchedstatCPUTimeNs: r.Uint64N(1 << 32),
				VoluntaryCtxSwitches: 4000, InvoluntaryCtxSwitches: 200,
				NumaPages: []uint64{512}, Completed: true,
			},
		})
	}
	return msg
}

// loopback is an in-memory stream that hands each written frame to the
// reader without copying it, so that the framing benchmarks measure the
// framing and not a transport. A Writer does not touch a frame after
// writing it until its next write, and each benchmark iteration reads the
// frame back before writing the next.
type loopback struct {
	p []byte
}

func (l *loopback) Write(p []byte) (int, error) {
	l.p = p
	return len(p), nil
}

func (l *loopback) Read(p []byte) (int, error) {
	if len(l.p) == 0 {
		return 0, io.EOF
	}
	n := copy(p, l.p)
	l.p = l.p[n:]
	return n, nil
}

// BenchmarkReportsEncodeDecode writes the Reports message as a frame and
// reads it back, with the Writer and Reader a Conn uses.
func BenchmarkReportsEncodeDecode(b *testing.B) {
	msg := benchReports()
	var lb loopback
	w, r := NewWriter(&lb), NewReader(&lb)
	b.SetBytes(sampleBytes)
	b.ReportAllocs()
	var wire int
	for b.Loop() {
		if err := w.WriteMessage(msg); err != nil {
			b.Fatal(err)
		}
		wire = len(lb.p)
		if _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(wire), "wirebytes")
}

// BenchmarkReportsMsgpack is the baseline of the framing: msgpack.Marshal
// and msgpack.Unmarshal of the same message, no header, no checksum.
func BenchmarkReportsMsgpack(b *testing.B) {
	msg := benchReports()
	b.SetBytes(sampleBytes)
	b.ReportAllocs()
	for b.Loop() {
		body, err := msgpack.Marshal(msg)
		if err != nil {
			b.Fatal(err)
		}
		var out Reports
		if err := msgpack.Unmarshal(body, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFramingOverhead alternates a framed round trip and a plain
// msgpack.Marshal/Unmarshal one of the Reports message in the same loop, so
// that load on a shared machine hits both alike. It reports the ratio of
// their total times (the framing target is < 1.05), the median of the
// per-iteration ratios (which leaves out most of the garbage collection
// that plain Marshal's fresh buffers cause) and the throughput of each.
func BenchmarkFramingOverhead(b *testing.B) {
	msg := benchReports()
	var lb loopback
	w, r := NewWriter(&lb), NewReader(&lb)
	var framed, plain time.Duration
	var ratios []float64
	for b.Loop() {
		t0 := time.Now()
		if err := w.WriteMessage(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		body, err := msgpack.Marshal(msg)
		if err != nil {
			b.Fatal(err)
		}
		var out Reports
		if err := msgpack.Unmarshal(body, &out); err != nil {
			b.Fatal(err)
		}
		f, p := t1.Sub(t0), time.Since(t1)
		framed += f
		plain += p
		ratios = append(ratios, float64(f)/float64(p))
	}
	slices.Sort(ratios)
	b.ReportMetric(float64(framed)/float64(plain), "framed/plain")
	b.ReportMetric(ratios[len(ratios)/2], "median-framed/plain")
	b.ReportMetric(float64(sampleBytes)*float64(b.N)/framed.Seconds()/1e6, "framed-MB/s")
	b.ReportMetric(float64(sampleBytes)*float64(b.N)/plain.Seconds()/1e6, "plain-MB/s")
}

// BenchmarkSamplesPlainMsgpack is what the samples cost without
// Samples' binary form: 64 x 10,000 uint64 as msgpack integers.
func BenchmarkSamplesPlainMsgpack(b *testing.B) {
	msg := benchReports()
	plain := make([][]uint64, len(msg.Workers))
	for i, w := range msg.Workers {
		plain[i] = w.Report.ResumeLatenciesNs
	}
	b.SetBytes(sampleBytes)
	b.ReportAllocs()
	for b.Loop() {
		body, err := msgpack.Marshal(plain)
		if err != nil {
			b.Fatal(err)
		}
		var out [][]uint64
		if err := msgpack.Unmarshal(body, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProgressStream streams Progress frames (64 workers) over a unix
// socket pair, one goroutine sending and the benchmark loop receiving.
func BenchmarkProgressStream(b *testing.B) {
	a, c := unixPair(b)
	sender, receiver := NewConn(a), NewConn(c)
	p := &Progress{JobID: 1, Iterations: make([]uint64, 64), SchedState: "enabled", EnableSeq: 3}
	for i := range p.Iterations {
		p.Iterations[i] = uint64(i) * 123_456_789
	}
	frameSize := len(encodeFrame(b, p))
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				sent <- nil
				return
			default:
			}
			p.At = time.Duration(i) * time.Millisecond
			if err := sender.Send(p); err != nil {
				sent <- err
				return
			}
		}
	}()
	b.SetBytes(int64(frameSize))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := receiver.Recv(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	close(stop)
	receiver.Close() // unblocks a sender stuck on a full socket
	<-sent
	sender.Close()
}
