package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/scxvm/scxvm/spec"
)

// CPU is one online cpu and where it sits.
type CPU struct {
	// ID is the kernel's cpu number.
	ID int
	// Core is the core id within the package (topology/core_id).
	Core int
	// Package is the physical package (socket) id.
	Package int
	// LLC indexes Topology.LLCs(): the last-level cache this cpu shares.
	LLC int
	// Node is the NUMA node id (0 when the kernel has no NUMA).
	Node int
	// Siblings are the SMT siblings of this cpu, itself included.
	Siblings spec.CPUSet
}

// Topology is the cpu layout of a machine. Build one with Read or Synthetic;
// its methods do not modify it and are safe for concurrent use.
type Topology struct {
	// Online and Possible are the kernel's online and possible cpus.
	Online   spec.CPUSet
	Possible spec.CPUSet
	// CPUs holds the online cpus in increasing ID order.
	CPUs []CPU

	llcs  []spec.CPUSet       // index = CPU.LLC, ordered by lowest cpu
	nodes map[int]spec.CPUSet // NUMA node id -> online cpus
}

// Read reads the cpu topology below root, a directory that holds
// sys/devices/system/{cpu,node}: "/" for the running system.
//
// The LLC of a cpu is the highest-level cache (level 3 when present) in
// cpuN/cache/index*/ and its shared_cpu_list; without cache information the
// package stands in for the LLC. NUMA nodes come from node*/cpulist; without
// them every cpu is on node 0. Offline cpus are left out of CPUs.
func Read(root string) (*Topology, error) {
	cpuDir := filepath.Join(root, "sys/devices/system/cpu")
	online, err := readList(filepath.Join(cpuDir, "online"))
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	if online.IsEmpty() {
		return nil, fmt.Errorf("read topology: %s lists no cpu", filepath.Join(cpuDir, "online"))
	}
	possible, err := readList(filepath.Join(cpuDir, "possible"))
	if errors.Is(err, fs.ErrNotExist) {
		possible, err = online, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}

	nodeOf, err := readNodes(filepath.Join(root, "sys/devices/system/node"))
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}

	t := &Topology{Online: online, Possible: possible}
	llcKeys := map[string]spec.CPUSet{} // LLC cpu list -> set, to number LLCs after
	llcKeyOf := make([]string, 0, online.Len())
	for _, id := range online.Slice() {
		dir := filepath.Join(cpuDir, "cpu"+strconv.Itoa(id))
		c := CPU{ID: id, Node: nodeOf[id]}
		if c.Core, err = readInt(filepath.Join(dir, "topology/core_id")); err != nil {
			return nil, fmt.Errorf("read topology: cpu %d: %w", id, err)
		}
		if c.Package, err = readInt(filepath.Join(dir, "topology/physical_package_id")); err != nil {
			return nil, fmt.Errorf("read topology: cpu %d: %w", id, err)
		}
		c.Siblings, err = readList(filepath.Join(dir, "topology/thread_siblings_list"))
		if errors.Is(err, fs.ErrNotExist) {
			c.Siblings, err = readList(filepath.Join(dir, "topology/core_cpus_list"))
		}
		if errors.Is(err, fs.ErrNotExist) {
			c.Siblings, err = spec.NewCPUSet(id), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read topology: cpu %d: %w", id, err)
		}
		c.Siblings = c.Siblings.Intersect(online)

		llc, err := readLLC(dir)
		if err != nil {
			return nil, fmt.Errorf("read topology: cpu %d: %w", id, err)
		}
		key := llc.String()
		if llc.IsEmpty() {
			// No cache information: the package stands in for the LLC.
			key = "package " + strconv.Itoa(c.Package)
		}
		llcKeys[key] = llcKeys[key].Union(spec.NewCPUSet(id))
		llcKeyOf = append(llcKeyOf, key)
		t.CPUs = append(t.CPUs, c)
	}
	t.numberLLCs(llcKeys, llcKeyOf)
	t.collectNodes()
	return t, nil
}

