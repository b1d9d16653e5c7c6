package testsummary

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scxvm/scxvm/internal/testenv"
)

var (
	fakeOnce   sync.Once
	fakeStream []byte
	fakeErr    error
)

// fakeRun runs `go test -json ./...` over testdata/mod, a module whose
// packages pass, fail, skip (for a prerequisite and for hardware), fail
// to build, exit in the middle of a test, and have no test files.
func fakeRun(t *testing.T) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Prereq(t, "go not in PATH: %v", err)
	}
	fakeOnce.Do(func() {
		cmd := exec.CommandContext(t.Context(), goBin, "test", "-json", "-count=1", "./...")
		cmd.Dir = "testdata/mod"
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		fakeStream, fakeErr = cmd.Output()
		if _, ok := fakeErr.(*exec.ExitError); ok {
			fakeErr = nil // the module fails on purpose
		}
		if fakeErr != nil {
			fakeErr = &exec.Error{Name: "go test: " + stderr.String(), Err: fakeErr}
		}
	})
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
	return fakeStream
}

func names(ts []Test) []string {
	var out []string
	for _, t := range ts {
		out = append(out, strings.TrimPrefix(t.Package, "example.com/fake/")+"."+t.Name)
	}
	slices.Sort(out)
	return out
}

func TestSummaryOfRealStream(t *testing.T) {
	stream := fakeRun(t)
	for _, ci := range []bool{false, true} {
		var echo, sum bytes.Buffer
		s := New(&echo, Options{CI: ci})
		if err := s.Read(bytes.NewReader(stream)); err != nil {
			t.Fatal(err)
		}
		if got, want := names(s.Passed), []string{"fail.TestOK", "pass.TestA", "pass.TestSub", "pass.TestSub/one"}; !slices.Equal(got, want) {
			t.Errorf("passed %v, want %v", got, want)
		}
		if got, want := names(s.Failed), []string{"crash.TestExits", "crash.TestWaits", "fail.TestFail"}; !slices.Equal(got, want) {
			t.Errorf("failed %v, want %v", got, want)
		}
		if got, want := names(s.Skipped), []string{"pass.TestSub/two", "skip.TestBare", "skip.TestKVM", "skip.TestPrereq"}; !slices.Equal(got, want) {
			t.Errorf("skipped %v, want %v", got, want)
		}
		reasons := map[string]Test{}
		for _, sk := range s.Skipped {
			reasons[sk.Name] = sk
		}
		if r := reasons["TestPrereq"]; r.Device != "" || r.Reason != "skip_test.go:7: SKIPPING: prerequisite missing: kernel not in cache (run `make kernel`)" {
			t.Errorf("TestPrereq skip: %+v", r)
		}
		if r := reasons["TestKVM"]; r.Device != testenv.KVM {
			t.Errorf("TestKVM skip not seen as hardware: %+v", r)
		}
		if r := reasons["TestSub/two"]; r.Device != testenv.VhostVsock {
			t.Errorf("TestSub/two skip not seen as hardware: %+v", r)
		}
		if r := reasons["TestBare"]; r.Device != "" || r.Reason == "" {
			t.Errorf("TestBare skip: %+v", r)
		}
		var failed []string
		for _, p := range s.FailedPackages() {
			failed = append(failed, p.Line)
		}
		for _, want := range []string{"FAIL\texample.com/fake/broken [build failed]", "FAIL\texample.com/fake/crash\t", "FAIL\texample.com/fake/fail\t"} {
			if !slices.ContainsFunc(failed, func(l string) bool { return strings.HasPrefix(l, want) }) {
				t.Errorf("failed packages %q lack %q", failed, want)
			}
		}
		if s.OK() {
			t.Error("OK() with failed tests")
		}
		if got := len(s.DisallowedSkips()); ci && got != 2 || !ci && got != 0 {
			t.Errorf("CI=%v: %d disallowed skips", ci, got)
		}

		// The echo is go test's usual output without -v.
		out := echo.String()
		for _, want := range []string{"ok  \texample.com/fake/pass", "?   \texample.com/fake/notests\t[no test files]", "fail_test.go:7: boom", "--- FAIL: TestFail", "cannot use \"not an int\""} {
			if !strings.Contains(out, want) {
				t.Errorf("echo lacks %q:\n%s", want, out)
			}
		}
		for _, unwanted := range []string{"=== RUN", "--- PASS", "--- SKIP", "\nPASS\n"} {
			if strings.Contains(out, unwanted) {
				t.Errorf("echo has %q, which go test shows only with -v:\n%s", unwanted, out)
			}
		}

		if err := s.WriteSummary(&sum); err != nil {
			t.Fatal(err)
		}
		out = sum.String()
		for _, want := range []string{
			"--- FAIL: example.com/fake/fail TestFail",
			"    fail_test.go:6: before",
			"--- FAIL: example.com/fake/crash TestWaits",
			"the test never ended",
			"example.com/fake/skip TestPrereq: skip_test.go:7: SKIPPING: prerequisite missing",
			"skipped for hardware these machines lack (allowed in CI) (2):",
			"FAIL\texample.com/fake/broken [build failed]",
			"4 passed, 3 failed, 4 skipped\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("CI=%v: summary lacks %q:\n%s", ci, want, out)
			}
		}
		if got := strings.Contains(out, "NOT ALLOWED in CI"); got != ci {
			t.Errorf("CI=%v: summary says skips are not allowed: %v\n%s", ci, got, out)
		}
	}
}

