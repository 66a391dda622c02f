package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// seedCases writes n cases straight through the store, in one transaction
// (no audit records: this is list data, not history), spread over the
// states, priorities, categories and a few assignees.
func seedCases(tb testing.TB, e *testEnv, n int) {
	tb.Helper()
	states := e.svc.Lifecycle().StateNames()
	now := time.Now().UTC()
	err := e.store.InTx(context.Background(), func(tx regcase.Tx) error {
		for i := range n {
			num, err := tx.NextCaseNumber(context.Background())
			if err != nil {
				return err
			}
			p := regcase.Priorities[i%len(regcase.Priorities)]
			opened := now.Add(-time.Duration(n-i) * time.Minute)
			c := &regcase.Case{ID: e.svc.NewID(), Number: fmt.Sprintf("CASE-%d-%06d", now.Year(), num),
				Title:    fmt.Sprintf("Complaint %d about hygiene at the premises", i),
				Subject:  regcase.Subject{Name: fmt.Sprintf("Business %d Ltd", i%500), RegistryID: fmt.Sprintf("REG-%05d", i%500)},
				Category: regcase.DefaultCategories[i%len(regcase.DefaultCategories)], Priority: p,
				Status: states[i%len(states)], Assignee: fmt.Sprintf("officer-%d", i%7), OpenedAt: opened, UpdatedAt: opened,
				Version: 1, Details: map[string]json.RawMessage{}, SLA: regcase.SLA{DueAt: opened.Add(e.svc.SLA()[p])}}
			if err := tx.InsertCase(context.Background(), c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// caseListQueries are the list pages measured: the default first page, a
// filtered page, a free-text search (a scan) and a page deep in the list.
var caseListQueries = []struct{ name, query string }{
	{"FirstPage", ""},
	{"StatusAndPriority", "?status=investigating&priority=normal"},
	{"Search", "?q=Business+42+Ltd"},
	{"AssigneeAndPriority", "?assignee=officer-3&priority=low"},
}

// TestCaseListRenderTime measures the server-side time to serve the case
// list with 10,000 cases (query + render, through the handler) and each
// list page's weight. The bar is 50 ms; under the race detector the
// figures are only logged.
func TestCaseListRenderTime(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 cases")
	}
	// The race detector slows SQLite (pure Go) about twentyfold: there the
	// test checks the pages on fewer cases and its times mean nothing.
	n, pages, runs := 10_000, 100, 25
	if raceEnabled {
		n, pages, runs = 2_000, 20, 3
	}
	e := newEnv(t)
	start := time.Now()
	seedCases(t, e, n)
	t.Logf("seeded %d cases in %v (race detector: %v)", n, time.Since(start).Round(time.Millisecond), raceEnabled)
	c := e.as(t, regcase.RoleSupervisor)
	// A page deep in the list: follow the next links down.
	deep := "/console/cases"
	for range pages {
		deep = nextLink(must(t, c.get(deep), http.StatusOK).body)
	}
	queries := append(slices.Clone(caseListQueries), struct{ name, query string }{fmt.Sprintf("Page%d", pages), deep[len("/console/cases"):]})
	for _, q := range queries {
		var ds []time.Duration
		var size int
		for range runs {
			t0 := time.Now()
			r := must(t, c.get("/console/cases"+q.query), http.StatusOK)
			ds = append(ds, time.Since(t0))
			size = len(r.body)
		}
		slices.Sort(ds)
		med, p90 := ds[len(ds)/2], ds[len(ds)*9/10]
		t.Logf("case list %-18s median %7.2f ms  p90 %7.2f ms  %6d bytes", q.name, ms(med), ms(p90), size)
		if size >= 100_000 {
			t.Errorf("%s: %d bytes, over the 100 KB bar", q.name, size)
		}
		if !raceEnabled && med >= 50*time.Millisecond {
			t.Errorf("%s: median %v, over the 50 ms bar", q.name, med)
		}
	}
	// The other full list pages' weight.
	for i := 0; i < 60; i++ {
		e.submit(t, fmt.Sprintf("Report %d: a long enough description of what was seen at the premises on the day.", i), false)
	}
	for _, p := range []string{"/console/triage", "/console/audit"} {
		r := must(t, e.as(t, regcase.RoleSupervisor).get(p), http.StatusOK)
		t.Logf("%-30s %6d bytes (a full page of 50 rows)", p, len(r.body))
		if len(r.body) >= 100_000 {
			t.Errorf("%s: %d bytes, over the 100 KB bar", p, len(r.body))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkCaseList serves the case list over 10,000 cases:
//
//	go test -run '^$' -bench CaseList -benchtime 200x ./internal/web/
func BenchmarkCaseList(b *testing.B) {
	e := newEnv(b)
	seedCases(b, e, 10_000)
	c := e.as(b, regcase.RoleSupervisor)
	for _, q := range caseListQueries {
		b.Run(q.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				r := c.get("/console/cases" + q.query)
				if r.status != http.StatusOK {
					b.Fatalf("status %d", r.status)
				}
				n = len(r.body)
			}
			b.ReportMetric(float64(n), "bytes/page")
		})
	}
}
