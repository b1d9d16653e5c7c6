package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// The bisect tests run a real `git bisect run` over small synthetic
// histories. Each commit of a history says which kernel, scheduler and
// scenario to run (files "kernel", "scheduler" and "scenario", plus any
// file it commits, such as a broken bzImage); bisectScript, the same for
// every commit, runs the real scxvm binary with them and records each exit
// code. git must then name the first bad commit, skip the kernels without
// sched_ext (125) and stop, blaming nothing, on a commit whose outcome is
// no verdict on it (a broken kernel file, a usage mistake).

// bisectScript is what `git bisect run` runs in each commit's checkout.
const bisectScript = `#!/bin/sh
# Run scxvm as the commit says and record its exit code. TCG: a host whose
# /dev/kvm passes the probe but cannot run guests must not decide verdicts.
"$SCXVM" run --accel tcg --kernel "$(cat kernel)" --scheduler "$(cat scheduler)" --boot-timeout 3m $(cat scenario)
code=$?
echo "$(git rev-parse HEAD) $code" >>"$BISECT_TRACE"
exit $code
`

// bisectCommit is what one commit of a synthetic history holds.
type bisectCommit struct {
	kernel, scheduler, scenario string
	// files are committed too (path in the repository to content).
	files map[string][]byte
	// want is the exit code scxvm must give for this commit if git
	// tests it.
	want int
}

// bisectEnv is what every bisect needs: the built binaries and the kernels.
type bisectEnv struct {
	scxvm string   // the CLI, with scxvm-agent next to it
	env   []string // environment for git and the script
	dir   string   // temp dir for repositories
}

func newBisectEnv(t *testing.T) *bisectEnv {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.Prereq(t, "git not in $PATH (apt-get install git)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	ctx := t.Context()
	if _, err := vmtest.BuildAgent(ctx, bin); err != nil {
		testenv.Prereq(t, "%v", err)
	}
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		testenv.Prereq(t, "go env GOMOD: %v", err)
	}
	scxvm := filepath.Join(bin, "scxvm")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", scxvm, "./cmd/scxvm")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/scxvm: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"SCXVM="+scxvm,
		"SCXVM_AGENT=", // the scxvm-agent next to scxvm
		"SCXVM_CACHE_DIR="+kernel.DefaultCacheDir(),
		// Failing runs keep their console logs in the temporary directory.
		"TMPDIR="+t.TempDir(),
		// Keep the user's git configuration (signing, hooks) out.
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=scxvm test", "GIT_AUTHOR_EMAIL=test@scxvm.invalid",
		"GIT_COMMITTER_NAME=scxvm test", "GIT_COMMITTER_EMAIL=test@scxvm.invalid",
	)
	return &bisectEnv{scxvm: scxvm, env: env, dir: dir}
}

// requireKernels ends the test when a cached kernel it needs is missing.
func requireKernels(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := kernel.Lookup(kernel.DefaultCacheDir(), n); err != nil {
			testenv.Prereq(t, "%v", err)
		}
	}
}

// guestTest prepares a test that boots guests through the CLI: it ends
// under -short, needs QEMU and the cached Debian kernel, and points
// SCXVM_AGENT at an agent built from this checkout.
func guestTest(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: boots a guest; drop -short to run it")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testenv.Prereq(t, "qemu-system-x86_64 not in $PATH (run `make deps`)")
	}
	requireKernels(t, kernel.Debian)
	agent, err := vmtest.BuildAgent(t.Context(), testenv.CheckoutDir(filepath.Join(kernel.DefaultCacheDir(), "agent")))
	if err != nil {
		t.Fatalf("build agent: %v", err)
	}
	t.Setenv("SCXVM_AGENT", agent)
}