func TestSummaryVerdict(t *testing.T) {
	pass := []Event{
		{Action: "start", Package: "p"},
		{Action: "run", Package: "p", Test: "TestA"},
		{Action: "output", Package: "p", Test: "TestA", Output: "=== RUN   TestA\n"},
		{Action: "output", Package: "p", Test: "TestA", Output: "--- PASS: TestA (0.00s)\n"},
		{Action: "pass", Package: "p", Test: "TestA"},
		{Action: "output", Package: "p", Output: "PASS\n"},
		{Action: "output", Package: "p", Output: "ok  \tp\t0.1s\n"},
		{Action: "pass", Package: "p"},
	}
	hwSkip := []Event{
		{Action: "run", Package: "q", Test: "TestV"},
		{Action: "output", Package: "q", Test: "TestV", Output: "    v_test.go:3: " + testenv.SkipPrefix + "vhost-vsock: none\n"},
		{Action: "output", Package: "q", Test: "TestV", Output: "--- SKIP: TestV (0.00s)\n"},
		{Action: "skip", Package: "q", Test: "TestV"},
		{Action: "output", Package: "q", Output: "ok  \tq\t0.1s\n"},
		{Action: "pass", Package: "q"},
	}
	otherSkip := []Event{
		{Action: "run", Package: "r", Test: "TestR"},
		{Action: "output", Package: "r", Test: "TestR", Output: "    r_test.go:3: skipping: needs root\n"},
		{Action: "skip", Package: "r", Test: "TestR"},
		{Action: "pass", Package: "r"},
	}
	cut := []Event{
		{Action: "run", Package: "s", Test: "TestLong"},
		{Action: "output", Package: "s", Test: "TestLong", Output: "    long_test.go:9: booting\n"},
	}
	for _, tc := range []struct {
		name   string
		ci     bool
		events [][]Event
		ok     bool
		last   string
	}{
		{"pass", true, [][]Event{pass}, true, "PASS"},
		{"hardware skip in CI", true, [][]Event{pass, hwSkip}, true, "PASS"},
		{"other skip outside CI", false, [][]Event{pass, otherSkip}, true, "PASS"},
		{"other skip in CI", true, [][]Event{pass, otherSkip}, false, "FAIL: 1 test(s) skipped under CI for a reason other than missing hardware"},
		{"stream cut mid-test", false, [][]Event{pass, cut}, false, "FAIL"},
		{"nothing tested", false, nil, false, "FAIL: no package was tested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var echo, sum bytes.Buffer
			s := New(&echo, Options{CI: tc.ci})
			for _, evs := range tc.events {
				for _, ev := range evs {
					s.Add(ev)
				}
			}
			s.finish()
			if s.OK() != tc.ok {
				t.Errorf("OK() = %v, want %v", s.OK(), tc.ok)
			}
			s.WriteSummary(&sum)
			lines := strings.Split(strings.TrimSpace(sum.String()), "\n")
			if got := lines[len(lines)-1]; got != tc.last {
				t.Errorf("last line %q, want %q:\n%s", got, tc.last, sum.String())
			}
		})
	}
}

func TestReadPassesOtherLines(t *testing.T) {
	var echo bytes.Buffer
	s := New(&echo, Options{})
	in := "go: downloading example.com/x v1.0.0\n" + `{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}` + "\n" + `{"Action":"pass","Package":"p"}` + "\n"
	if err := s.Read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if want := "go: downloading example.com/x v1.0.0\nok  \tp\t0.1s\n"; echo.String() != want {
		t.Errorf("echo %q, want %q", echo.String(), want)
	}
	if s.Other != 1 || !s.OK() {
		t.Errorf("Other %d OK %v", s.Other, s.OK())
	}
}
