package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func testReports(t *testing.T, open opener) {
	t.Run("GetReport", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want := fullReport(t)
			insertReports(t, s, want)

			got, err := s.GetReport(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("GetReport: %v", err)
			}
			wantNoDiff(t, "report", got, want)
		})
		t.Run("OKMinimal", func(t *testing.T) {
			s := open(t).Store
			want := newReport(t)
			insertReports(t, s, want)

			got, err := s.GetReport(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("GetReport: %v", err)
			}
			wantNoDiff(t, "report", got, want)
			if got.OccurredAt != nil || got.ErasedAt != nil || got.WrappedKey != nil || got.ReporterCipher != nil {
				t.Errorf("absent optional fields read back as OccurredAt=%v ErasedAt=%v WrappedKey=%x ReporterCipher=%x, want nil",
					got.OccurredAt, got.ErasedAt, got.WrappedKey, got.ReporterCipher)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			insertReports(t, s, newReport(t))
			_, err := s.GetReport(t.Context(), newID())
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("GetReportByTracking", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want, other := fullReport(t), newReport(t)
			insertReports(t, s, want, other)

			got, err := s.GetReportByTracking(t.Context(), want.TrackingCode)
			if err != nil {
				t.Fatalf("GetReportByTracking: %v", err)
			}
			wantNoDiff(t, "report", got, want)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			insertReports(t, s, newReport(t))
			_, err := s.GetReportByTracking(t.Context(), "NOSUCHCODE")
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("GetReportByIdempotencyKey", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want, other := fullReport(t), fullReport(t)
			insertReports(t, s, want, other)

			got, err := s.GetReportByIdempotencyKey(t.Context(), want.IdempotencyKey)
			if err != nil {
				t.Fatalf("GetReportByIdempotencyKey: %v", err)
			}
			wantNoDiff(t, "report", got, want)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			insertReports(t, s, fullReport(t))
			_, err := s.GetReportByIdempotencyKey(t.Context(), "no-such-key")
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("InsertReport", func(t *testing.T) {
		t.Run("ErrIdempotencyKeyTaken", func(t *testing.T) {
			s := open(t).Store
			first := fullReport(t)
			insertReports(t, s, first)
			second := fullReport(t)
			second.IdempotencyKey = first.IdempotencyKey

			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertReport(t.Context(), second) })
			if !errors.Is(err, regcase.ErrIdempotencyKeyTaken) {
				t.Errorf("InsertReport with a used key: err = %v, want ErrIdempotencyKeyTaken", err)
			}
			_, err = s.GetReport(t.Context(), second.ID)
			wantCode(t, err, regcase.ENotFound)
		})
		t.Run("OKWithoutIdempotencyKeys", func(t *testing.T) {
			s := open(t).Store
			a, b := newReport(t), newReport(t)
			insertReports(t, s, a, b)
			for _, r := range []*regcase.Report{a, b} {
				if _, err := s.GetReport(t.Context(), r.ID); err != nil {
					t.Errorf("GetReport(%s): %v", r.ID, err)
				}
			}
		})
		t.Run("ErrConflictTrackingCode", func(t *testing.T) {
			s := open(t).Store
			first := newReport(t)
			insertReports(t, s, first)
			dup := newReport(t, func(r *regcase.Report) { r.TrackingCode = first.TrackingCode })

			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertReport(t.Context(), dup) })
			wantCode(t, err, regcase.EConflict)
			if errors.Is(err, regcase.ErrIdempotencyKeyTaken) {
				t.Errorf("duplicate tracking code reported as ErrIdempotencyKeyTaken")
			}
		})
		t.Run("ErrConflictID", func(t *testing.T) {
			s := open(t).Store
			first := newReport(t)
			insertReports(t, s, first)
			dup := newReport(t, func(r *regcase.Report) { r.ID = first.ID })

			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertReport(t.Context(), dup) })
			wantCode(t, err, regcase.EConflict)
		})
	})

	t.Run("LockReport", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want := fullReport(t)
			insertReports(t, s, want)
			mustTx(t, s, func(tx regcase.Tx) error {
				got, err := tx.LockReport(t.Context(), want.ID)
				if err != nil {
					return err
				}
				wantNoDiff(t, "locked report", got, want)
				return nil
			})
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				_, err := tx.LockReport(t.Context(), newID())
				return err
			})
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("UpdateReport", func(t *testing.T) { testUpdateReport(t, open) })
}

