package vmtest

import (
	"testing"

	"github.com/scxvm/scxvm/spec"
)

// TestCatalogueCoversAddedKinds checks that every work kind ktstr 0.5.2
// added runs in some built-in scenario.
func TestCatalogueCoversAddedKinds(t *testing.T) {
	used := map[spec.WorkKind]bool{}
	for _, s := range Scenarios() {
		for _, cg := range s.Cgroups {
			for _, w := range cg.Workloads {
				used[w.WorkType.WithDefaults().Kind] = true
			}
		}
	}
	for _, k := range []spec.WorkKind{
		spec.IoSyncWrite, spec.IoRandRead, spec.IoConvoy, spec.AluHot, spec.SmtSiblingSpin, spec.IpcVariance,
		spec.IdleChurn, spec.NumaMigrationChurn, spec.CgroupChurn, spec.AsymmetricWaker, spec.WakeChain,
		spec.EpollStorm, spec.ThunderingHerd, spec.NumaWorkingSetSweep, spec.PriorityInversion,
		spec.ProducerConsumerImbalance, spec.SignalStorm, spec.PreemptStorm, spec.RtStarvation,
	} {
		if !used[k] {
			t.Errorf("no built-in scenario runs %s", k)
		}
	}
}
