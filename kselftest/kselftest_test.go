package kselftest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// brief is a test without its output, for comparisons.
type brief struct {
	Num    int
	Name   string
	Status Status
	Reason string
}

func briefs(r Report) []brief {
	var out []brief
	for _, t := range r.Tests {
		out = append(out, brief{t.Num, t.Name, t.Status, t.Reason()})
	}
	return out
}

// The testdata files are the runner's real output, captured from guests
// (the payload's output as the agent returned it).
func TestParseCaptured(t *testing.T) {
	for _, tc := range []struct {
		file   string
		want   []brief
		counts *Counts
		trunc  bool
		other  int
	}{
		{
			// 7.3, runner -t select_cpu_dfl: the filter matches two tests.
			file:   "select_cpu_dfl-7.3.out",
			want:   []brief{{1, "select_cpu_dfl", Pass, ""}, {2, "select_cpu_dfl_nodispatch", Pass, ""}},
			counts: &Counts{Passed: 2},
		},
		{
			// 6.12, runner -t select_cpu_dfl: the runner does not flush
			// its preamble before the test forks, so each of the test's
			// children printed the unflushed output again (500 KB, cut to
			// 16 KB by the agent); each test once, with its result.
			file:   "select_cpu_dfl-6.12.out",
			want:   []brief{{1, "select_cpu_dfl", Pass, ""}, {2, "select_cpu_dfl_nodispatch", Pass, ""}},
			counts: &Counts{Passed: 2},
			trunc:  true,
		},
		{
			// 7.3, runner -t dequeue: three tests, 16 KB of output of
			// which the agent kept the first and last 8 KiB.
			file:   "dequeue-7.3.out",
			want:   []brief{{1, "dequeue", Pass, ""}, {2, "dequeue_iter", Pass, ""}, {3, "dequeue_remote", Pass, ""}},
			counts: &Counts{Passed: 3},
			trunc:  true,
		},
		{
			// 7.3, runner -t reload_loop killed at its 5-minute timeout
			// under TCG: the preamble and nothing after it.
			file: "reload_loop-7.3.out",
			want: []brief{{0, "reload_loop", Unfinished, ""}},
		},
		{
			// The 7.3 runner on the 6.12 kernel: a kfunc 6.12 lacks, the
			// load fails and the test with it.
			file:   "allowed_cpus-runner7.3-on-6.12.out",
			want:   []brief{{1, "allowed_cpus", Fail, "Failed to load skel (allowed_cpus.c:19)"}},
			counts: &Counts{Failed: 1},
		},
		{
			// 6.12 dsp_local_on failing: the runner buffers its preamble,
			// so the test's ERR lines (stderr) come before it.
			file:   "dsp_local_on-fail-6.12.out",
			want:   []brief{{1, "dsp_local_on", Fail, "Expected skel->data->uei.kind == EXIT_KIND(SCX_EXIT_UNREG) (1026 == 64) (dsp_local_on.c:39)"}},
			counts: &Counts{Failed: 1},
		},
		{
			// 7.3 cyclic_kick_wait on 2 cpus: skipped without a word, and
			// the summary lists it.
			file:   "cyclic_kick_wait-2cpus-7.3.out",
			want:   []brief{{1, "cyclic_kick_wait", Skip, ""}},
			counts: &Counts{Skipped: 1},
		},
		{
			// 7.3 hotplug: the scheduler's exit messages as the test's
			// output.
			file:   "hotplug-7.3.out",
			want:   []brief{{1, "hotplug", Pass, ""}},
			counts: &Counts{Passed: 1},
		},
		{
			// 7.3 maybe_null: the verifier's rejection, which the test
			// expects, in its output.
			file:   "maybe_null-7.3.out",
			want:   []brief{{1, "maybe_null", Pass, ""}},
			counts: &Counts{Passed: 1},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := Parse(readTestdata(t, tc.file))
			if got := briefs(r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("tests:\n got %+v\nwant %+v", got, tc.want)
			}
			if !reflect.DeepEqual(r.Counts, tc.counts) {
				t.Errorf("counts: got %+v, want %+v", r.Counts, tc.counts)
			}
			if r.Truncated != tc.trunc {
				t.Errorf("truncated: got %v, want %v", r.Truncated, tc.trunc)
			}
			if len(r.Other) != tc.other {
				t.Errorf("other lines: got %q, want %d", r.Other, tc.other)
			}
			for _, test := range r.Tests {
				if test.Description == "" {
					t.Errorf("%s: no description", test.Name)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []brief
		// outputs are the tests' Output fields.
		outputs []string
		counts  *Counts
		trunc   bool
		other   []string
	}{
		{
			name: "empty",
			in:   "",
		},
		{
			name: "skip with reason and quiet preamble",
			in: "===== START =====\nTEST: nohz_tick\nOUTPUT:\nSKIP: no allowed NOHZ_FULL CPU\nok 1 nohz_tick # SKIP \n=====  END  =====\n" +
				"\n\n=============================\n\nRESULTS:\n\nPASSED:  0\nSKIPPED: 1\nFAILED:  0\n\nSkipped tests:\n  - nohz_tick\n",
			want:    []brief{{1, "nohz_tick", Skip, "SKIP: no allowed NOHZ_FULL CPU"}},
			outputs: []string{"SKIP: no allowed NOHZ_FULL CPU"},
			counts:  &Counts{Skipped: 1},
		},
		{
			name: "failure names the ERR line's message",
			in: "===== START =====\nTEST: exit\nDESCRIPTION: d\nOUTPUT:\nlibbpf: prog 'x': failed to load\nERR: exit.c:42\nFailed to attach scheduler\nnot ok 3 exit # \n=====  END  =====\n" +
				"RESULTS:\nPASSED:  2\nSKIPPED: 0\nFAILED:  1\n\nFailed tests:\n  - exit\n",
			want:    []brief{{3, "exit", Fail, "Failed to attach scheduler (exit.c:42)"}},
			outputs: []string{"libbpf: prog 'x': failed to load\nERR: exit.c:42\nFailed to attach scheduler"},
			counts:  &Counts{Passed: 2, Failed: 1},
		},
		{
			name:    "killed in the middle of a test",
			in:      "===== START =====\nTEST: select_cpu_dfl\nDESCRIPTION: d\nOUTPUT:\nworking\n",
			want:    []brief{{0, "select_cpu_dfl", Unfinished, "working"}},
			outputs: []string{"working"},
		},
		{
			name: "a result line of another test inside a test's output is output",
			in:   "===== START =====\nTEST: a\nOUTPUT:\nok 7 b # \nok 1 a # \n=====  END  =====\n",
			want: []brief{{1, "a", Pass, ""}}, outputs: []string{"ok 7 b # "},
		},
		{
			name: "cut output: marker noted, tests after it read",
			in: "===== START =====\nTEST: a\nOUTPUT:\nx\n[... 1234 bytes elided ...]\ny\nnot ok 1 a # \n=====  END  =====\n" +
				"===== START =====\nTEST: b\nOUTPUT:\nok 2 b # \n=====  END  =====\n",
			want:    []brief{{1, "a", Fail, "y"}, {2, "b", Pass, ""}},
			outputs: []string{"x\n[... 1234 bytes elided ...]\ny", ""},
			trunc:   true,
		},
		{
			name: "copies of earlier blocks from forked children merge into one test each",
			in: "===== START =====\nTEST: a\nOUTPUT:\nok 1 a # \n=====  END  =====\n===== START =====\nTEST: b\nOUTPUT:\n" +
				"===== START =====\nTEST: a\nOUTPUT:\nok 1 a # \n=====  END  =====\n===== START =====\nTEST: b\nOUTPUT:\nERR: b.c:1\nbad\n" +
				"===== START =====\nTEST: a\nOUTPUT:\nok 1 a # \n=====  END  =====\n===== START =====\nTEST: b\nOUTPUT:\nnot ok 2 b # \n=====  END  =====\n",
			want:    []brief{{1, "a", Pass, ""}, {2, "b", Fail, "bad (b.c:1)"}},
			outputs: []string{"", "ERR: b.c:1\nbad"},
		},
		{
			name:  "usage error before any test",
			in:    "No tests matched filter 'zz'\nAvailable tests (use -l to list):\n  minimal\n",
			other: []string{"No tests matched filter 'zz'", "Available tests (use -l to list):", "  minimal"},
		},
		{
			name: "CRLF line ends",
			in:   "===== START =====\r\nTEST: a\r\nOUTPUT:\r\nok 1 a # \r\n=====  END  =====\r\n",
			want: []brief{{1, "a", Pass, ""}}, outputs: []string{""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Parse(tc.in)
			if got := briefs(r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("tests:\n got %+v\nwant %+v", got, tc.want)
			}
			var outputs []string
			for _, test := range r.Tests {
				outputs = append(outputs, test.Output)
			}
			if !reflect.DeepEqual(outputs, tc.outputs) {
				t.Errorf("outputs: got %q, want %q", outputs, tc.outputs)
			}
			if !reflect.DeepEqual(r.Counts, tc.counts) {
				t.Errorf("counts: got %+v, want %+v", r.Counts, tc.counts)
			}
			if r.Truncated != tc.trunc {
				t.Errorf("truncated: got %v, want %v", r.Truncated, tc.trunc)
			}
			if !reflect.DeepEqual(r.Other, tc.other) {
				t.Errorf("other: got %q, want %q", r.Other, tc.other)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	list73 := ParseList(readTestdata(t, "list-7.3.out"))
	if len(list73) != 33 || list73[0] != "create_dsq" || list73[32] != "cyclic_kick_wait" {
		t.Errorf("7.3 runner -l: got %d tests %q", len(list73), list73)
	}
	// A runner without -l (6.12) lists its tests as skipped ones with
	// -s and a filter that matches none.
	list612 := ParseList(readTestdata(t, "list-skipped-6.12.out"))
	if len(list612) != 21 || list612[0] != "create_dsq" || list612[20] != "example" {
		t.Errorf("6.12 runner -q -s -t NOMATCH: got %d tests %q", len(list612), list612)
	}
	if got := ParseList("The runner for sched_ext tests.\n\nUsage: runner [-t TEST] [-h]\n"); len(got) != 0 {
		t.Errorf("a usage message is no list: got %q", got)
	}
}

func TestPlan(t *testing.T) {
	all := []string{"create_dsq", "dequeue", "dequeue_iter", "dequeue_remote", "exit", "minimal",
		"select_cpu_dfl", "select_cpu_dfl_nodispatch", "select_cpu_dispatch", "select_cpu_dispatch_bad_dsq", "select_cpu_vtime"}
	for _, tc := range []struct {
		name     string
		selected []string
		want     []Run
	}{
		{"all: each test runs once", all, []Run{
			{"create_dsq", []string{"create_dsq"}},
			{"dequeue", []string{"dequeue", "dequeue_iter", "dequeue_remote"}},
			{"exit", []string{"exit"}},
			{"minimal", []string{"minimal"}},
			{"select_cpu_dfl", []string{"select_cpu_dfl", "select_cpu_dfl_nodispatch"}},
			{"select_cpu_dispatch", []string{"select_cpu_dispatch", "select_cpu_dispatch_bad_dsq"}},
			{"select_cpu_vtime", []string{"select_cpu_vtime"}},
		}},
		{"a longer name alone runs alone", []string{"dequeue_iter", "select_cpu_dfl_nodispatch"}, []Run{
			{"dequeue_iter", []string{"dequeue_iter"}},
			{"select_cpu_dfl_nodispatch", []string{"select_cpu_dfl_nodispatch"}},
		}},
		{"a shorter name selected: the longer one rides along", Select(all, "dispatch"), []Run{
			{"select_cpu_dfl_nodispatch", []string{"select_cpu_dfl_nodispatch"}},
			{"select_cpu_dispatch", []string{"select_cpu_dispatch", "select_cpu_dispatch_bad_dsq"}},
		}},
		{"nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(all, tc.selected)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Plan:\n got %+v\nwant %+v", got, tc.want)
			}
			// Every selected test is in exactly one run.
			seen := map[string]int{}
			for _, r := range got {
				for _, n := range r.Tests {
					seen[n]++
				}
			}
			for _, n := range tc.selected {
				if seen[n] != 1 {
					t.Errorf("%s is in %d runs", n, seen[n])
				}
			}
		})
	}
}

func TestSelect(t *testing.T) {
	all := []string{"exit", "select_cpu_dfl", "select_cpu_dfl_nodispatch"}
	if got := Select(all, ""); !reflect.DeepEqual(got, all) {
		t.Errorf(`Select "": got %q`, got)
	}
	if got, want := Select(all, "dfl"), all[1:]; !reflect.DeepEqual(got, want) {
		t.Errorf(`Select "dfl": got %q, want %q`, got, want)
	}
	if got := Select(all, "nothing"); got != nil {
		t.Errorf(`Select "nothing": got %q`, got)
	}
}

func TestPayload(t *testing.T) {
	p := Payload("/runner", "exit")
	if p.Path != "/runner" || strings.Join(p.Args, " ") != "-t exit" || !p.Wait {
		t.Errorf("Payload: %+v", p)
	}
}
