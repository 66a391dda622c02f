package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"time"
)

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// diff returns one line per exported field where got and want differ.
// Engines may legitimately differ in representation, not in value, so times
// compare with Equal (any location), JSON by meaning (an engine may
// reformat a JSON column), and nil equals empty for slices and maps. Audit
// data, whose bytes the hash covers, is checked byte for byte elsewhere.
func diff(got, want any) []string {
	var out []string
	diffValue(&out, "", reflect.ValueOf(got), reflect.ValueOf(want))
	return out
}

func diffValue(out *[]string, path string, g, w reflect.Value) {
	report := func(gv, wv any) {
		*out = append(*out, fmt.Sprintf("%s: got %v, want %v", orRoot(path), gv, wv))
	}
	if !g.IsValid() || !w.IsValid() {
		if g.IsValid() != w.IsValid() {
			report(g, w)
		}
		return
	}
	switch g.Type() {
	case timeType:
		gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
		if !gt.Equal(wt) {
			report(gt, wt)
		}
		return
	case rawType:
		if !jsonEqual(g.Bytes(), w.Bytes()) {
			report(string(g.Bytes()), string(w.Bytes()))
		}
		return
	}
	switch g.Kind() {
	case reflect.Pointer:
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				report(describe(g), describe(w))
			}
			return
		}
		diffValue(out, path, g.Elem(), w.Elem())
	case reflect.Struct:
		for i := range g.NumField() {
			f := g.Type().Field(i)
			if f.IsExported() {
				diffValue(out, path+"."+f.Name, g.Field(i), w.Field(i))
			}
		}
	case reflect.Slice:
		if g.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(g.Bytes(), w.Bytes()) {
				report(fmt.Sprintf("%x", g.Bytes()), fmt.Sprintf("%x", w.Bytes()))
			}
			return
		}
		if g.Len() != w.Len() {
			report(describe(g), describe(w))
			return
		}
		for i := range g.Len() {
			diffValue(out, fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
		}
	case reflect.Map:
		keys := map[string]reflect.Value{}
		for _, k := range append(g.MapKeys(), w.MapKeys()...) {
			keys[fmt.Sprint(k.Interface())] = k
		}
		names := make([]string, 0, len(keys))
		for n := range keys {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			gv, wv := g.MapIndex(keys[n]), w.MapIndex(keys[n])
			if !gv.IsValid() || !wv.IsValid() {
				*out = append(*out, fmt.Sprintf("%s[%s]: got %v, want %v", orRoot(path), n, describe(gv), describe(wv)))
				continue
			}
			diffValue(out, fmt.Sprintf("%s[%s]", path, n), gv, wv)
		}
	default:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			report(g.Interface(), w.Interface())
		}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "value"
	}
	return path
}

// describe prints a value for a message.
func describe(v reflect.Value) string {
	switch {
	case !v.IsValid():
		return "<absent>"
	case v.Kind() == reflect.Pointer && v.IsNil():
		return "nil"
	case v.Kind() == reflect.Pointer:
		return fmt.Sprintf("&%v", v.Elem().Interface())
	}
	return fmt.Sprintf("%v", v.Interface())
}

// jsonEqual reports whether a and b hold the same JSON value; empty equals
// empty, and invalid JSON compares byte for byte.
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(av, bv)
}
