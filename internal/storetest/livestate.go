package storetest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// testVerifyLiveState checks that VerifyAudit compares the live rows with
// the state their audit history determines: a row edited directly in the
// database is named by entity and field.
func testVerifyLiveState(t *testing.T, open opener) {
	t.Run("OKLiveStateMatches", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		res := f.verify(t)
		if !res.OK || res.LiveState == nil || res.LiveState.Checked != 2 || res.LiveState.Unchecked != 0 {
			t.Fatalf("untouched rows: ok %v, live %+v, first %+v; want ok, 2 checked", res.OK, res.LiveState, res.FirstBad)
		}
	})
	caseEdits := []struct{ name, set, field string }{
		{"ErrLiveCaseTitle", `title = 'FORGED'`, "title"},
		{"ErrLiveCaseStatus", `status = 'closed'`, "status"},
		{"ErrLiveCasePriority", `priority = 'low'`, "priority"},
		{"ErrLiveCaseAssignee", `assignee = 'token:mallory'`, "assignee"},
		{"ErrLiveCaseSLAPause", `pause_reason = 'forever'`, "pause_reason"},
	}
	for _, tc := range caseEdits {
		t.Run(tc.name, func(t *testing.T) {
			f := newVerifyFixture(t, open)
			f.exec(t, fmt.Sprintf(`UPDATE cases SET %s WHERE id = '%s'`, tc.set, f.caseID()))
			f.wantLiveBad(t, f.caseChain, tc.field)
		})
	}
	t.Run("ErrLiveReportStatus", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		f.exec(t, fmt.Sprintf(`UPDATE reports SET status = 'dismissed' WHERE id = '%s'`, f.reportID))
		f.wantLiveBad(t, regcase.ChainFor("report", f.reportID), "status")
	})
	t.Run("ErrLiveReportCaseLink", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		f.exec(t, fmt.Sprintf(`DELETE FROM case_reports WHERE report_id = '%s'`, f.reportID))
		f.wantLiveBad(t, f.caseChain, "report_ids")
	})
	t.Run("ErrLiveRowDeleted", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		f.exec(t, fmt.Sprintf(`DELETE FROM case_reports WHERE report_id = '%s'`, f.reportID))
		f.exec(t, fmt.Sprintf(`DELETE FROM reports WHERE id = '%s'`, f.reportID))
		res := f.verify(t)
		want := regcase.ChainFor("report", f.reportID)
		for _, p := range res.Problems {
			if p.Entity == want && strings.Contains(p.Reason, "missing") {
				return
			}
		}
		t.Fatalf("deleted report row: ok %v, problems %+v; want one naming %s as missing", res.OK, res.Problems, want)
	})
	t.Run("ErrLiveRowInserted", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		c := newCase(t, func(c *regcase.Case) { c.Number = "CASE-FORGED-1" })
		insertCases(t, f.store, c)
		f.wantLiveBad(t, regcase.ChainFor("case", c.ID), "")
	})
	t.Run("OKOldRecordsWithoutState", func(t *testing.T) {
		// A case whose history predates state snapshots is not compared.
		f := newVerifyFixture(t, open)
		c := newCase(t, func(c *regcase.Case) { c.Number = "CASE-OLD-1" })
		insertCases(t, f.store, c)
		mustTx(t, f.store, func(tx regcase.Tx) error {
			return tx.AppendAudit(t.Context(), &regcase.AuditRecord{Chain: regcase.ChainFor("case", c.ID), Time: time.Now(),
				ActorID: "token:old", ActorRole: regcase.RoleSupervisor, Action: "case.opened", EntityType: "case",
				EntityID: c.ID, Data: []byte(`{"title":"old"}`)})
		})
		res := f.verify(t)
		if !res.OK || res.LiveState.Unchecked != 1 || res.LiveState.Checked != 2 {
			t.Fatalf("old history: ok %v, live %+v, first %+v; want ok, 1 unchecked", res.OK, res.LiveState, res.FirstBad)
		}
	})
	testVerifyLaundering(t, open)
	t.Run("BenchLiveState", func(t *testing.T) { benchLiveState(t, open) })
	t.Run("OKManyCases", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		ctx := t.Context()
		const n = 250 // more than one page of MaxLimit
		for i := range n {
			c, err := f.svc.CreateCase(ctx, f.sup, regcase.NewCase{Title: fmt.Sprintf("case %d", i),
				Subject: regcase.Subject{Name: "Harbour Fish"}, Category: "food_safety", Priority: regcase.PriorityHigh})
			if err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				if _, err := f.svc.Assign(ctx, f.sup, c.ID, c.Version, "oidc:ivy"); err != nil {
					t.Fatal(err)
				}
			}
		}
		res := f.verify(t)
		if !res.OK || res.LiveState.Checked != n+2 {
			t.Fatalf("%d cases: ok %v, live %+v, first %+v", n, res.OK, res.LiveState, res.FirstBad)
		}
	})
}

