package scenariofile

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/scxvm/scxvm/internal/fuzzcorpus"
	"github.com/scxvm/scxvm/spec"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzParse from the seeds")

const corpusDir = "testdata/fuzz/FuzzParse"

// fuzzSeeds are FuzzParse's committed seeds: the test files, good and
// bad, and a few shapes they do not cover.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{
		"empty-list":      []byte("[]\n"),
		"scalar":          []byte("steady\n"),
		"anchors":         []byte("- &a {name: one, duration: 1s}\n- *a\n"),
		"null-cgroup":     []byte("name: x\ncgroups: [~]\n"),
		"huge-duration":   []byte("name: x\nduration: 9999999999h\n"),
		"negative-timing": []byte("name: x\nsteps: [{at: -1s, action: sysrq}]\n"),
		"json-numbers":    []byte(`{"name": "x", "cgroups": [{"name": "a", "workloads": [{"num_workers": 1e9}]}]}`),
	}
	files, err := filepath.Glob("testdata/scenarios/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds["file-"+filepath.Base(f)] = b
	}
	return seeds
}

// TestFuzzCorpus keeps the committed corpus in step with fuzzSeeds; run
// with -update-corpus after changing a test file.
func TestFuzzCorpus(t *testing.T) {
	fuzzcorpus.Check(t, corpusDir, "./scenariofile/", "TestFuzzCorpus", fuzzcorpus.Bytes(fuzzSeeds(t)), *updateCorpus)
}

// FuzzParse: whatever the bytes, Parse must not panic, and must return
// either at least one scenario, each of which passes spec's validation,
// or a *spec.ValidationError that names the file.
func FuzzParse(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ve *spec.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *spec.ValidationError", err, err)
			}
			if ve.File != "fuzz.yaml" || ss != nil {
				t.Fatalf("error %v names file %q, returned %d scenarios", err, ve.File, len(ss))
			}
			return
		}
		if len(ss) == 0 {
			t.Fatal("no scenario and no error")
		}
		for i, s := range ss {
			if err := s.Validate(); err != nil {
				t.Fatalf("scenario %d (%q) parsed but does not validate: %v", i, s.Name, err)
			}
		}
	})
}

const checkCorpusDir = "testdata/fuzz/FuzzParseCheck"

// checkSeeds are FuzzParseCheck's committed seeds: settings good and bad,
// and values that would be more than one field if they were pasted into
// YAML text.
var checkSeeds = map[string]string{
	"duration":      "max_p99_wake_latency=20ms",
	"check-name":    "throughput_cv=0.5",
	"off":           "rate_dip=off",
	"no-unit":       "max_gap=3",
	"zero":          "fairness=0",
	"two-keys":      "rate_dip=5",
	"unknown":       "p99_wake_latncy=1ms",
	"no-equals":     "max_gap",
	"flow-mapping":  "max_gap={a: 1}",
	"newline-field": "max_throughput_cv=0.5\nskip: [kernel_clean]",
	"anchor":        "max_gap=&a 1s",
	"nan":           "max_throughput_cv=.nan",
}

// TestFuzzCheckCorpus keeps FuzzParseCheck's committed corpus in step
// with checkSeeds.
func TestFuzzCheckCorpus(t *testing.T) {
	entries := map[string]string{}
	for name, s := range checkSeeds {
		entries[name] = fuzzcorpus.Entry(s)
	}
	fuzzcorpus.Check(t, checkCorpusDir, "./scenariofile/", "TestFuzzCheckCorpus", entries, *updateCorpus)
}

// FuzzParseCheck: whatever the setting, ParseCheck must not panic, and
// must return either a layer that validates and sets exactly one
// threshold or skips exactly one check, or a *spec.ValidationError that
// names the flag.
func FuzzParseCheck(f *testing.F) {
	for _, s := range checkSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, setting string) {
		c, err := ParseCheck("--check", setting)
		if err != nil {
			var ve *spec.ValidationError
			if !errors.As(err, &ve) || ve.File != "--check" {
				t.Fatalf("error %v (%T) is not a *spec.ValidationError naming the flag", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q parsed to %+v, which does not validate: %v", setting, c, err)
		}
		set := len(c.Skip)
		v := reflect.ValueOf(c)
		for i := range v.NumField() {
			if v.Type().Field(i).Name != "Skip" && !v.Field(i).IsZero() {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("%q parsed to %+v: %d settings, want 1", setting, c, set)
		}
	})
}
