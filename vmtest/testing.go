package vmtest

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// RunT runs cfg like Run and fails t with an attributed message when the
// run does not pass: the failure kind and message, the failed checks, the
// scheduler's log or the kernel's reason lines, and the console's last
// lines. It logs through t when cfg.Logf is nil and returns the Result for
// further assertions (nil only when nothing ran).
func RunT(t testing.TB, cfg Config) *Result {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ctx := context.Background()
	if tc, ok := t.(interface{ Context() context.Context }); ok {
		ctx = tc.Context()
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(Explain(res, err))
	}
	return res
}

// Explain formats a run's error with everything that attributes it: the
// failure and its detail, each scenario's failed checks, and the console
// excerpt with the console log's path.
func Explain(res *Result, err error) string {
	var b strings.Builder
	b.WriteString(err.Error())
	var f *Failure
	if errors.As(err, &f) {
		for _, d := range f.Detail {
			b.WriteString("\n    " + d)
		}
	}
	if res == nil {
		return b.String()
	}
	for _, s := range res.Scenarios {
		for _, c := range s.Failures {
			b.WriteString("\n  " + s.Name + "/" + s.Scheduler + ": " + s.FailureText(c))
		}
	}
	if len(res.ConsoleExcerpt) > 0 {
		b.WriteString("\n  console (last lines):")
		for _, l := range res.ConsoleExcerpt {
			b.WriteString("\n    | " + l)
		}
	}
	if res.ConsoleLog != "" {
		b.WriteString("\n  console log: " + res.ConsoleLog)
	}
	return b.String()
}
