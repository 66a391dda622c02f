package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// fullCase returns a case with every field set (ReportIDs aside).
func fullCase(tb testing.TB) *regcase.Case {
	tb.Helper()
	return newCase(tb, func(c *regcase.Case) {
		c.Title = "Oil spill at Riverside — ünïcode ✓"
		c.Subject = regcase.Subject{Name: "Blue River Chemicals", RegistryID: "REG-0042"}
		c.Category = "environment"
		c.Priority = regcase.PriorityCritical
		c.Status = "enforcement"
		c.Assignee = "investigator-7"
		c.OpenedAt = t0
		c.UpdatedAt = t0.Add(3 * time.Hour)
		c.ClosedAt = ptr(day(9))
		c.Resolution = "action_completed"
		c.Details = map[string]json.RawMessage{
			"findings": json.RawMessage(`"barrels leaking into the river"`),
			"action":   json.RawMessage(`{"type":"fine","amount":150000,"currency":"EUR"}`),
		}
		c.SLA = regcase.SLA{
			DueAt:       day(2),
			PausedAt:    ptr(t0.Add(26 * time.Hour)),
			PauseReason: "waiting for the lab",
			PausedTotal: 90*time.Minute + 7*time.Microsecond,
			BreachedAt:  ptr(day(3)),
		}
		c.Deadlines = regcase.Deadlines{
			Acknowledge: regcase.Deadline{DueAt: ptr(day(7)), MetAt: ptr(day(1)), WarnedAt: ptr(day(5).Add(time.Microsecond))},
			Feedback:    regcase.Deadline{DueAt: ptr(t0.AddDate(0, 3, 0)), WarnedAt: ptr(day(80)), BreachedAt: ptr(day(93))},
		}
		c.Version = 4
	})
}

func testCases(t *testing.T, open opener) {
	t.Run("GetCase", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want := fullCase(t)
			insertCases(t, s, want, newCase(t))

			got, err := s.GetCase(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("GetCase: %v", err)
			}
			wantNoDiff(t, "case", got, want)
		})
		t.Run("OKMinimal", func(t *testing.T) {
			s := open(t).Store
			want := newCase(t)
			insertCases(t, s, want)

			got, err := s.GetCase(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("GetCase: %v", err)
			}
			wantNoDiff(t, "case", got, want)
			if got.ClosedAt != nil || got.SLA.PausedAt != nil || got.SLA.BreachedAt != nil {
				t.Errorf("absent times read back as ClosedAt=%v PausedAt=%v BreachedAt=%v, want nil",
					got.ClosedAt, got.SLA.PausedAt, got.SLA.BreachedAt)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			insertCases(t, s, newCase(t))
			_, err := s.GetCase(t.Context(), newID())
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("InsertCase", func(t *testing.T) {
		t.Run("ErrConflictNumber", func(t *testing.T) {
			s := open(t).Store
			first := newCase(t)
			insertCases(t, s, first)
			dup := newCase(t, func(c *regcase.Case) { c.Number = first.Number })
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertCase(t.Context(), dup) })
			wantCode(t, err, regcase.EConflict)
		})
		t.Run("ErrConflictID", func(t *testing.T) {
			s := open(t).Store
			first := newCase(t)
			insertCases(t, s, first)
			dup := newCase(t, func(c *regcase.Case) { c.ID = first.ID })
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertCase(t.Context(), dup) })
			wantCode(t, err, regcase.EConflict)
		})
	})

	t.Run("LockCase", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want := fullCase(t)
			r := newReport(t)
			insertCases(t, s, want)
			insertReports(t, s, r)
			mustTx(t, s, func(tx regcase.Tx) error { return tx.LinkReport(t.Context(), want.ID, r.ID, t0) })
			want.ReportIDs = []string{r.ID}
			mustTx(t, s, func(tx regcase.Tx) error {
				got, err := tx.LockCase(t.Context(), want.ID)
				if err != nil {
					return err
				}
				wantNoDiff(t, "locked case", got, want)
				return nil
			})
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				_, err := tx.LockCase(t.Context(), newID())
				return err
			})
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("LinkReport", func(t *testing.T) {
		t.Run("OKInLinkOrderAndIdempotent", func(t *testing.T) {
			s := open(t).Store
			c, other := newCase(t), newCase(t)
			r1, r2, r3 := newReport(t), newReport(t), newReport(t)
			insertCases(t, s, c, other)
			insertReports(t, s, r1, r2, r3)
			link := func(caseID, reportID string, at time.Time) {
				t.Helper()
				mustTx(t, s, func(tx regcase.Tx) error { return tx.LinkReport(t.Context(), caseID, reportID, at) })
			}
			link(c.ID, r1.ID, t0.Add(time.Hour))
			link(c.ID, r2.ID, t0.Add(2*time.Hour))
			link(c.ID, r1.ID, t0.Add(3*time.Hour)) // again: no duplicate, no reorder
			link(other.ID, r3.ID, t0.Add(time.Hour))

			got, err := s.GetCase(t.Context(), c.ID)
			if err != nil {
				t.Fatalf("GetCase: %v", err)
			}
			wantIDs(t, got.ReportIDs, []string{r1.ID, r2.ID})
		})
	})

	t.Run("UpdateCase", func(t *testing.T) { testUpdateCase(t, open) })

	t.Run("NextCaseNumber", func(t *testing.T) {
		t.Run("OKStrictlyIncreasing", func(t *testing.T) {
			s := open(t).Store
			var got []int64
			next := func(tx regcase.Tx) error {
				n, err := tx.NextCaseNumber(t.Context())
				got = append(got, n)
				return err
			}
			mustTx(t, s, func(tx regcase.Tx) error {
				for range 3 {
					if err := next(tx); err != nil {
						return err
					}
				}
				return nil
			})
			mustTx(t, s, next)
			mustTx(t, s, next)
			for i, n := range got {
				if n <= 0 || (i > 0 && n <= got[i-1]) {
					t.Fatalf("case numbers = %v, want positive and strictly increasing", got)
				}
			}
		})
	})
}

