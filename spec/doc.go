// Package spec defines what a scxvm test is and what it measures, once,
// for the host, the guest agent and the CLI alike: a Scenario (cgroups
// with cpusets, workloads and their work types, timed steps, payload
// commands, the checks' thresholds), the Scheduler under test as a user
// names it, the guest Topology and CPUSet lists, and the WorkerReport a
// worker sends back. Each type carries its defaults (WithDefaults, RunTime,
// JobTimeout, ...) and its validation (Validate), which returns a
// *ValidationError naming the field and the allowed values.
//
// The package makes no OS calls and starts nothing: the host validates a
// whole scenario with it before it boots anything, and the guest runs the
// same validation as a guard.
package spec
