package vmtest

import (
	"os/exec"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/stressng"
)

// stress-ng runs beside the steady workers under fifo, the way the
// sched_ext CI runs it, and its exit status and metrics come back.
func TestE2EStressNGPayload(t *testing.T) {
	cfg := e2e(t, "debian")
	bin, err := exec.LookPath("stress-ng")
	if err != nil {
		testenv.Prereq(t, "stress-ng not in PATH (run `make deps`)")
	}
	sc := scenarios(t, "steady")[0]
	sc.Duration = 2 * time.Second
	sc.Payloads = append(sc.Payloads, stressng.Payload(2, sc.Duration))
	cfg.Scenarios = []spec.Scenario{sc}
	cfg.ExtraFiles = map[string]string{stressng.Path: bin}
	res := RunT(t, cfg)
	sr := res.Scenario("steady")
	if sr == nil || len(sr.Payloads) != 1 {
		t.Fatalf("want one payload result, got %+v", sr)
	}
	p := sr.Payloads[0]
	t.Logf("stress-ng: exit %v in %v, metrics %+v", p.ExitCode, p.Duration, p.StressNG)
	if p.ExitCode == nil || *p.ExitCode != 0 || p.Signal != 0 || p.TimedOut || p.Error != "" {
		t.Fatalf("stress-ng exit %v signal %d timed out %v error %q; output:\n%s", p.ExitCode, p.Signal, p.TimedOut, p.Error, p.Output)
	}
	if len(p.StressNG) != 1 || p.StressNG[0].Stressor != "cpu" || p.StressNG[0].BogoOps == 0 {
		t.Fatalf("want a cpu metrics row with bogo ops > 0, got %+v; output:\n%s", p.StressNG, p.Output)
	}
	if it := sr.Iterations()["steady"]; it == 0 {
		t.Error("the steady workers made no progress beside stress-ng")
	}
}
