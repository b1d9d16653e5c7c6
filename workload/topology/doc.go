// Package topology describes the cpus of a machine: which are online, how
// they group into SMT cores, last-level caches (LLCs), packages and NUMA
// nodes, and helpers that carve cpusets out of that layout for scenarios.
//
// A Topology comes either from sysfs, with Read (root "/" for the running
// system; tests pass a directory that mirrors /sys), or from Synthetic,
// which lays out the same shape the host asks QEMU for, so that scenarios
// can be planned on the host before the guest boots.
//
//	topo, err := topology.Read("/")
//	if err != nil { ... }
//	sets, err := topo.SplitByLLC(2) // two disjoint cpusets, whole LLCs each
//	fmt.Println(sets[0])            // "1-3"
//
// CPUSet is a sorted set of cpu numbers that parses and formats the kernel's
// list syntax ("0-3,5"), as found in cpuset.cpus and sysfs cpu lists.
//
// Usable reserves cpu 0 (when there is more than one cpu), like the
// reference harness: the agent, the scheduler's loader and the kernel's
// housekeeping stay on cpu 0 while workers use the rest.
//
// The package reads no environment variables.
package topology
