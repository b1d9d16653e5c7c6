package matrix

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// ReadReport reads a report written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read matrix report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read matrix report %s: %w", path, err)
	}
	if r.Cells == nil && r.Boots == nil {
		return nil, fmt.Errorf("read matrix report %s: no cells and no boots: not a result of `scxvm matrix --json`", path)
	}
	return &r, nil
}

// Merge combines the reports of a plan's shards into the report of the
// whole plan: the cells of all, in plan order, each once, with the boots
// of all. It refuses reports of different plans, a shard given twice, a
// cell in two reports and, unless partial, a plan whose cells are not all
// there (naming the shards missing). Wall is the longest shard's: shards
// run side by side.
func Merge(partial bool, reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("merge: no reports")
	}
	out := &Report{Plan: reports[0].Plan, PlanCells: reports[0].PlanCells}
	n := 0
	have := map[int]bool{}
	seen := map[string]int{}
	for i, r := range reports {
		if r.Plan != out.Plan || r.PlanCells != out.PlanCells {
			return nil, fmt.Errorf("merge: report %d is of plan %s (%d cells), report 1 of plan %s (%d cells): shards of one matrix run the same matrix file and flags on every machine", i+1, r.Plan, r.PlanCells, out.Plan, out.PlanCells)
		}
		shards := append(slices.Clone(r.Shards), r.Shard)
		for _, s := range shards {
			if s == "" {
				continue
			}
			sh, err := ParseShard(s)
			if err != nil {
				return nil, fmt.Errorf("merge: report %d: %w", i+1, err)
			}
			if n != 0 && sh.N != n {
				return nil, fmt.Errorf("merge: report %d is shard %s, others of %d shards", i+1, s, n)
			}
			n = sh.N
			if have[sh.I] {
				return nil, fmt.Errorf("merge: shard %s given twice", s)
			}
			have[sh.I] = true
			out.Shards = append(out.Shards, s)
		}
		off := len(out.Boots)
		out.Boots = append(out.Boots, r.Boots...)
		for _, c := range r.Cells {
			if j, dup := seen[c.Key()]; dup {
				return nil, fmt.Errorf("merge: cell %s is in report %d and report %d", c.Key(), j, i+1)
			}
			seen[c.Key()] = i + 1
			if c.Boot >= 0 {
				c.Boot += off
			}
			out.Cells = append(out.Cells, c)
		}
		out.Wall = max(out.Wall, r.Wall)
	}
	out.sortByIndex()
	slices.SortFunc(out.Shards, func(a, b string) int {
		x, _ := ParseShard(a)
		y, _ := ParseShard(b)
		return x.I - y.I
	})
	if !partial && out.PlanCells > 0 && len(out.Cells) != out.PlanCells {
		var missing []string
		for i := 1; i <= n; i++ {
			if !have[i] {
				missing = append(missing, Shard{I: i, N: n}.String())
			}
		}
		return out, fmt.Errorf("merge: %d of the plan's %d cells (shards missing: %s)", len(out.Cells), out.PlanCells, strings.Join(missing, ", "))
	}
	if n > 0 && len(have) == n {
		out.Shards = nil // the whole plan
	}
	return out, nil
}
