package initramfs

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/scxvm/scxvm/internal/cachedir"
)

// benchInputs returns an agent of realistic size (the test binary itself
// when it is static, else the small test agent) and a scheduler binary: a
// cached scx_simple when `make schedulers` ran, else a dynamic host binary.
func benchInputs(b *testing.B) (agent, sched string) {
	// The real agent is 15-20 MB: pad the small static test agent to 20 MB
	// (trailing bytes do not disturb ELF parsing).
	data, err := os.ReadFile(agentBin)
	if err != nil {
		b.Fatal(err)
	}
	pad := make([]byte, 20<<20-len(data))
	rand.Read(pad)
	agent = filepath.Join(b.TempDir(), "scxvm")
	if err := os.WriteFile(agent, append(data, pad...), 0o755); err != nil {
		b.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(cachedir.DefaultRoot(), "schedulers", "*", "scx_simple")); len(m) > 0 {
		return agent, m[0]
	}
	return agent, dynamicBin(b)
}

func reportInputs(b *testing.B, agent, sched string) {
	fi, err := os.Stat(agent)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/1e6, "agent-MB")
	b.Logf("agent %s (%.1f MB), scheduler %s", agent, float64(fi.Size())/1e6, sched)
}

// BenchmarkBuildCached is a Build whose image is already in the cache.
func BenchmarkBuildCached(b *testing.B) {
	agent, sched := benchInputs(b)
	cfg := Config{Agent: agent, Binaries: []string{sched}, CacheDir: b.TempDir()}
	if _, err := Build(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	reportInputs(b, agent, sched)
	for b.Loop() {
		if _, err := Build(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildCold builds agent + one scheduler into an empty cache:
// hashing every input, running ld.so for the scheduler's libraries and
// writing the archive.
func BenchmarkBuildCold(b *testing.B) {
	agent, sched := benchInputs(b)
	reportInputs(b, agent, sched)
	for b.Loop() {
		cfg := Config{Agent: agent, Binaries: []string{sched}, CacheDir: b.TempDir()}
		if _, err := Build(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyBaseline copies the bytes BenchmarkBuildCold archives (the
// agent, the scheduler and its libraries) into one new file: the floor a
// cold build cannot beat on this disk.
func BenchmarkCopyBaseline(b *testing.B) {
	agent, sched := benchInputs(b)
	libs, err := fileCache{dir: b.TempDir()}.sharedLibs(sched)
	if err != nil {
		b.Fatal(err)
	}
	inputs := append([]string{agent, sched}, libs...)
	for b.Loop() {
		out, err := os.Create(filepath.Join(b.TempDir(), "copy"))
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range inputs {
			f, err := os.Open(in)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(out, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		out.Close()
	}
}
