package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// CPUSet is an immutable sorted set of cpu numbers. The zero CPUSet is
// empty and ready to use.
type CPUSet struct {
	cpus []int // sorted, unique, non-negative
}

// NewCPUSet returns the set of the given cpus; duplicates are dropped.
// It panics on a negative cpu number, which is a programming error.
func NewCPUSet(cpus ...int) CPUSet {
	s := slices.Clone(cpus)
	for _, c := range s {
		if c < 0 {
			panic(fmt.Sprintf("topology: negative cpu %d", c))
		}
	}
	slices.Sort(s)
	return CPUSet{cpus: slices.Compact(s)}
}

// RangeCPUSet returns the set {from, ..., to-1}.
func RangeCPUSet(from, to int) CPUSet {
	var s []int
	for c := max(from, 0); c < to; c++ {
		s = append(s, c)
	}
	return CPUSet{cpus: s}
}

// maxListCPU bounds the cpu numbers ParseCPUSet accepts, so that a hostile
// "0-2000000000" cannot allocate gigabytes. The kernel's NR_CPUS maximum is
// 8192.
const maxListCPU = 1 << 16

// ParseCPUSet parses the kernel's cpu list syntax: comma-separated cpus and
// inclusive ranges, such as "0-3,5,8-11". Blanks around items and a
// trailing newline are ignored; the empty string is the empty set. Ranges
// may carry a stride as in cpuset(7): "0-8:2" is 0,2,4,6,8.
func ParseCPUSet(s string) (CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return CPUSet{}, nil
	}
	var cpus []int
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, stride, err := parseItem(item)
		if err != nil {
			return CPUSet{}, fmt.Errorf("parse cpu list %q: %w", s, err)
		}
		for c := lo; c <= hi; c += stride {
			cpus = append(cpus, c)
		}
	}
	return NewCPUSet(cpus...), nil
}

func parseItem(item string) (lo, hi, stride int, err error) {
	if item == "" {
		return 0, 0, 0, fmt.Errorf("empty item")
	}
	stride = 1
	if r, st, ok := strings.Cut(item, ":"); ok {
		item = r
		stride, err = strconv.Atoi(st)
		if err != nil || stride < 1 {
			return 0, 0, 0, fmt.Errorf("bad stride %q in %q", st, item)
		}
	}
	a, b, isRange := strings.Cut(item, "-")
	lo, err = parseCPU(a)
	if err != nil {
		return 0, 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parseCPU(b); err != nil {
			return 0, 0, 0, err
		}
		if hi < lo {
			return 0, 0, 0, fmt.Errorf("range %q runs backwards", item)
		}
	}
	return lo, hi, stride, nil
}

func parseCPU(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad cpu number %q", s)
	}
	if n >= maxListCPU {
		return 0, fmt.Errorf("cpu %d out of range (max %d)", n, maxListCPU-1)
	}
	return n, nil
}

// MustParseCPUSet is ParseCPUSet for constants; it panics on a bad list.
func MustParseCPUSet(s string) CPUSet {
	set, err := ParseCPUSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

// String formats the set in the kernel's list syntax with ranges, such as
// "0-3,5"; the empty set is "". The result can be written to cpuset.cpus.
func (s CPUSet) String() string {
	var b strings.Builder
	for i := 0; i < len(s.cpus); {
		j := i
		for j+1 < len(s.cpus) && s.cpus[j+1] == s.cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s.cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s.cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Len returns the number of cpus in the set.
func (s CPUSet) Len() int { return len(s.cpus) }

// IsEmpty reports whether the set has no cpu.
func (s CPUSet) IsEmpty() bool { return len(s.cpus) == 0 }

// Slice returns the cpus in increasing order, as a new slice.
func (s CPUSet) Slice() []int { return slices.Clone(s.cpus) }

// Contains reports whether cpu is in the set.
func (s CPUSet) Contains(cpu int) bool {
	_, ok := slices.BinarySearch(s.cpus, cpu)
	return ok
}

// ContainsAll reports whether every cpu of o is in s.
func (s CPUSet) ContainsAll(o CPUSet) bool {
	return o.Difference(s).IsEmpty()
}

// Equal reports whether s and o hold the same cpus.
func (s CPUSet) Equal(o CPUSet) bool { return slices.Equal(s.cpus, o.cpus) }

// Union returns the cpus in s or o.
func (s CPUSet) Union(o CPUSet) CPUSet {
	out := make([]int, 0, len(s.cpus)+len(o.cpus))
	i, j := 0, 0
	for i < len(s.cpus) || j < len(o.cpus) {
		switch {
		case j == len(o.cpus) || (i < len(s.cpus) && s.cpus[i] < o.cpus[j]):
			out = append(out, s.cpus[i])
			i++
		case i == len(s.cpus) || o.cpus[j] < s.cpus[i]:
			out = append(out, o.cpus[j])
			j++
		default:
			out = append(out, s.cpus[i])
			i++
			j++
		}
	}
	return CPUSet{cpus: out}
}

// Intersect returns the cpus in both s and o.
func (s CPUSet) Intersect(o CPUSet) CPUSet {
	var out []int
	for _, c := range s.cpus {
		if o.Contains(c) {
			out = append(out, c)
		}
	}
	return CPUSet{cpus: out}
}

// Difference returns the cpus in s that are not in o.
func (s CPUSet) Difference(o CPUSet) CPUSet {
	var out []int
	for _, c := range s.cpus {
		if !o.Contains(c) {
			out = append(out, c)
		}
	}
	return CPUSet{cpus: out}
}

// First returns the lowest cpu of the set, or -1 when it is empty.
func (s CPUSet) First() int {
	if len(s.cpus) == 0 {
		return -1
	}
	return s.cpus[0]
}

// MarshalText implements encoding.TextMarshaler with the list syntax, so a
// CPUSet reads naturally in JSON and YAML.
func (s CPUSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseCPUSet.
func (s *CPUSet) UnmarshalText(b []byte) error {
	set, err := ParseCPUSet(string(b))
	if err != nil {
		return err
	}
	*s = set
	return nil
}
