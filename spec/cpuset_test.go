package spec

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestParseCPUSet(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		str  string
	}{
		{"", nil, ""},
		{"\n", nil, ""},
		{"0", []int{0}, "0"},
		{"0-3,5", []int{0, 1, 2, 3, 5}, "0-3,5"},
		{"5,0-3\n", []int{0, 1, 2, 3, 5}, "0-3,5"},
		{"1,1,2", []int{1, 2}, "1-2"},
		{" 0 - 1 , 3 ", []int{0, 1, 3}, "0-1,3"},
		{"0-8:2", []int{0, 2, 4, 6, 8}, "0,2,4,6,8"},
		{"7-7", []int{7}, "7"},
		{"0-2,3-5,9,10", []int{0, 1, 2, 3, 4, 5, 9, 10}, "0-5,9-10"},
	}
	for _, tt := range tests {
		s, err := ParseCPUSet(tt.in)
		if err != nil {
			t.Errorf("ParseCPUSet(%q): %v", tt.in, err)
			continue
		}
		if got := s.Slice(); !slices.Equal(got, tt.want) {
			t.Errorf("ParseCPUSet(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got := s.String(); got != tt.str {
			t.Errorf("ParseCPUSet(%q).String() = %q, want %q", tt.in, got, tt.str)
		}
		if s.Len() != len(tt.want) {
			t.Errorf("ParseCPUSet(%q).Len() = %d, want %d", tt.in, s.Len(), len(tt.want))
		}
	}
}

func TestParseCPUSetErrors(t *testing.T) {
	for _, in := range []string{",", "0,,1", "a", "-1", "3-1", "0-", "-", "1-2-3", "0-4:0", "0-4:x", "99999999", "0-70000"} {
		if s, err := ParseCPUSet(in); err == nil {
			t.Errorf("ParseCPUSet(%q) = %v, want error", in, s)
		}
	}
}

func TestCPUSetOps(t *testing.T) {
	a := MustParseCPUSet("0-3,8")
	b := MustParseCPUSet("2-5")
	if got := a.Union(b).String(); got != "0-5,8" {
		t.Errorf("Union = %q", got)
	}
	if got := a.Intersect(b).String(); got != "2-3" {
		t.Errorf("Intersect = %q", got)
	}
	if got := a.Difference(b).String(); got != "0-1,8" {
		t.Errorf("Difference = %q", got)
	}
	if !a.Contains(8) || a.Contains(4) || a.Contains(-1) {
		t.Errorf("Contains wrong for %v", a)
	}
	if !a.ContainsAll(MustParseCPUSet("1,8")) || a.ContainsAll(b) {
		t.Error("ContainsAll wrong")
	}
	if (CPUSet{}).Union(CPUSet{}).Len() != 0 || !(CPUSet{}).IsEmpty() || (CPUSet{}).First() != -1 {
		t.Error("empty set ops wrong")
	}
	s := a.Slice()
	s[0] = 99
	if a.First() != 0 {
		t.Error("Slice aliases the set")
	}
	if !NewCPUSet(3, 1, 2, 1).Equal(RangeCPUSet(1, 4)) {
		t.Error("NewCPUSet/RangeCPUSet disagree")
	}
}

func TestCPUSetJSON(t *testing.T) {
	in := struct{ S CPUSet }{MustParseCPUSet("0-2,7")}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"S":"0-2,7"}` {
		t.Fatalf("marshal = %s", b)
	}
	var out struct{ S CPUSet }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.S.Equal(in.S) {
		t.Fatalf("round trip = %v", out.S)
	}
	if err := json.Unmarshal([]byte(`{"S":"x"}`), &out); err == nil {
		t.Fatal("bad list accepted")
	}
}

func FuzzParseCPUSet(f *testing.F) {
	for _, s := range []string{"0-3,5", "", "0-8:2", "1,1", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCPUSet(s)
		if err != nil {
			return
		}
		again, err := ParseCPUSet(set.String())
		if err != nil || !again.Equal(set) {
			t.Fatalf("%q -> %q does not round trip: %v", s, set.String(), err)
		}
	})
}
