// Package testfill sets values of any type by reflection, for round-trip
// tests of codecs: a field added to a type but forgotten by a codec then
// fails the round trip instead of passing unnoticed.
package testfill

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// skipped reports whether a struct field is not part of the encoded form:
// unexported, or tagged msgpack:"-".
func skipped(f reflect.StructField) bool {
	return !f.IsExported() || strings.Split(f.Tag.Get("msgpack"), ",")[0] == "-"
}

// Random sets v, which must be settable, to a random value. Slices, maps
// and pointers are either nil or non-empty, since omitempty cannot tell an
// empty one from nil; []uint64 gets up to 100 elements (sample arrays).
func Random(r *rand.Rand, v reflect.Value) { random(r, v, 0) }

func random(r *rand.Rand, v reflect.Value, depth int) {
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(time.Unix(r.Int64N(1<<34), r.Int64N(1e9))))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		v.SetInt(int64(r.Uint64()) >> (64 - bits) >> r.IntN(bits))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := v.Type().Bits()
		v.SetUint(r.Uint64() >> (64 - bits) >> r.IntN(bits))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(r.IntN(1<<20)) / 64)
	case reflect.String:
		rs := []rune("abcxyz_-/ ü✓\n\x00")
		s := make([]rune, r.IntN(12))
		for i := range s {
			s[i] = rs[r.IntN(len(rs))]
		}
		v.SetString(string(s))
	case reflect.Slice:
		if r.IntN(3) == 0 || depth > 6 {
			return
		}
		n := 1 + r.IntN(4)
		if v.Type().Elem().Kind() == reflect.Uint64 {
			n = 1 + r.IntN(100)
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			random(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		if r.IntN(3) == 0 || depth > 6 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for range 1 + r.IntN(3) {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			random(r, k, depth+1)
			random(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		random(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if !skipped(v.Type().Field(i)) {
				random(r, v.Field(i), depth+1)
			}
		}
	default:
		panic("testfill: unhandled kind " + v.Kind().String())
	}
}

// Distinct sets every field reachable from v to a non-zero value that
// differs from field to field (slices get two elements), so that a codec
// that drops or swaps a field fails the round trip.
func Distinct(v reflect.Value) {
	seed := 0
	distinct(v, &seed)
}

func distinct(v reflect.Value, seed *int) {
	*seed++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if !skipped(v.Type().Field(i)) {
				distinct(v.Field(i), seed)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			distinct(s.Index(i), seed)
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
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*seed) + 0.5)
	default:
		panic("testfill: unhandled kind " + v.Kind().String())
	}
}
