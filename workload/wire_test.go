package workload

import (
	"reflect"
	"testing"

	"github.com/scxvm/scxvm/internal/testfill"
	"github.com/scxvm/scxvm/spec"
)

func TestWireReportRoundTrip(t *testing.T) {
	var r spec.WorkerReport
	testfill.Distinct(reflect.ValueOf(&r).Elem())
	got, err := decodeReport(appendReport(nil, &r))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}
	empty, err := decodeReport(appendReport(nil, &spec.WorkerReport{}))
	if err != nil || !reflect.DeepEqual(empty, spec.WorkerReport{}) {
		t.Errorf("zero report: %+v, %v", empty, err)
	}
}

func TestWireSpecRoundTrip(t *testing.T) {
	var s workerSpec
	testfill.Distinct(reflect.ValueOf(&s).Elem())
	got, err := decodeSpec(appendSpec(nil, &s))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

func TestWireTruncated(t *testing.T) {
	var r spec.WorkerReport
	testfill.Distinct(reflect.ValueOf(&r).Elem())
	b := appendReport(nil, &r)
	for i := range len(b) {
		if _, err := decodeReport(b[:i]); err == nil {
			t.Fatalf("decodeReport of %d/%d bytes: no error", i, len(b))
		}
	}
	if _, err := decodeReport(append(b, 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}

func FuzzDecodeReport(f *testing.F) {
	var r spec.WorkerReport
	testfill.Distinct(reflect.ValueOf(&r).Elem())
	f.Add(appendReport(nil, &r))
	f.Add(appendReport(nil, &spec.WorkerReport{}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeReport(b)
		if err != nil {
			return
		}
		if again, err := decodeReport(appendReport(nil, &r)); err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("re-encode: %v", err)
		}
	})
}