// git runs git in dir and returns its trimmed output.
func (e *bisectEnv) git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir, cmd.Env = dir, e.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// history makes a repository with one commit per entry, oldest first, and
// returns it and the commits' hashes.
func (e *bisectEnv) history(t *testing.T, name string, commits []bisectCommit) (string, []string) {
	t.Helper()
	repo := filepath.Join(e.dir, name)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	e.git(t, repo, "init", "-q", "-b", "main")
	var shas []string
	for i, c := range commits {
		files := map[string][]byte{
			"kernel":    []byte(c.kernel + "\n"),
			"scheduler": []byte(c.scheduler + "\n"),
			"scenario":  []byte(c.scenario + "\n"),
		}
		for p, b := range c.files {
			files[p] = b
		}
		for p, b := range files {
			p = filepath.Join(repo, p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		e.git(t, repo, "add", "-A")
		e.git(t, repo, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("c%d: %s %s %s", i, c.kernel, c.scheduler, c.scenario))
		shas = append(shas, e.git(t, repo, "rev-parse", "HEAD"))
	}
	return repo, shas
}

// bisectRun is the outcome of one `git bisect run`.
type bisectRun struct {
	out   string       // git bisect run's output (the script's included)
	err   error        // its exit status
	log   string       // git bisect log
	trace []bisectStep // what the script ran, in order
}

type bisectStep struct {
	commit string
	code   int
}

// bisect runs `git bisect start bad good` and `git bisect run` with
// bisectScript in repo.
func (e *bisectEnv) bisect(t *testing.T, repo, bad, good string) *bisectRun {
	t.Helper()
	script := filepath.Join(e.dir, "bisect-script.sh")
	if err := os.WriteFile(script, []byte(bisectScript), 0o755); err != nil {
		t.Fatal(err)
	}
	trace := repo + ".trace"
	e.git(t, repo, "bisect", "start", bad, good)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "bisect", "run", script)
	cmd.Dir, cmd.Env = repo, append(e.env, "BISECT_TRACE="+trace)
	out, err := cmd.CombinedOutput()
	r := &bisectRun{out: string(out), err: err, log: e.git(t, repo, "bisect", "log")}
	t.Logf("git bisect run (%v):\n%s\ngit bisect log:\n%s", err, out, r.log)
	f, ferr := os.Open(trace)
	if ferr != nil {
		t.Fatalf("the script recorded nothing: %v", ferr)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		commit, code, _ := strings.Cut(sc.Text(), " ")
		n, cerr := strconv.Atoi(code)
		if cerr != nil {
			t.Fatalf("trace line %q", sc.Text())
		}
		r.trace = append(r.trace, bisectStep{commit: commit, code: n})
	}
	return r
}

// checkCodes asserts that every commit the script ran exited as its entry
// of commits says.
func checkCodes(t *testing.T, r *bisectRun, shas []string, commits []bisectCommit) {
	t.Helper()
	for _, s := range r.trace {
		i := indexOf(shas, s.commit)
		if i < 0 {
			t.Fatalf("the script ran unknown commit %s", s.commit)
		}
		if s.code != commits[i].want {
			t.Errorf("c%d (%s %s): scxvm exit %d, want %d", i, commits[i].kernel, commits[i].scheduler, s.code, commits[i].want)
		}
	}
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

// TestGitBisectFindsFirstBad bisects a history of good commits (Debian's
// 7.3 kernel with the built-in fifo), commits whose kernel has no
// sched_ext (stock 6.12: exit 125, skip) and bad commits (the built-in
// "error" scheduler, which the kernel ejects: exit 1). git must skip the
// stock kernel and name the first "error" commit. It boots two or three
// guests; the skipped commit boots none.
func TestGitBisectFindsFirstBad(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: boots two or three guests; drop -short to run it")
	}
	requireKernels(t, kernel.Debian, kernel.Stock612)
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testenv.Prereq(t, "qemu-system-x86_64 not in $PATH (run `make deps`)")
	}
	e := newBisectEnv(t)
	good := bisectCommit{kernel: kernel.Debian, scheduler: spec.SchedulerFIFO, scenario: "steady", want: exitPass}
	skip := bisectCommit{kernel: kernel.Stock612, scheduler: spec.SchedulerFIFO, scenario: "steady", want: exitUnsupported}
	bad := bisectCommit{kernel: kernel.Debian, scheduler: "error", scenario: "steady", want: exitFail}
	// git tests c3 first (the middle of c1..c6): a skip, so the next pick
	// is c2 or c4; the first bad commit c5 has a testable parent.
	commits := []bisectCommit{good, good, good, skip, good, bad, bad}
	const firstBad = 5
	repo, shas := e.history(t, "find-first-bad", commits)

	r := e.bisect(t, repo, shas[len(shas)-1], shas[0])
	if r.err != nil {
		t.Fatalf("git bisect run failed: %v", r.err)
	}
	checkCodes(t, r, shas, commits)
	if want := shas[firstBad] + " is the first bad commit"; !strings.Contains(r.out, want) {
		t.Errorf("git bisect run did not name c%d (%s) as the first bad commit", firstBad, shas[firstBad])
	}
	if !strings.Contains(r.log, "git bisect skip "+shas[3]) {
		t.Errorf("c3 (stock 6.12, no sched_ext) was not skipped")
	}
	boots := 0
	for _, s := range r.trace {
		if s.code != exitUnsupported {
			boots++
		}
	}
	t.Logf("%d scxvm runs, %d boots", len(r.trace), boots)
}

