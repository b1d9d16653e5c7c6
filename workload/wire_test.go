package workload

import (
	"reflect"
	"testing"
)

// fill sets every field reachable from v to a non-zero value, so that a
// field added to the types but not to the wire codec fails the round trip.
func fill(v reflect.Value, seed *int) {
	*seed++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), seed)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), seed)
		}
		v.Set(s)
	case reflect.String:
		v.SetString("s" + string(rune('a'+*seed%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(-*seed * 1000))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*seed) * 1e9)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

func TestWireReportRoundTrip(t *testing.T) {
	var r WorkerReport
	seed := 0
	fill(reflect.ValueOf(&r).Elem(), &seed)
	got, err := decodeReport(appendReport(nil, &r))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}
	empty, err := decodeReport(appendReport(nil, &WorkerReport{}))
	if err != nil || !reflect.DeepEqual(empty, WorkerReport{}) {
		t.Errorf("zero report: %+v, %v", empty, err)
	}
}

func TestWireSpecRoundTrip(t *testing.T) {
	var s workerSpec
	seed := 0
	fill(reflect.ValueOf(&s).Elem(), &seed)
	got, err := decodeSpec(appendSpec(nil, &s))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

func TestWireTruncated(t *testing.T) {
	var r WorkerReport
	seed := 0
	fill(reflect.ValueOf(&r).Elem(), &seed)
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
	var r WorkerReport
	seed := 0
	fill(reflect.ValueOf(&r).Elem(), &seed)
	f.Add(appendReport(nil, &r))
	f.Add(appendReport(nil, &WorkerReport{}))
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
