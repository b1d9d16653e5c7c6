package topology

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/scxvm/scxvm/spec"
)

func TestRead(t *testing.T) {
	tests := []struct {
		root        string
		online      string
		possible    string
		llcs        [][]int
		nodes       map[int]string
		threads     int
		cpu         CPU // one cpu checked in full
		usable      string
		llcAligned3 string
	}{
		{
			root: "testdata/laptop", online: "0-7", possible: "0-7",
			llcs:    [][]int{{0, 1, 2, 3, 4, 5, 6, 7}},
			nodes:   map[int]string{0: "0-7"},
			threads: 2,
			cpu:     CPU{ID: 5, Core: 1, Package: 0, LLC: 0, Node: 0, Siblings: spec.MustParseCPUSet("1,5")},
			usable:  "1-7", llcAligned3: "0-2",
		},
		{
			root: "testdata/numa2", online: "0-7", possible: "0-9",
			llcs:    [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}},
			nodes:   map[int]string{0: "0-3", 1: "4-7"},
			threads: 1,
			cpu:     CPU{ID: 6, Core: 2, Package: 1, LLC: 1, Node: 1, Siblings: spec.MustParseCPUSet("6")},
			usable:  "1-7", llcAligned3: "0-2",
		},
		{
			root: "testdata/smt2llc", online: "0-15", possible: "0-15",
			llcs:    [][]int{{0, 1, 2, 3, 8, 9, 10, 11}, {4, 5, 6, 7, 12, 13, 14, 15}},
			nodes:   map[int]string{0: "0-15"},
			threads: 2,
			cpu:     CPU{ID: 12, Core: 4, Package: 0, LLC: 1, Node: 0, Siblings: spec.MustParseCPUSet("4,12")},
			usable:  "1-15", llcAligned3: "0-2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			topo, err := Read(tt.root)
			if err != nil {
				t.Fatal(err)
			}
			if got := topo.Online.String(); got != tt.online {
				t.Errorf("Online = %q, want %q", got, tt.online)
			}
			if got := topo.Possible.String(); got != tt.possible {
				t.Errorf("Possible = %q, want %q", got, tt.possible)
			}
			if got := topo.LLCs(); !slices.EqualFunc(got, tt.llcs, slices.Equal) {
				t.Errorf("LLCs = %v, want %v", got, tt.llcs)
			}
			for i, want := range tt.llcs {
				if got := topo.CPUsInLLC(i).Slice(); !slices.Equal(got, want) {
					t.Errorf("CPUsInLLC(%d) = %v, want %v", i, got, want)
				}
			}
			if !topo.CPUsInLLC(len(tt.llcs)).IsEmpty() {
				t.Error("CPUsInLLC out of range is not empty")
			}
			if len(topo.Nodes()) != len(tt.nodes) {
				t.Errorf("Nodes = %v, want %d nodes", topo.Nodes(), len(tt.nodes))
			}
			for n, want := range tt.nodes {
				if got := topo.NodeCPUs(n).String(); got != want {
					t.Errorf("NodeCPUs(%d) = %q, want %q", n, got, want)
				}
			}
			if got := topo.ThreadsPerCore(); got != tt.threads {
				t.Errorf("ThreadsPerCore = %d, want %d", got, tt.threads)
			}
			c, ok := topo.CPU(tt.cpu.ID)
			if !ok {
				t.Fatalf("CPU(%d) missing", tt.cpu.ID)
			}
			if fmt.Sprint(c) != fmt.Sprint(tt.cpu) {
				t.Errorf("CPU(%d) = %+v, want %+v", tt.cpu.ID, c, tt.cpu)
			}
			if got := topo.Usable().String(); got != tt.usable {
				t.Errorf("Usable = %q, want %q", got, tt.usable)
			}
			if s, err := topo.LLCAligned(3); err != nil || s.String() != tt.llcAligned3 {
				t.Errorf("LLCAligned(3) = %v, %v; want %s", s, err, tt.llcAligned3)
			}
			for _, c := range topo.CPUs {
				if !topo.CPUsInLLC(c.LLC).Contains(c.ID) || !topo.NodeCPUs(c.Node).Contains(c.ID) || !c.Siblings.Contains(c.ID) {
					t.Errorf("cpu %+v inconsistent with its LLC, node or siblings", c)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	if _, err := Read(t.TempDir()); err == nil {
		t.Error("Read of an empty dir succeeded")
	}
	dir := t.TempDir()
	cpuDir := dir + "/sys/devices/system/cpu"
	if err := os.MkdirAll(cpuDir+"/cpu0/topology", 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(cpuDir+"/"+name, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("online", "0\n")
	write("cpu0/topology/core_id", "zero\n")
	write("cpu0/topology/physical_package_id", "0\n")
	if _, err := Read(dir); err == nil {
		t.Error("Read with a bad core_id succeeded")
	}
	write("cpu0/topology/core_id", "0\n")
	topo, err := Read(dir)
	if err != nil {
		t.Fatalf("minimal tree: %v", err)
	}
	// Minimal tree: no possible, no siblings, no cache, no node dir.
	if topo.Possible.String() != "0" || topo.NumLLCs() != 1 || topo.Usable().String() != "0" || topo.CPUs[0].Siblings.String() != "0" {
		t.Errorf("minimal tree read as %+v", topo)
	}
}

func TestSynthetic(t *testing.T) {
	topo := Synthetic(2, 2, 2, 2) // 16 cpus
	if topo.NumCPUs() != 16 || topo.NumLLCs() != 4 || len(topo.Nodes()) != 2 || topo.ThreadsPerCore() != 2 {
		t.Fatalf("shape: cpus %d llcs %d nodes %v threads %d", topo.NumCPUs(), topo.NumLLCs(), topo.Nodes(), topo.ThreadsPerCore())
	}
	if got := topo.CPUsInLLC(2).String(); got != "8-11" {
		t.Errorf("LLC 2 = %q, want 8-11", got)
	}
	if got := topo.NodeCPUs(1).String(); got != "8-15" {
		t.Errorf("node 1 = %q, want 8-15", got)
	}
	c, _ := topo.CPU(13)
	want := CPU{ID: 13, Core: 2, Package: 1, LLC: 3, Node: 1, Siblings: spec.MustParseCPUSet("12-13")}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("CPU(13) = %+v, want %+v", c, want)
	}
	one := Synthetic(0, 0, 0, 0)
	if one.NumCPUs() != 1 || one.Usable().String() != "0" {
		t.Errorf("Synthetic(0,0,0,0) = %d cpus, usable %v", one.NumCPUs(), one.Usable())
	}
}

func TestAlignedAndSplit(t *testing.T) {
	topo := Synthetic(2, 2, 2, 1) // llcs 0-1 2-3 | 4-5 6-7; nodes 0-3 | 4-7
	sets := func(ss []spec.CPUSet) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.String())
		}
		return out
	}
	tests := []struct {
		name string
		got  func() (any, error)
		want any // nil: expect an error
	}{
		{"LLCAligned(1)", func() (any, error) { s, err := topo.LLCAligned(1); return s.String(), err }, "0"},
		{"LLCAligned(5)", func() (any, error) { s, err := topo.LLCAligned(5); return s.String(), err }, "0-4"},
		{"LLCAligned(8)", func() (any, error) { s, err := topo.LLCAligned(8); return s.String(), err }, "0-7"},
		{"LLCAligned(9)", func() (any, error) { s, err := topo.LLCAligned(9); return s.String(), err }, nil},
		{"LLCAligned(0)", func() (any, error) { s, err := topo.LLCAligned(0); return s.String(), err }, nil},
		{"NUMAAligned(4)", func() (any, error) { s, err := topo.NUMAAligned(4); return s.String(), err }, "0-3"},
		{"NUMAAligned(6)", func() (any, error) { s, err := topo.NUMAAligned(6); return s.String(), err }, "0-5"},
		{"SplitByLLC(1)", func() (any, error) { s, err := topo.SplitByLLC(1); return sets(s), err }, []string{"1-7"}},
		{"SplitByLLC(2)", func() (any, error) { s, err := topo.SplitByLLC(2); return sets(s), err }, []string{"1-3", "4-7"}},
		{"SplitByLLC(4)", func() (any, error) { s, err := topo.SplitByLLC(4); return sets(s), err }, []string{"1", "2-3", "4-5", "6-7"}},
		{"SplitByLLC(7)", func() (any, error) { s, err := topo.SplitByLLC(7); return sets(s), err }, []string{"1", "2", "3", "4", "5", "6", "7"}},
		{"SplitByLLC(8)", func() (any, error) { s, err := topo.SplitByLLC(8); return sets(s), err }, nil},
		{"SplitByLLC(0)", func() (any, error) { s, err := topo.SplitByLLC(0); return sets(s), err }, nil},
		{"Overlapping(2,1)", func() (any, error) { s, err := topo.Overlapping(2, 1); return sets(s), err }, []string{"1-4", "4-7"}},
		{"Overlapping(3,1)", func() (any, error) { s, err := topo.Overlapping(3, 1); return sets(s), err }, []string{"1-3", "3-5", "5-7"}},
		{"Overlapping(2,4)", func() (any, error) { s, err := topo.Overlapping(2, 4); return sets(s), err }, []string{"1-5", "2-6"}},
		{"Overlapping(2,0)", func() (any, error) { s, err := topo.Overlapping(2, 0); return sets(s), err }, []string{"1-3", "4-6"}},
		{"Overlapping(2,7)", func() (any, error) { s, err := topo.Overlapping(2, 7); return sets(s), err }, nil},
		{"Overlapping(0,0)", func() (any, error) { s, err := topo.Overlapping(0, 0); return sets(s), err }, nil},
	}
	for _, tt := range tests {
		got, err := tt.got()
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("%s = %v, want error", tt.name, got)
		case tt.want != nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != nil && fmt.Sprint(got) != fmt.Sprint(tt.want):
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}

	// Split with fewer LLCs than sets on an SMT machine: runs stay in LLC
	// order, so siblings on different LLC cpus never interleave.
	smt, err := Read("testdata/smt2llc")
	if err != nil {
		t.Fatal(err)
	}
	got, err := smt.SplitByLLC(2)
	if err != nil || fmt.Sprint(sets(got)) != "[1-3,8-11 4-7,12-15]" {
		t.Errorf("smt2llc SplitByLLC(2) = %v, %v", sets(got), err)
	}
	got, err = smt.SplitByLLC(3)
	if err != nil || fmt.Sprint(sets(got)) != "[1-3,8-9 4-6,10-11 7,12-15]" {
		t.Errorf("smt2llc SplitByLLC(3) = %v, %v", sets(got), err)
	}
}

// TestReadHost reads the running machine's /sys.
func TestReadHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("skipping: sysfs topology needs Linux")
	}
	topo, err := Read("/")
	if err != nil {
		t.Fatal(err)
	}
	if topo.NumCPUs() < 1 || topo.NumLLCs() < 1 || len(topo.Nodes()) < 1 {
		t.Fatalf("host topology: %d cpus, %d LLCs, nodes %v", topo.NumCPUs(), topo.NumLLCs(), topo.Nodes())
	}
	if topo.NumCPUs() != topo.Online.Len() {
		t.Errorf("%d CPUs for online %v", topo.NumCPUs(), topo.Online)
	}
	// Every online cpu appears in exactly one LLC and one node.
	var llcs, nodes spec.CPUSet
	total := 0
	for i := range topo.NumLLCs() {
		llcs = llcs.Union(topo.CPUsInLLC(i))
		total += topo.CPUsInLLC(i).Len()
	}
	for _, n := range topo.Nodes() {
		nodes = nodes.Union(topo.NodeCPUs(n))
	}
	if !llcs.Equal(topo.Online) || total != topo.Online.Len() || !nodes.Equal(topo.Online) {
		t.Errorf("LLCs %v / nodes %v do not partition online %v", topo.LLCs(), nodes, topo.Online)
	}
	t.Logf("host: online %v, LLCs %v, nodes %v, %d threads/core", topo.Online, topo.LLCs(), topo.Nodes(), topo.ThreadsPerCore())
}
