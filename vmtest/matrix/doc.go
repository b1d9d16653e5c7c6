// Package matrix runs schedulers × scenarios on one or more kernels and
// reports every cell as a pass or as an attributed failure a kernel
// developer can act on: the verifier's message for a rejected program,
// the kernel's reason line for an ejection, the missing kernel feature,
// the loader's last lines for a load failure.
//
// # Usage
//
//	cells, err := matrix.AllCells(cacheDir, []string{"debian", "6.12"}, []string{"steady", "pingpong"})
//	if err != nil { ... }
//	rep, err := matrix.Run(ctx, matrix.Config{
//		Cells: cells,
//		Base:  vmtest.Config{Agent: agent}, // accel, cache dir, logging...
//	})
//	rep.WriteTable(os.Stdout)
//	rep.WriteJSON("matrix.json")
//
// Run boots each kernel once and runs all of its cells in that boot, one
// job per (scheduler, scenario) (spec.Scenario.Scheduler selects a
// scenario's scheduler), each loading its scheduler afresh and unloading
// it at its end (vmtest.Config.RestartScheduler). Cells are ordered
// scenario-major, so consecutive jobs run different schedulers and an
// event the agent reports late still names the scheduler it belongs to.
// When a cell loses the guest (a panic, a hang), the
// cells after it run in a fresh boot; a boot that runs no cell at all
// ends the kernel's remaining cells with its failure.
//
// Boots start warm (vmtest's warm starts): a kernel's first boot saves the
// machine's snapshot unless one exists, and the next boots restore it.
// Cells with Cold set run in a cold boot of their own (vmtest.Config.Cold);
// Boot.Start and the table's START column say how each boot came up, so a
// matrix with cold cells shows both modes give the same verdicts.
//
// Each cell's Reason is built from the evidence: the verifier's message
// and source line (libbpf's PROG LOAD LOG), the kernel's "disabled (...)"
// line and the message after it, the loader's "EXIT:" line, a missing
// BTF type or member, or the failed checks.
//
// Defaults holds per-scheduler settings (arguments, attach timeout) that
// AllCells applies.
//
// The real matrix is TestMatrix (matrix_test.go); it boots guests only
// when SCXVM_MATRIX=1 (`make test`, `make test-matrix`), on the kernels
// in $SCXVM_MATRIX_KERNELS (default debian,6.12), and writes its JSON to
// $SCXVM_MATRIX_JSON when set.
package matrix