func testUpdateReport(t *testing.T, open opener) {
	// update locks the report, applies change and writes it back; it
	// returns the report as it should now read.
	update := func(t *testing.T, s regcase.Store, id string, change func(*regcase.Report)) *regcase.Report {
		t.Helper()
		var want *regcase.Report
		mustTx(t, s, func(tx regcase.Tx) error {
			r, err := tx.LockReport(t.Context(), id)
			if err != nil {
				return err
			}
			change(r)
			want = r
			return tx.UpdateReport(t.Context(), r)
		})
		return want
	}

	t.Run("OKDismiss", func(t *testing.T) {
		s := open(t).Store
		r := fullReport(t)
		insertReports(t, s, r)

		want := update(t, s, r.ID, func(r *regcase.Report) {
			r.Status = regcase.ReportDismissed
			r.DismissReason = "out of our remit"
			r.UpdatedAt = t0.Add(time.Hour)
		})
		got, err := s.GetReport(t.Context(), r.ID)
		if err != nil {
			t.Fatalf("GetReport: %v", err)
		}
		wantNoDiff(t, "dismissed report", got, want)
	})

	t.Run("OKLinkToCase", func(t *testing.T) {
		s := open(t).Store
		r := newReport(t)
		c := newCase(t)
		insertReports(t, s, r)
		insertCases(t, s, c)

		want := update(t, s, r.ID, func(r *regcase.Report) {
			r.Status = regcase.ReportTriaged
			r.CaseID = c.ID
			r.UpdatedAt = t0.Add(time.Hour)
		})
		got, err := s.GetReport(t.Context(), r.ID)
		if err != nil {
			t.Fatalf("GetReport: %v", err)
		}
		wantNoDiff(t, "triaged report", got, want)
		if got.CaseID != c.ID {
			t.Errorf("CaseID = %q, want %q", got.CaseID, c.ID)
		}
	})

	t.Run("OKErase", func(t *testing.T) {
		s := open(t).Store
		r := fullReport(t)
		insertReports(t, s, r)

		want := update(t, s, r.ID, func(r *regcase.Report) {
			r.WrappedKey = nil
			r.ReporterCipher = nil
			r.ErasedAt = ptr(t0.Add(2 * time.Hour))
			r.UpdatedAt = t0.Add(2 * time.Hour)
		})
		got, err := s.GetReport(t.Context(), r.ID)
		if err != nil {
			t.Fatalf("GetReport: %v", err)
		}
		wantNoDiff(t, "erased report", got, want)
		if got.WrappedKey != nil {
			t.Errorf("WrappedKey = %x after erasure, want nil", got.WrappedKey)
		}
		if !got.HasReporter {
			t.Errorf("HasReporter = false after erasure, want true")
		}
	})

	t.Run("OKWritesOnlyMutableFields", func(t *testing.T) {
		s := open(t).Store
		r := fullReport(t)
		insertReports(t, s, r)
		want := *r
		want.Status = regcase.ReportTriaged
		want.UpdatedAt = t0.Add(time.Hour)

		mustTx(t, s, func(tx regcase.Tx) error {
			changed := want
			changed.Description = "rewritten"
			changed.TrackingCode = "CHANGED"
			changed.Subject = regcase.Subject{Name: "Someone else"}
			changed.ReceivedAt = t0.Add(-time.Hour)
			return tx.UpdateReport(t.Context(), &changed)
		})
		got, err := s.GetReport(t.Context(), r.ID)
		if err != nil {
			t.Fatalf("GetReport: %v", err)
		}
		wantNoDiff(t, "report", got, &want)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s := open(t).Store
		err := s.InTx(t.Context(), func(tx regcase.Tx) error {
			return tx.UpdateReport(t.Context(), newReport(t))
		})
		wantCode(t, err, regcase.ENotFound)
	})
}
