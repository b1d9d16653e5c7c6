package kmsg

import (
	"os"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/ktext"
)

func TestTestdataSchedLines(t *testing.T) {
	want := map[string][]ktext.SchedKind{
		"stall.kmsg":  {ktext.Enabled, ktext.Disabled, ktext.Stall},
		"error.kmsg":  {ktext.Enabled, ktext.Disabled, ktext.Message},
		"sysrq.kmsg":  {ktext.Disabled},
		"normal.kmsg": {ktext.Enabled, ktext.Disabled},
	}
	for name, kinds := range want {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		recs, _ := readAll(t, strings.NewReader(string(b)))
		var got []ktext.SchedKind
		for _, r := range recs {
			if l, ok := ktext.ParseSchedExt(r.Text); ok {
				got = append(got, l.Kind)
			}
		}
		if len(got) != len(kinds) {
			t.Errorf("%s: kinds %v, want %v", name, got, kinds)
			continue
		}
		for i := range got {
			if got[i] != kinds[i] {
				t.Errorf("%s: kinds %v, want %v", name, got, kinds)
				break
			}
		}
	}
}
