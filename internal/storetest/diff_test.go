package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func TestDiff(t *testing.T) {
	base := func() *regcase.Case {
		return &regcase.Case{
			ID: "c", OpenedAt: t0, ClosedAt: ptr(t0),
			Details: map[string]json.RawMessage{"a": json.RawMessage(`{"x":1,"y":[1,2]}`)},
			SLA:     regcase.SLA{PausedTotal: time.Second},
		}
	}
	t.Run("OKEqualValues", func(t *testing.T) {
		got := base()
		got.OpenedAt = t0.In(time.FixedZone("X", 3600)) // same instant
		got.Details["a"] = json.RawMessage(`{ "y": [1, 2], "x": 1 }`)
		got.ReportIDs = []string{} // empty equals nil
		if d := diff(got, base()); len(d) != 0 {
			t.Errorf("diff of equal values = %v", d)
		}
	})
	for name, change := range map[string]func(*regcase.Case){
		"ErrTime":        func(c *regcase.Case) { c.OpenedAt = t0.Add(time.Microsecond) },
		"ErrNilPointer":  func(c *regcase.Case) { c.ClosedAt = nil },
		"ErrPointee":     func(c *regcase.Case) { c.ClosedAt = ptr(t0.Add(time.Second)) },
		"ErrJSON":        func(c *regcase.Case) { c.Details["a"] = json.RawMessage(`{"x":2,"y":[1,2]}`) },
		"ErrMissingKey":  func(c *regcase.Case) { delete(c.Details, "a") },
		"ErrNested":      func(c *regcase.Case) { c.SLA.PausedTotal = 2 * time.Second },
		"ErrSliceLength": func(c *regcase.Case) { c.ReportIDs = []string{"r"} },
		"ErrString":      func(c *regcase.Case) { c.ID = "d" },
	} {
		t.Run(name, func(t *testing.T) {
			got := base()
			change(got)
			if d := diff(got, base()); len(d) != 1 {
				t.Errorf("diff = %v, want one difference", d)
			}
		})
	}
	t.Run("ErrBytes", func(t *testing.T) {
		if d := diff(&regcase.Report{WrappedKey: []byte{1}}, &regcase.Report{}); len(d) != 1 {
			t.Errorf("diff = %v, want one difference", d)
		}
	})
}
