package scenario

import (
	"fmt"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/workload"
)

// churnSuffix names the sibling cgroups of a CgroupChurn workload:
// cgroup "a" gets "a~churn1", "a~churn2", ... next to it, with a's cpuset
// at the time they are created. They are removed with the scenario's
// cgroups.
const churnSuffix = "~churn"

// churnCgroups creates the sibling cgroups a CgroupChurn workload in
// cgroup name moves through (once per cgroup and sibling, shared by its
// workloads) and returns the spawn option that hands them to the workers;
// nil for other kinds.
func (r *runner) churnCgroups(name string, wc spec.WorkloadConfig) ([]workload.SpawnOption, error) {
	t := wc.WorkType.WithDefaults()
	if t.Kind != spec.CgroupChurn {
		return nil, nil
	}
	dirs := []string{r.mgr.Path(name)}
	for i := 1; i <= t.Groups; i++ {
		sib := fmt.Sprintf("%s%s%d", name, churnSuffix, i)
		if _, ok := r.cpus[sib]; !ok {
			if err := r.addCgroup(sib, r.cpus[name]); err != nil {
				return nil, fmt.Errorf("sibling cgroup for CgroupChurn: %w", err)
			}
		}
		dirs = append(dirs, r.mgr.Path(sib))
	}
	return []workload.SpawnOption{workload.ChurnCgroups(dirs...)}, nil
}
