package scenariofile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/spec"
)

func TestLoadGood(t *testing.T) {
	ss, err := Load("testdata/scenarios/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("got %d scenarios, want 1", len(ss))
	}
	s := ss[0]
	if s.Name != "swap" || s.Duration != 2*time.Second || len(s.Cgroups) != 2 || s.Cgroups[0].CPUs != "0" {
		t.Errorf("unexpected scenario: %+v", s)
	}
	if got := s.Cgroups[1].Workloads[0].WorkType.Kind; got != spec.PipeIo {
		t.Errorf("kind %q not normalised to PipeIo", got)
	}
	if s.Steps[0].Action != spec.StepSwapCpusets || s.Steps[0].At != time.Second {
		t.Errorf("step: %+v", s.Steps[0])
	}
	if s.Checks.FairnessSpreadPct != 30 || s.Checks.MaxGap != 1500*time.Millisecond || s.Checks.Skip[0] != spec.CheckKernelClean {
		t.Errorf("checks: %+v", s.Checks)
	}

	ss, err = Load("testdata/scenarios/good.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Name != "json-one" || ss[1].Cgroups[0].Workloads[0].WorkType.Burst != 5*time.Millisecond {
		t.Errorf("unexpected json scenarios: %+v", ss)
	}
}

func TestLoadBad(t *testing.T) {
	for _, tc := range []struct {
		file string
		line int
		want []string
	}{
		{"bad-kind.yaml", 7, []string{"work_type.kind", `unknown kind "CpuSpn"`, "FutexPingPong", "did you mean CpuSpin"}},
		{"bad-field.yaml", 4, []string{`unknown field "cpu" in cgroup`, "allowed: name, cpus, mems, workloads", `did you mean "cpus"`}},
		{"bad-action.yaml", 7, []string{"steps[0].action", `unknown step action "resize"`, `"set_cpuset"`, `"sysrq"`}},
		{"bad-duration.yaml", 2, []string{"duration 2 needs a unit"}},
		{"bad-syntax.yaml", 0, []string{"bad-syntax.yaml"}},
		{"bad-cgroup-ref.yaml", 8, []string{"steps[0].cgroup", `unknown cgroup "nope" (known: a)`}},
		{"bad-skip.json", 2, []string{`unknown check "fairnes"`, "fairness"}},
		{"bad-threshold.yaml", 7, []string{"checks.rate_dip_pct", "150 is outside 0-100"}},
		{"bad-check-key.yaml", 7, []string{`unknown field "max_p99_latency"`, "max_p99_wake_latency"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata/scenarios", tc.file)
			_, err := Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			var ve *spec.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T (%v) is not a *spec.ValidationError", err, err)
			}
			if ve.File != path {
				t.Errorf("file %q, want %q", ve.File, path)
			}
			if tc.line > 0 && ve.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", ve.Line, tc.line, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// An empty list would run nothing, and pass.
func TestParseEmptyList(t *testing.T) {
	for _, data := range []string{"[]\n", "# nothing yet\n[]\n", `[]`} {
		ss, err := Parse("empty.yaml", []byte(data))
		var ve *spec.ValidationError
		if !errors.As(err, &ve) || ve.File != "empty.yaml" || !strings.Contains(err.Error(), "empty list") || ss != nil {
			t.Errorf("Parse(%q) = %v, %v; want a ValidationError about the empty list", data, ss, err)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type inner struct {
		Wait time.Duration `yaml:"wait"`
	}
	type doc struct {
		Names []string `yaml:"names"`
		Inner inner    `yaml:"inner"`
	}
	var d doc
	lines := map[string]int{}
	if err := DecodeStrict("d.yaml", []byte("names: [a, b]\ninner:\n  wait: 2s\n"), &d, lines); err != nil {
		t.Fatal(err)
	}
	if len(d.Names) != 2 || d.Inner.Wait != 2*time.Second || LineOf(lines, "inner.wait", 0) != 3 || LineOf(lines, "names[1]", 0) != 1 {
		t.Errorf("decoded %+v, lines %v", d, lines)
	}
	for _, tc := range []struct{ data, want string }{
		{"names: [a]\ninner:\n  wiat: 1s\n", `d.yaml:3: inner: unknown field "wiat" in inner (allowed: wait); did you mean "wait"?`},
		{"inner:\n  wait: 3\n", `d.yaml:2: inner.wait: duration 3 needs a unit`},
		{"[1, 2]\n", `d.yaml:1: want a mapping of doc`},
	} {
		err := DecodeStrict("d.yaml", []byte(tc.data), &doc{}, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.data, err, tc.want)
		}
	}
	if err := DecodeStrict("d.yaml", []byte("a: 1\n"), doc{}, nil); err == nil {
		t.Error("a non-pointer was accepted")
	}
}
