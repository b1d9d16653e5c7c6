package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scxvm/scxvm/vmtest/matrix"
)

// The CI examples in docs/ci must stay true: valid YAML of the right
// shape, and every scxvm command in them parses with flags that exist,
// with --shard I/N agreeing with the number of shards they start.

// readDocs parses every YAML document of a file.
func readDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
	return docs
}

// get walks a decoded YAML document by keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: no key %q", path, k)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

// strings collects every string scalar of a decoded document.
func scalars(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case map[string]any:
		for _, e := range x {
			scalars(e, out)
		}
	case []any:
		for _, e := range x {
			scalars(e, out)
		}
	}
}

var (
	ghExpr     = regexp.MustCompile(`\$\{\{\s*([a-z]+)\.([A-Za-z_]+)\s*\}\}`)
	shellArith = regexp.MustCompile(`\$\(\([^)]*\)\)`)
	shellVar   = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)
)

// commands finds the scxvm command lines in a shell script and returns
// each one's words after "scxvm", with ${{ matrix.X }} and shell
// arithmetic replaced by 1 and other variables by vars (else 1).
func commands(script string, vars map[string]string) [][]string {
	script = strings.ReplaceAll(script, "\\\n", " ")
	subst := func(s string) string {
		s = ghExpr.ReplaceAllStringFunc(s, func(m string) string {
			g := ghExpr.FindStringSubmatch(m)
			if v, ok := vars[g[2]]; ok && g[1] == "env" {
				return v
			}
			return "1"
		})
		s = shellArith.ReplaceAllString(s, "1")
		return shellVar.ReplaceAllStringFunc(s, func(m string) string {
			if v, ok := vars[shellVar.FindStringSubmatch(m)[1]]; ok {
				return v
			}
			return "1"
		})
	}
	var out [][]string
	for _, line := range strings.Split(script, "\n") {
		for _, part := range regexp.MustCompile(`&&|;|\|\|`).Split(subst(line), -1) {
			words := shellWords(part)
			if len(words) > 1 && words[0] == "scxvm" {
				out = append(out, words[1:])
			}
		}
	}
	return out
}

// shellWords splits s like sh does for plain words and quotes.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// checkCommands parses every scxvm command of scripts with the CLI's own
// flag parsing and returns the problems, the numbers of matrix runs and
// merges, and the shard counts --shard names.
func checkCommands(scripts []string, vars map[string]string) (problems []string, matrixRuns, merges int, shardN map[int]bool) {
	shardN = map[int]bool{}
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, s := range scripts {
		for _, args := range commands(s, vars) {
			switch {
			case len(args) > 0 && args[0] == "matrix":
				m, sel, err := parseMatrix(args[1:], io.Discard)
				if err != nil {
					errorf("scxvm %s: %v", strings.Join(args, " "), err)
					continue
				}
				matrixRuns++
				shardN[sel.Shard.N] = true
				if m.results.json == "" {
					errorf("scxvm %s: a shard without --json cannot be merged", strings.Join(args, " "))
				}
				if m.file == "" || filepath.Base(m.file) != "matrix.yaml" {
					errorf("scxvm %s: want the matrix file matrix.yaml", strings.Join(args, " "))
				}
			case len(args) > 1 && args[0] == "report" && args[1] == "merge":
				if _, err := parseMerge(args[2:], io.Discard); err != nil {
					errorf("scxvm %s: %v", strings.Join(args, " "), err)
				}
				merges++
			default:
				errorf("scxvm %s: a command the examples should not need", strings.Join(args, " "))
			}
		}
	}
	return problems, matrixRuns, merges, shardN
}

func TestCIExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "ci")
	// The matrix file both examples run.
	spec, err := matrix.LoadSpec(filepath.Join(dir, "matrix.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if plan, err := spec.Plan(t.TempDir()); err != nil || len(plan.Cells) < 4 {
		t.Fatalf("docs/ci/matrix.yaml: %v", err)
	}

	t.Run("github-actions", func(t *testing.T) {
		docs := readDocs(t, filepath.Join(dir, "github-actions.yml"))
		if len(docs) != 1 {
			t.Fatalf("%d documents", len(docs))
		}
		wf := docs[0]
		for _, k := range []string{"name", "on", "jobs"} {
			get(t, wf, k)
		}
		vars := map[string]string{}
		for k, v := range get(t, wf, "env").(map[string]any) {
			vars[k] = strings.TrimSpace(strings.Trim(strings.TrimSpace(toString(v)), `"`))
		}
		if vars["MATRIX"] != "docs/ci/matrix.yaml" {
			t.Errorf("env MATRIX = %q, want docs/ci/matrix.yaml", vars["MATRIX"])
		}
		shards := get(t, wf, "jobs", "shard", "strategy", "matrix", "shard").([]any)
		if n, _ := strconv.Atoi(vars["SHARDS"]); n != len(shards) {
			t.Errorf("env SHARDS = %q, but the job matrix has %d shards", vars["SHARDS"], len(shards))
		}
		for i, s := range shards {
			if s != i+1 {
				t.Errorf("shard %d of the job matrix is %v, want %d", i, s, i+1)
			}
		}
		if needs := get(t, wf, "jobs", "merge", "needs"); needs != "shard" {
			t.Errorf("merge needs %v", needs)
		}
		var scripts []string
		for _, job := range []string{"shard", "merge"} {
			for i, st := range get(t, wf, "jobs", job, "steps").([]any) {
				m := st.(map[string]any)
				_, run := m["run"]
				_, uses := m["uses"]
				if run == uses {
					t.Errorf("jobs.%s.steps[%d]: want exactly one of run and uses", job, i)
				}
				if run {
					scripts = append(scripts, m["run"].(string))
				}
			}
		}
		problems, runs, merges, ns := checkCommands(scripts, vars)
		for _, p := range problems {
			t.Error(p)
		}
		if runs != 1 || merges != 1 || !ns[len(shards)] || len(ns) != 1 {
			t.Errorf("%d matrix runs (shards of %v), %d merges: want one of each, with --shard I/%d", runs, ns, merges, len(shards))
		}
	})

	t.Run("kubernetes", func(t *testing.T) {
		docs := readDocs(t, filepath.Join(dir, "kubernetes-job.yaml"))
		var job map[string]any
		for _, d := range docs {
			if get(t, d, "apiVersion") == nil || get(t, d, "metadata", "name") == nil {
				t.Errorf("document without apiVersion or name: %v", d)
			}
			if d["kind"] == "Job" {
				job = d
			}
		}
		if job == nil {
			t.Fatal("no Job")
		}
		if get(t, job, "apiVersion") != "batch/v1" || get(t, job, "spec", "completionMode") != "Indexed" {
			t.Errorf("want an Indexed batch/v1 Job")
		}
		n := get(t, job, "spec", "completions").(int)
		if p := get(t, job, "spec", "parallelism").(int); p != n {
			t.Errorf("parallelism %d, completions %d: the shards run side by side", p, n)
		}
		c := get(t, job, "spec", "template", "spec", "containers", 0)
		var scripts []string
		scalars(get(t, c, "args"), &scripts)
		if !strings.Contains(strings.Join(scripts, " "), "JOB_COMPLETION_INDEX") {
			t.Error("the shard is not chosen by $JOB_COMPLETION_INDEX")
		}
		problems, runs, _, ns := checkCommands(scripts, nil)
		for _, p := range problems {
			t.Error(p)
		}
		if runs != 1 || !ns[n] || len(ns) != 1 {
			t.Errorf("%d matrix runs with shards of %v, want one with --shard I/%d", runs, ns, n)
		}
		// Results go to a mounted volume that every pod shares.
		mounts := map[string]bool{}
		for _, m := range get(t, c, "volumeMounts").([]any) {
			mounts[toString(get(t, m, "mountPath"))] = true
		}
		if !mounts["/results"] || !mounts["/config"] {
			t.Errorf("mounts %v, want /results and /config", mounts)
		}
		// The merge is in the comments (there is no Job that waits for
		// another): it must parse too.
		data, err := os.ReadFile(filepath.Join(dir, "kubernetes-job.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var comments []string
		for _, l := range strings.Split(string(data), "\n") {
			if c, ok := strings.CutPrefix(strings.TrimSpace(l), "#"); ok {
				comments = append(comments, strings.TrimSpace(c))
			}
		}
		problems, _, merges, _ := checkCommands([]string{strings.Join(comments, "\n")}, nil)
		for _, p := range problems {
			t.Error(p)
		}
		if merges != 1 {
			t.Errorf("the comments show %d scxvm report merge commands, want 1", merges)
		}
	})
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return strconv.Itoa(v.(int))
}

// TestCICommandsCatch checks the command check itself: a flag that does
// not exist and a bad shard fail it.
func TestCICommandsCatch(t *testing.T) {
	for _, script := range []string{
		"scxvm matrix --shard 1/4 --json a.json --frobnicate matrix.yaml",
		"scxvm matrix --shard 5/4 --json a.json matrix.yaml",
		"scxvm report merge --jnuit x.xml a.json",
		"scxvm matrix --shard ${{ matrix.shard }}/4 \\\n  --junit a.xml matrix.yaml", // no --json
	} {
		errs, _, _, _ := checkCommands([]string{script}, nil)
		if len(errs) == 0 {
			t.Errorf("%q passes the check", script)
		}
	}
}