// TestGitBisectStops puts, in the middle of a history, commits whose scxvm
// outcome is no verdict on the commit: git bisect run must stop there and
// mark the commit neither good, bad nor skipped. The middle commit is the
// first git tests, and none of these boots a guest.
func TestGitBisectStops(t *testing.T) {
	requireKernels(t, kernel.Debian)
	e := newBisectEnv(t)
	img, err := kernel.Lookup(kernel.DefaultCacheDir(), kernel.Debian)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(img.Image)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), raw...)
	for i := len(raw) / 2; i < len(raw)/2+64; i++ {
		corrupt[i] ^= 0x5a
	}
	prog, err := exec.LookPath("true")
	if err != nil {
		prog = e.scxvm
	}
	program, err := os.ReadFile(prog) // an ELF program of the host
	if err != nil {
		t.Fatal(err)
	}
	badYAML := []byte("name: bad\nduration: 1s\ncgroups:\n  - name: a\n    workloads:\n      - num_workers: 2\n        work_type:\n          kind: CpuSpn\n")
	good := bisectCommit{kernel: kernel.Debian, scheduler: spec.SchedulerFIFO, scenario: "steady", want: exitPass}
	bad := bisectCommit{kernel: kernel.Debian, scheduler: "error", scenario: "steady", want: exitFail}
	for _, tt := range []struct {
		name    string
		stopper bisectCommit
		msg     string // in scxvm's output
		// needsSchedulers: without built schedulers an unknown name is
		// an infrastructure error (129), not a usage error.
		needsSchedulers bool
	}{
		{
			// A kernel build that left a truncated bzImage (the first
			// megabyte of Debian's vmlinuz).
			name: "truncated-bzImage",
			stopper: bisectCommit{kernel: "./arch/x86/boot/bzImage", scheduler: spec.SchedulerFIFO, scenario: "steady", want: exitBadKernel,
				files: map[string][]byte{"arch/x86/boot/bzImage": raw[:1<<20]}},
			msg: "truncated: the boot header says",
		},
		{
			// Full length, but the compressed kernel is damaged.
			name: "corrupt-bzImage",
			stopper: bisectCommit{kernel: "./arch/x86/boot/bzImage", scheduler: spec.SchedulerFIFO, scenario: "steady", want: exitBadKernel,
				files: map[string][]byte{"arch/x86/boot/bzImage": corrupt}},
			msg: "corrupt compressed kernel",
		},
		{
			name: "program-as-kernel",
			stopper: bisectCommit{kernel: "./vmlinux", scheduler: spec.SchedulerFIFO, scenario: "steady", want: exitBadKernel,
				files: map[string][]byte{"vmlinux": program}},
			msg: "without a kernel's sections",
		},
		{
			name:            "unknown-scheduler",
			stopper:         bisectCommit{kernel: kernel.Debian, scheduler: "scx_nope", scenario: "steady", want: exitUsage},
			msg:             `unknown scheduler "scx_nope"`,
			needsSchedulers: true,
		},
		{
			name:    "bad-scenario-file",
			stopper: bisectCommit{kernel: kernel.Debian, scheduler: spec.SchedulerFIFO, scenario: "bad.yaml", want: exitUsage, files: map[string][]byte{"bad.yaml": badYAML}},
			msg:     "did you mean CpuSpin",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needsSchedulers {
				if _, err := kernel.Schedulers(kernel.DefaultCacheDir(), img); err != nil {
					testenv.Prereq(t, "%v", err)
				}
			}
			s := tt.stopper
			commits := []bisectCommit{good, s, s, s, bad}
			repo, shas := e.history(t, tt.name, commits)
			r := e.bisect(t, repo, shas[4], shas[0])
			var ee *exec.ExitError
			if !errors.As(r.err, &ee) {
				t.Fatalf("git bisect run = %v, want it to fail", r.err)
			}
			if len(r.trace) != 1 || indexOf(shas, r.trace[0].commit) != 2 {
				t.Fatalf("the script ran %+v, want c2 (%s) alone", r.trace, shas[2])
			}
			checkCodes(t, r, shas, commits)
			if !strings.Contains(r.out, "bisect run failed") {
				t.Errorf("git bisect run did not say it stopped")
			}
			if !strings.Contains(r.out, tt.msg) {
				t.Errorf("scxvm's output lacks %q", tt.msg)
			}
			if strings.Contains(r.out, "is the first bad commit") {
				t.Errorf("git bisect named a first bad commit")
			}
			for _, verb := range []string{"good", "bad", "skip"} {
				if strings.Contains(r.log, "git bisect "+verb+" "+shas[2]) {
					t.Errorf("git bisect marked c2 %s", verb)
				}
			}
			if got := e.git(t, repo, "rev-parse", "refs/bisect/bad"); got != shas[4] {
				t.Errorf("refs/bisect/bad = %s, want c4 %s", got, shas[4])
			}
		})
	}
}
