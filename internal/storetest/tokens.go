package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func newToken(tb testing.TB, name string) *regcase.APIToken {
	tb.Helper()
	id := newID()
	return &regcase.APIToken{ID: id, Name: name, Role: regcase.RoleSupervisor, Hash: sha("token-secret-" + id), CreatedAt: t0}
}

func insertTokens(tb testing.TB, s regcase.Store, toks ...*regcase.APIToken) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error {
		for _, tok := range toks {
			if err := tx.InsertToken(tb.Context(), tok); err != nil {
				return err
			}
		}
		return nil
	})
}

func testTokens(t *testing.T, open opener) {
	t.Run("ErrDuplicateActiveName", func(t *testing.T) {
		s := open(t).Store
		first := newToken(t, "alice")
		insertTokens(t, s, first)
		err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertToken(t.Context(), newToken(t, "alice")) })
		if got, want := regcase.ErrorCodeOf(err), regcase.EConflict; got != want {
			t.Fatalf("second active token named alice: code %q, want %q", got, want)
		}
		mustTx(t, s, func(tx regcase.Tx) error { return tx.RevokeToken(t.Context(), first.ID, t0) })
		insertTokens(t, s, newToken(t, "alice")) // the name is free again once revoked
	})
	t.Run("GetTokenByHash", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want := newToken(t, "ci")
			insertTokens(t, s, want, newToken(t, "other"))
			got, err := s.GetTokenByHash(t.Context(), want.Hash)
			if err != nil {
				t.Fatalf("GetTokenByHash: %v", err)
			}
			wantNoDiff(t, "token", got, want)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			insertTokens(t, s, newToken(t, "ci"))
			_, err := s.GetTokenByHash(t.Context(), sha("unknown"))
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("InsertToken", func(t *testing.T) {
		t.Run("ErrConflictHash", func(t *testing.T) {
			s := open(t).Store
			first := newToken(t, "ci")
			insertTokens(t, s, first)
			dup := newToken(t, "copy")
			dup.Hash = first.Hash
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertToken(t.Context(), dup) })
			wantCode(t, err, regcase.EConflict)
		})
	})

	t.Run("ListTokens", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			a, b, c := newToken(t, "a"), newToken(t, "b"), newToken(t, "c")
			b.CreatedAt, c.CreatedAt = t0.Add(time.Hour), t0.Add(2*time.Hour)
			c.RevokedAt, c.LastUsed = ptr(t0.Add(3*time.Hour)), ptr(t0.Add(150*time.Minute))
			insertTokens(t, s, a, b, c)
			got, err := s.ListTokens(t.Context())
			if err != nil {
				t.Fatalf("ListTokens: %v", err)
			}
			byID := map[string]*regcase.APIToken{}
			for _, tok := range got {
				byID[tok.ID] = tok
			}
			want := map[string]*regcase.APIToken{a.ID: a, b.ID: b, c.ID: c}
			if len(got) != len(want) {
				t.Errorf("ListTokens returned %d tokens, want %d", len(got), len(want))
			}
			wantNoDiff(t, "tokens by id", byID, want)
		})
	})

	t.Run("RevokeToken", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			tok := newToken(t, "ci")
			insertTokens(t, s, tok)
			at := t0.Add(time.Hour)
			mustTx(t, s, func(tx regcase.Tx) error { return tx.RevokeToken(t.Context(), tok.ID, at) })
			got, err := s.GetTokenByHash(t.Context(), tok.Hash)
			if err != nil {
				t.Fatalf("GetTokenByHash: %v", err)
			}
			if got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
				t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, at)
			}
		})
		t.Run("ErrConflictAlreadyRevoked", func(t *testing.T) {
			s := open(t).Store
			tok := newToken(t, "ci")
			insertTokens(t, s, tok)
			first := t0.Add(time.Hour)
			mustTx(t, s, func(tx regcase.Tx) error { return tx.RevokeToken(t.Context(), tok.ID, first) })
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.RevokeToken(t.Context(), tok.ID, t0.Add(2*time.Hour)) })
			wantCode(t, err, regcase.EConflict)
			got, err := s.GetTokenByHash(t.Context(), tok.Hash)
			if err != nil {
				t.Fatalf("GetTokenByHash: %v", err)
			}
			if got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
				t.Errorf("RevokedAt = %v after a second revocation, want the first %v", got.RevokedAt, first)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.RevokeToken(t.Context(), newID(), t0) })
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("TouchToken", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			tok := newToken(t, "ci")
			insertTokens(t, s, tok)
			for _, at := range []time.Time{t0.Add(time.Minute), t0.Add(time.Hour)} {
				mustTx(t, s, func(tx regcase.Tx) error { return tx.TouchToken(t.Context(), tok.ID, at) })
				got, err := s.GetTokenByHash(t.Context(), tok.Hash)
				if err != nil {
					t.Fatalf("GetTokenByHash: %v", err)
				}
				if got.LastUsed == nil || !got.LastUsed.Equal(at) {
					t.Errorf("LastUsed = %v, want %v", got.LastUsed, at)
				}
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.TouchToken(t.Context(), newID(), t0) })
			wantCode(t, err, regcase.ENotFound)
		})
	})
}