// benchLiveState measures verification of REGCASE_VERIFY_BENCH_CASES cases
// (each opened, assigned and updated: 3 records and a snapshot each); it is
// skipped unless the variable is set (BENCHMARKS.md).
func benchLiveState(t *testing.T, open opener) {
	n, _ := strconv.Atoi(os.Getenv("REGCASE_VERIFY_BENCH_CASES"))
	if n <= 0 {
		t.Skip("set REGCASE_VERIFY_BENCH_CASES to measure")
	}
	f := newVerifyFixture(t, open)
	ctx := t.Context()
	start := time.Now()
	for i := range n {
		c, err := f.svc.CreateCase(ctx, f.sup, regcase.NewCase{Title: fmt.Sprintf("case %d", i),
			Subject: regcase.Subject{Name: "Harbour Fish"}, Category: "food_safety"})
		if err == nil {
			c, err = f.svc.Assign(ctx, f.sup, c.ID, c.Version, "oidc:ivy")
		}
		if err == nil {
			_, err = f.svc.UpdateCase(ctx, f.sup, c.ID, c.Version, regcase.CasePatch{Priority: ptr(regcase.PriorityHigh)})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d cases in %s", n, time.Since(start).Round(time.Millisecond))
	for range 3 {
		res := f.verify(t)
		if !res.OK {
			t.Fatalf("ok false: %+v", res.FirstBad)
		}
		t.Logf("verify: %d records, %d rows compared, total %s, of which live state %s", res.Records, res.LiveState.Checked, res.Duration, res.LiveState.Duration)
	}
}

func (f *verifyFixture) caseID() string { return strings.TrimPrefix(f.caseChain, "case:") }

// wantLiveBad asserts that verification fails and names entity (and field,
// when given) first.
func (f *verifyFixture) wantLiveBad(t *testing.T, entity, field string) {
	t.Helper()
	res := f.verify(t)
	if res.OK || res.FirstBad == nil {
		t.Fatalf("tampered live row verifies OK (live %+v)", res.LiveState)
	}
	if got := res.FirstBad; got.Entity != entity || got.Field != field {
		t.Fatalf("first bad = %+v; want entity %s field %q", got, entity, field)
	}
	if !strings.Contains(res.FirstBad.String(), entity) {
		t.Errorf("problem text %q does not name %s", res.FirstBad.String(), entity)
	}
}

// testVerifyLaundering: a row edited behind the application's back and then
// changed through it (the next snapshot is taken from the edited row) is
// still named, at the record whose snapshot shows the unexplained change.
func testVerifyLaundering(t *testing.T, open opener) {
	t.Run("ErrLiveEditThenLegitChange", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		f.exec(t, fmt.Sprintf(`UPDATE cases SET title = 'FORGED' WHERE id = '%s'`, f.caseID()))
		c, err := f.store.GetCase(t.Context(), f.caseID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PauseSLA(t.Context(), f.sup, c.ID, c.Version, "waiting for the company"); err != nil {
			t.Fatal(err)
		}
		last := f.last(t, f.caseChain)
		res := f.verify(t)
		if res.OK || res.FirstBad == nil || res.FirstBad.RecordID != last.ID || res.FirstBad.Field != "title" || res.FirstBad.Entity != f.caseChain {
			t.Fatalf("laundered edit: ok %v, first %+v; want record %d naming %s field title", res.OK, res.FirstBad, last.ID, f.caseChain)
		}
	})
	t.Run("OKEveryActionExplainsItsChanges", func(t *testing.T) {
		// The fixture's history took every kind of step; add the rest.
		f := newVerifyFixture(t, open)
		ctx := t.Context()
		c, err := f.store.GetCase(ctx, f.caseID())
		if err != nil {
			t.Fatal(err)
		}
		if c, err = f.svc.UpdateCase(ctx, f.sup, c.ID, c.Version, regcase.CasePatch{Title: ptr("Renamed"), Priority: ptr(regcase.PriorityLow)}); err != nil {
			t.Fatal(err)
		}
		if c, err = f.svc.Assign(ctx, f.sup, c.ID, c.Version, "oidc:olga"); err != nil {
			t.Fatal(err)
		}
		if _, err = f.svc.PauseSLA(ctx, f.sup, c.ID, c.Version, "lab"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Erase(ctx, f.sup, f.reportID, "DP-2"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.GetReport(ctx, f.sup, f.reportID, true); err != nil {
			t.Fatal(err)
		}
		sub, err := f.svc.Submit(ctx, regcase.Actor{Role: regcase.RoleAnonymous}, regcase.SubmitReport{Channel: regcase.ChannelWeb,
			Category: "food_safety", Subject: regcase.Subject{Name: "Other"}, Description: "spam"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Dismiss(ctx, f.sup, sub.Report.ID, "spam"); err != nil {
			t.Fatal(err)
		}
		if res := f.verify(t); !res.OK || res.LiveState.Checked != 3 {
			t.Fatalf("legitimate history: ok %v, live %+v, first %+v", res.OK, res.LiveState, res.FirstBad)
		}
	})
}