// numberLLCs assigns LLC indices in order of each LLC's lowest online cpu.
func (t *Topology) numberLLCs(sets map[string]spec.CPUSet, keyOf []string) {
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return sets[a].First() - sets[b].First() })
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k] = i
		t.llcs = append(t.llcs, sets[k])
	}
	for i := range t.CPUs {
		t.CPUs[i].LLC = index[keyOf[i]]
	}
}

func (t *Topology) collectNodes() {
	t.nodes = map[int]spec.CPUSet{}
	for _, c := range t.CPUs {
		t.nodes[c.Node] = t.nodes[c.Node].Union(spec.NewCPUSet(c.ID))
	}
}

// readLLC returns the cpus sharing cpuDir's highest-level cache, or the
// empty set when cpuDir has no cache information.
func readLLC(cpuDir string) (spec.CPUSet, error) {
	indexes, err := filepath.Glob(filepath.Join(cpuDir, "cache/index*"))
	if err != nil {
		return spec.CPUSet{}, err
	}
	best, bestLevel := spec.CPUSet{}, -1
	for _, idx := range indexes {
		level, err := readInt(filepath.Join(idx, "level"))
		if err != nil {
			return spec.CPUSet{}, err
		}
		if level <= bestLevel {
			continue
		}
		if typ, err := readString(filepath.Join(idx, "type")); err == nil && typ == "Instruction" {
			continue
		}
		shared, err := readList(filepath.Join(idx, "shared_cpu_list"))
		if err != nil {
			return spec.CPUSet{}, err
		}
		best, bestLevel = shared, level
	}
	return best, nil
}

// readNodes maps each cpu to its NUMA node from nodeDir/node*/cpulist. A
// missing nodeDir (kernel without NUMA) maps nothing: every cpu is on 0.
func readNodes(nodeDir string) (map[int]int, error) {
	dirs, err := filepath.Glob(filepath.Join(nodeDir, "node[0-9]*"))
	if err != nil {
		return nil, err
	}
	nodeOf := map[int]int{}
	for _, d := range dirs {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "node"))
		if err != nil {
			continue
		}
		cpus, err := readList(filepath.Join(d, "cpulist"))
		if err != nil {
			return nil, err
		}
		for _, c := range cpus.Slice() {
			nodeOf[c] = n
		}
	}
	return nodeOf, nil
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readInt(path string) (int, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %q is not a number", path, s)
	}
	return n, nil
}

func readList(path string) (spec.CPUSet, error) {
	s, err := readString(path)
	if err != nil {
		return spec.CPUSet{}, err
	}
	set, err := spec.ParseCPUSet(s)
	if err != nil {
		return spec.CPUSet{}, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// Synthetic returns the topology of a machine with the given shape, with
// cpus numbered the way QEMU numbers them for -smp and -numa: node-major,
// then LLC, then core, with the SMT threads of a core adjacent. Each NUMA
// node is one package; core ids count from 0 within a package. Arguments
// below 1 count as 1.
func Synthetic(numaNodes, llcsPerNode, coresPerLLC, threadsPerCore int) *Topology {
	numaNodes, llcsPerNode = max(numaNodes, 1), max(llcsPerNode, 1)
	coresPerLLC, threadsPerCore = max(coresPerLLC, 1), max(threadsPerCore, 1)
	t := &Topology{}
	id := 0
	for n := range numaNodes {
		for l := range llcsPerNode {
			llc := n*llcsPerNode + l
			llcStart := id
			for c := range coresPerLLC {
				sib := spec.RangeCPUSet(id, id+threadsPerCore)
				for range threadsPerCore {
					t.CPUs = append(t.CPUs, CPU{
						ID: id, Core: l*coresPerLLC + c, Package: n,
						LLC: llc, Node: n, Siblings: sib,
					})
					id++
				}
			}
			t.llcs = append(t.llcs, spec.RangeCPUSet(llcStart, id))
		}
	}
	t.Online = spec.RangeCPUSet(0, id)
	t.Possible = t.Online
	t.collectNodes()
	return t
}