func newEvent(tb testing.TB) *regcase.Event {
	tb.Helper()
	return &regcase.Event{
		ID: newID(), Type: "gov.regcase.report.received", Source: "/regcase", Subject: "reports/" + newID(),
		Time: t0, Data: json.RawMessage(`{"status":"received"}`), RequestID: "req-1", PartitionKey: newID(),
	}
}

func testOutbox(t *testing.T, open opener) {
	t.Run("InsertEvent", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			mustTx(t, s, func(tx regcase.Tx) error {
				for range 3 {
					if err := tx.InsertEvent(t.Context(), newEvent(t)); err != nil {
						return err
					}
				}
				return nil
			})
		})
		t.Run("ErrConflictDuplicateID", func(t *testing.T) {
			s := open(t).Store
			e := newEvent(t)
			mustTx(t, s, func(tx regcase.Tx) error { return tx.InsertEvent(t.Context(), e) })
			again := newEvent(t)
			again.ID = e.ID
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertEvent(t.Context(), again) })
			wantCode(t, err, regcase.EConflict)
		})
	})
}

func testInTx(t *testing.T, open opener) {
	// writeAll writes a report, its audit record and its event: one unit of
	// work as the service does it.
	writeAll := func(tx regcase.Tx, t *testing.T, r *regcase.Report, e *regcase.Event) error {
		if err := tx.InsertReport(t.Context(), r); err != nil {
			return err
		}
		if err := tx.AppendAudit(t.Context(), newAudit(t, regcase.ChainFor("report", r.ID), 1)); err != nil {
			return err
		}
		return tx.InsertEvent(t.Context(), e)
	}
	// wantAbsent checks that nothing of writeAll(r, e) was kept.
	wantAbsent := func(t *testing.T, s regcase.Store, r *regcase.Report, e *regcase.Event) {
		t.Helper()
		_, err := s.GetReport(t.Context(), r.ID)
		wantCode(t, err, regcase.ENotFound)
		recs, err := s.ListAudit(t.Context(), regcase.AuditFilter{})
		if err != nil || len(recs) != 0 {
			t.Errorf("ListAudit after rollback = %d records, %v; want none", len(recs), err)
		}
		heads, err := s.AuditHeads(t.Context())
		if err != nil || len(heads) != 0 {
			t.Errorf("AuditHeads after rollback = %v, %v; want none", heads, err)
		}
		// The outbox has no reader: an event ID that is free again proves
		// the event was rolled back.
		if err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertEvent(t.Context(), e) }); err != nil {
			t.Errorf("InsertEvent of the rolled-back event: %v, want it absent", err)
		}
	}

	t.Run("OKCommits", func(t *testing.T) {
		s := open(t).Store
		r, e := newReport(t), newEvent(t)
		mustTx(t, s, func(tx regcase.Tx) error { return writeAll(tx, t, r, e) })
		if _, err := s.GetReport(t.Context(), r.ID); err != nil {
			t.Errorf("GetReport: %v", err)
		}
		if recs, err := s.ListAudit(t.Context(), regcase.AuditFilter{}); err != nil || len(recs) != 1 {
			t.Errorf("ListAudit = %d records, %v; want 1", len(recs), err)
		}
		err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertEvent(t.Context(), e) })
		wantCode(t, err, regcase.EConflict)
	})

	t.Run("ErrRollsBack", func(t *testing.T) {
		s := open(t).Store
		r, e := newReport(t), newEvent(t)
		err := s.InTx(t.Context(), func(tx regcase.Tx) error {
			if err := writeAll(tx, t, r, e); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("InTx = %v, want the error of fn", err)
		}
		wantAbsent(t, s, r, e)
	})

	t.Run("PanicRollsBack", func(t *testing.T) {
		s := open(t).Store
		r, e := newReport(t), newEvent(t)
		func() {
			defer func() {
				if p := recover(); p != errBoom {
					t.Errorf("recovered %v, want the panic of fn to propagate", p)
				}
			}()
			_ = s.InTx(t.Context(), func(tx regcase.Tx) error {
				if err := writeAll(tx, t, r, e); err != nil {
					return err
				}
				panic(errBoom)
			})
		}()
		wantAbsent(t, s, r, e)
		// The store still works after the panic.
		insertReports(t, s, newReport(t))
	})

	t.Run("ErrPassesDomainErrorUnchanged", func(t *testing.T) {
		s := open(t).Store
		want := regcase.Errorf(regcase.EConflict, "illegal transition")
		err := s.InTx(t.Context(), func(regcase.Tx) error { return want })
		if !errors.Is(err, want) {
			t.Errorf("InTx = %v, want %v", err, want)
		}
	})
}
