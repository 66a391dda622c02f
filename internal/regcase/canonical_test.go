package regcase

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// canonicalInputs are values whose canonical form CanonicalJSON must give
// exactly as the decode-and-marshal reference does.
var canonicalInputs = []any{
	nil, true, false, 0, -1.5, 1e21, "plain", "", "with \"quotes\" and \\ backslash",
	"<html> & friends", "line\nbreak\ttab\u0001", "unicode é ✓ \u2028 \u2029 \ufffd", "\xff\xfe invalid",
	[]any{}, map[string]any{}, []int{3, 1, 2},
	map[string]any{"b": 1, "a": []any{map[string]any{"z": nil, "y": "x"}}, "é": true, "A": "upper"},
	struct {
		Zed   string          `json:"zed"`
		Alpha int             `json:"alpha"`
		Raw   json.RawMessage `json:"raw"`
		When  time.Time       `json:"when"`
	}{"z", 1, json.RawMessage(`{"k":2,"k":1,"\u0041":"\u00e9\/","n":1.50E+3,"d":-0,"s":"a\u003cb"}`), time.Date(2026, 12, 4, 1, 2, 3, 4, time.UTC)},
	json.RawMessage(`[{"b":{"d":[1,{"f":null,"e":false}],"c":"\ud83d\ude00"},"a":"\"\\\/\b\f\n\r\t"}]`),
	json.RawMessage(`{"dup":{"x":1},"dup":{"y":2},"dup":[3]}`),
	json.RawMessage(`{"":1,"\u0000":2," ":3}`),
	json.RawMessage(`"\ud800 lone surrogate"`),
	json.RawMessage(`123456789012345678901234567890.000`),
}

func TestCanonicalJSONMatchesDecoded(t *testing.T) {
	for _, in := range canonicalInputs {
		raw, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("marshal %#v: %v", in, err)
		}
		want, err := canonicalDecoded(raw)
		if err != nil {
			t.Fatalf("reference for %s: %v", raw, err)
		}
		got, err := CanonicalJSON(in)
		if err != nil {
			t.Fatalf("CanonicalJSON(%s): %v", raw, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("CanonicalJSON(%s)\n got %s\nwant %s", raw, got, want)
		}
		if _, ok := canonicalize(raw); !ok && !bytes.Contains(raw, []byte(`\`)) {
			t.Errorf("the fast path refused %s", raw)
		}
	}
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, in := range canonicalInputs {
		raw, _ := json.Marshal(in)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		raw, err := json.Marshal(json.RawMessage(doc))
		if err != nil {
			return
		}
		want, err := canonicalDecoded(raw)
		if err != nil {
			return
		}
		got, err := CanonicalJSON(json.RawMessage(doc))
		if err != nil {
			t.Fatalf("CanonicalJSON(%s): %v", doc, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("CanonicalJSON(%s)\n got %s\nwant %s", doc, got, want)
		}
	})
}

// BenchmarkCanonicalJSON compares the one-pass canonicalizer with the
// decoding path it replaced, on an intake's audit data.
func BenchmarkCanonicalJSON(b *testing.B) {
	v := map[string]any{"report_id": "01a2422e-3b09-7734-858f-b8e223d4bf68", "channel": "api", "category": "food_safety",
		"subject": map[string]any{"name": "Harbour Fish Market", "registry_id": "FBO-10442"}, "anonymous": false, "attachments": 0}
	b.Run("one-pass", func(b *testing.B) {
		for b.Loop() {
			if _, err := CanonicalJSON(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoded", func(b *testing.B) {
		for b.Loop() {
			raw, err := json.Marshal(v)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := canonicalDecoded(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