func testUpdateCase(t *testing.T, open opener) {
	t.Run("OK", func(t *testing.T) {
		s := open(t).Store
		c := newCase(t)
		r := newReport(t)
		insertCases(t, s, c)
		insertReports(t, s, r)
		mustTx(t, s, func(tx regcase.Tx) error { return tx.LinkReport(t.Context(), c.ID, r.ID, t0) })

		want := fullCase(t)
		want.ID, want.Number, want.OpenedAt = c.ID, c.Number, c.OpenedAt
		mustTx(t, s, func(tx regcase.Tx) error { return tx.UpdateCase(t.Context(), want, c.Version) })
		if got, wantV := want.Version, c.Version+1; got != wantV {
			t.Errorf("Version after UpdateCase = %d, want %d", got, wantV)
		}
		want.ReportIDs = []string{r.ID}

		got, err := s.GetCase(t.Context(), c.ID)
		if err != nil {
			t.Fatalf("GetCase: %v", err)
		}
		wantNoDiff(t, "updated case", got, want)
	})

	t.Run("OKClearsOptionalFields", func(t *testing.T) {
		s := open(t).Store
		c := fullCase(t)
		insertCases(t, s, c)

		want := *c
		want.ClosedAt, want.Resolution, want.Assignee = nil, "", ""
		want.Details = nil
		want.SLA = regcase.SLA{DueAt: day(40)}
		mustTx(t, s, func(tx regcase.Tx) error { return tx.UpdateCase(t.Context(), &want, c.Version) })

		got, err := s.GetCase(t.Context(), c.ID)
		if err != nil {
			t.Fatalf("GetCase: %v", err)
		}
		wantNoDiff(t, "updated case", got, &want)
		if got.ClosedAt != nil || got.SLA.PausedAt != nil || got.SLA.BreachedAt != nil || got.SLA.PausedTotal != 0 {
			t.Errorf("cleared fields read back as ClosedAt=%v PausedAt=%v BreachedAt=%v PausedTotal=%v",
				got.ClosedAt, got.SLA.PausedAt, got.SLA.BreachedAt, got.SLA.PausedTotal)
		}
	})

	t.Run("ErrStaleVersion", func(t *testing.T) {
		s := open(t).Store
		c := newCase(t)
		insertCases(t, s, c)

		first, second := *c, *c
		first.Title, second.Title = "first writer", "second writer"
		mustTx(t, s, func(tx regcase.Tx) error { return tx.UpdateCase(t.Context(), &first, c.Version) })
		err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.UpdateCase(t.Context(), &second, c.Version) })
		wantCode(t, err, regcase.EPreconditionFailed)

		got, err := s.GetCase(t.Context(), c.ID)
		if err != nil {
			t.Fatalf("GetCase: %v", err)
		}
		if got.Title != "first writer" || got.Version != c.Version+1 {
			t.Errorf("stored case = %q version %d, want %q version %d", got.Title, got.Version, "first writer", c.Version+1)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s := open(t).Store
		err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.UpdateCase(t.Context(), newCase(t), 1) })
		wantCode(t, err, regcase.ENotFound)
	})
}
