package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// printDegraded lists, per scenario, what workers could not do as their
// work kind asks (WorkerReport.Degraded), one line per distinct reason.
func printDegraded(w io.Writer, res *vmtest.Result) {
	header := false
	for _, s := range res.Scenarios {
		type reason struct {
			kinds   []spec.WorkKind
			workers int
		}
		reasons := map[string]*reason{}
		var order []string
		for _, wr := range s.Workers {
			msg := wr.Report.Degraded
			if msg == "" {
				continue
			}
			r, ok := reasons[msg]
			if !ok {
				r = &reason{}
				reasons[msg] = r
				order = append(order, msg)
			}
			r.workers++
			if !slices.Contains(r.kinds, wr.Kind) {
				r.kinds = append(r.kinds, wr.Kind)
			}
		}
		for _, msg := range order {
			if !header {
				fmt.Fprintln(w, "\ndegraded (workers that could not run as their kind asks):")
				header = true
			}
			r := reasons[msg]
			kinds := make([]string, len(r.kinds))
			for i, k := range r.kinds {
				kinds[i] = string(k)
			}
			noun := "workers"
			if r.workers == 1 {
				noun = "worker"
			}
			fmt.Fprintf(w, "  %s/%s: %d %s (%s): %s\n", s.Name, s.Scheduler, r.workers, noun, strings.Join(kinds, ", "), msg)
		}
	}
}
