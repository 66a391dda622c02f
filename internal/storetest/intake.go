package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// testIntake covers Store.Intake, the one-round-trip write of public intake.
func testIntake(t *testing.T, open opener) {
	t.Run("OK", func(t *testing.T) {
		s := open(t).Store
		r := newReport(t, func(r *regcase.Report) { r.IdempotencyKey = "k-1" })
		rec := newAudit(t, regcase.ChainFor("report", r.ID), 0)
		if err := s.Intake(t.Context(), r, rec, newEvent(t)); err != nil {
			t.Fatalf("Intake: %v", err)
		}
		if rec.ID == 0 || rec.Seq != 1 || !bytes.Equal(rec.PrevHash, make([]byte, regcase.HashSize)) || !bytes.Equal(rec.Hash, rec.ComputeHash()) {
			t.Errorf("record not sealed as a new chain's first: id %d seq %d", rec.ID, rec.Seq)
		}
		got, err := s.GetReport(t.Context(), r.ID)
		if err != nil || got.TrackingCode != r.TrackingCode {
			t.Fatalf("GetReport after Intake: %v, %v", got, err)
		}
		heads, err := s.AuditHeads(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if h := heads[rec.Chain]; h.Seq != 1 || !bytes.Equal(h.Hash, rec.Hash) {
			t.Errorf("chain head = %d %x, want 1 %x", h.Seq, h.Hash, rec.Hash)
		}
		// The chain continues normally after an intake.
		next := appendAudit(t, s, rec.Chain, 1)[0]
		if next.Seq != 2 || !bytes.Equal(next.PrevHash, rec.Hash) {
			t.Errorf("next record seq %d prev %x; want 2 linking to the intake record", next.Seq, next.PrevHash)
		}
	})
	t.Run("ErrIdempotencyKeyTakenLeavesNothing", func(t *testing.T) {
		s := open(t).Store
		first := newReport(t, func(r *regcase.Report) { r.IdempotencyKey = "same" })
		if err := s.Intake(t.Context(), first, newAudit(t, regcase.ChainFor("report", first.ID), 0), newEvent(t)); err != nil {
			t.Fatal(err)
		}
		dup := newReport(t, func(r *regcase.Report) { r.IdempotencyKey = "same" })
		ev := newEvent(t)
		err := s.Intake(t.Context(), dup, newAudit(t, regcase.ChainFor("report", dup.ID), 0), ev)
		if !errors.Is(err, regcase.ErrIdempotencyKeyTaken) {
			t.Fatalf("duplicate key: %v, want ErrIdempotencyKeyTaken", err)
		}
		if got := len(scanAll(t, s)); got != 1 {
			t.Errorf("audit records after a refused intake = %d, want 1", got)
		}
		if _, err := s.GetReport(t.Context(), dup.ID); regcase.ErrorCodeOf(err) != regcase.ENotFound {
			t.Errorf("refused report is stored: %v", err)
		}
		// The refused event id is free: nothing of the batch was kept.
		mustTx(t, s, func(tx regcase.Tx) error { return tx.InsertEvent(t.Context(), ev) })
	})
}
