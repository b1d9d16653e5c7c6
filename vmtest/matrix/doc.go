// Package matrix runs schedulers × scenarios on one or more kernels and
// reports every cell as a pass or as an attributed failure a kernel
// developer can act on: the verifier's message for a rejected program,
// the kernel's reason line for an ejection, the missing kernel feature,
// the loader's last lines for a load failure.
//
// A matrix is the cross product of kernels, topology presets, scenarios
// and schedulers: a Spec, read from a matrix file (LoadSpec: YAML or
// JSON, strict, errors with file:line:field) or built from flags, and
// expanded into a Plan of Cells. `scxvm matrix` is a thin CLI over this
// package; TestMatrix (`make test-matrix`) is another user.
//
// # Usage
//
//	s, err := matrix.LoadSpec("matrix.yaml") // or &matrix.Spec{Kernels: ..., Schedulers: ...}
//	plan, err := s.Plan(cacheDir)
//	rep, err := matrix.RunPlan(ctx, plan, matrix.Selection{Shard: matrix.Shard{I: 2, N: 4}}, matrix.Config{
//		Base: vmtest.Config{Agent: agent}, // accel, cache dir, logging...
//		Jobs: 2,
//	})
//	rep.WriteTable(os.Stdout)
//	rep.WriteJSON("shard-2.json") // matrix.Merge of all shards = the whole plan's report
//	matrix.WriteFile("shard-2.xml", rep.WriteJUnit)
//
// # Boots and jobs
//
// Run boots each kernel and topology once and runs all of its cells in
// that boot, one job per (scheduler, scenario) (spec.Scenario.Scheduler
// selects a scenario's scheduler), each loading its scheduler afresh and
// unloading it at its end (vmtest.Config.RestartScheduler). Cells are
// ordered scenario-major, so consecutive jobs run different schedulers
// and an event the agent reports late still names the scheduler it
// belongs to. When a cell loses the guest (a panic, a hang), the cells
// after it run in a fresh boot; a boot that runs no cell at all ends its
// remaining cells with its failure. Config.Jobs boots run at once (when
// there are fewer boot keys than jobs, the largest groups of cells are
// split, a boot more for each, so that every job has a boot), each
// admitted when the host (Host, probed from the cpus this process may use
// and MemAvailable) has room for it: its guest memory plus QEMU's own,
// and one host cpu under TCG (single-threaded) or one per vcpu otherwise.
//
// # Topologies
//
// Cell.Topology is a preset named as spec.ParseTopology reads it,
// "NnLlCcTt". ExpandTopologies knows two sets: PresetsTCG, the default
// (1n1l2c1t, 1n1l1c2t, 2n1l1c1t, 1n2l1c2t: flat, SMT, NUMA and split-LLC
// machines of 2-4 cpus, which TCG runs on a small host), and PresetsKVM
// (1n1l8c2t, 1n4l4c1t, 2n2l4c2t, 4n2l4c2t: 16-64 cpus).
//
// # Shards, budgets, merges
//
// Plan.Shard deals the plan's cells to N shards by estimated cost, most
// expensive first to the shard that ends earliest with it (a shard's
// first cell of a boot key counts the boot): the same plan and estimates
// give the same shards on every machine, so a CI engine's job matrix,
// a Kubernetes Indexed Job or xargs can run `scxvm matrix --shard I/N` on
// each worker. Estimates come from earlier reports (NewEstimates), else
// the scenario's duration plus DefaultCellOverhead and DefaultBootCost.
// Plan.Budget picks cells that fit in a wall-time budget greedily for
// coverage: every scheduler and scenario first, then every kernel and
// topology, then the rest. Every report carries its plan's ID and size,
// and Merge combines the shards' reports into the report an unsharded
// run would give (the cells in plan order), refusing reports of another
// plan, a shard twice or, unless partial, missing shards.
//
// # Results for CI engines
//
// Report.WriteJUnit writes a testcase per cell (class kernel/scheduler,
// the reason as the failure's message, the evidence as system-out);
// Report.WriteKTAP writes KTAP version 1; Outcome.Class groups outcomes
// into pass, fail, skip, error and not run, which `scxvm matrix` maps to
// its exit code.
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
// AllCells (and so the Examples entry of a Spec) applies.
//
// The scheduler matrix is TestMatrix (matrix_test.go); it boots guests only
// when SCXVM_MATRIX=1 (`make test`, `make test-matrix`), on the kernels
// in $SCXVM_MATRIX_KERNELS (default debian,6.12), and writes its JSON to
// $SCXVM_MATRIX_JSON when set.
package matrix
