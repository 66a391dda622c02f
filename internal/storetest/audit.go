package storetest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// newAudit returns an unsealed record for chain. Its time has nanoseconds
// (Seal truncates them) and its data canonical JSON whose exact bytes the
// hash covers: a store that reformats it (jsonb) fails the suite.
func newAudit(tb testing.TB, chain string, i int) *regcase.AuditRecord {
	tb.Helper()
	data, err := regcase.CanonicalJSON(map[string]any{
		"n": i, "note": "é ✓ <b> & \"q\"", "amount": json.Number("1e3"), "list": []any{3, 1, 2},
	})
	if err != nil {
		tb.Fatalf("CanonicalJSON: %v", err)
	}
	return &regcase.AuditRecord{
		Chain:      chain,
		Time:       t0.Add(time.Duration(i)*time.Second + 789*time.Nanosecond),
		ActorID:    "user-1",
		ActorRole:  regcase.RoleSupervisor,
		ActorAddr:  "192.0.2.1",
		RequestID:  fmt.Sprintf("req-%d", i),
		Action:     "case.transitioned",
		EntityType: "case",
		EntityID:   chain,
		Data:       data,
	}
}

// appendAudit appends n records to chain, one transaction each, and
// returns them as sealed by the store.
func appendAudit(tb testing.TB, s regcase.Store, chain string, n int) []*regcase.AuditRecord {
	tb.Helper()
	var recs []*regcase.AuditRecord
	for i := range n {
		r := newAudit(tb, chain, i)
		mustTx(tb, s, func(tx regcase.Tx) error { return tx.AppendAudit(tb.Context(), r) })
		recs = append(recs, r)
	}
	return recs
}

// scanAll returns every record in ScanAudit order.
func scanAll(tb testing.TB, s regcase.Store) []*regcase.AuditRecord {
	tb.Helper()
	var recs []*regcase.AuditRecord
	if err := s.ScanAudit(tb.Context(), func(r *regcase.AuditRecord) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		tb.Fatalf("ScanAudit: %v", err)
	}
	return recs
}

// wantChained checks that recs, one chain in seq order, are seq 1..n, each
// linked to the previous hash and hashed correctly.
func wantChained(tb testing.TB, recs []*regcase.AuditRecord) {
	tb.Helper()
	prev := make([]byte, regcase.HashSize)
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			tb.Errorf("%s: record %d has seq %d, want %d", r.Chain, i, r.Seq, i+1)
		}
		if !bytes.Equal(r.PrevHash, prev) {
			tb.Errorf("%s seq %d: prev_hash %x, want %x", r.Chain, r.Seq, r.PrevHash, prev)
		}
		if !bytes.Equal(r.Hash, r.ComputeHash()) {
			tb.Errorf("%s seq %d: hash %x, recomputed %x", r.Chain, r.Seq, r.Hash, r.ComputeHash())
		}
		prev = r.Hash
	}
}

func byChain(recs []*regcase.AuditRecord) map[string][]*regcase.AuditRecord {
	m := map[string][]*regcase.AuditRecord{}
	for _, r := range recs {
		m[r.Chain] = append(m[r.Chain], r)
	}
	return m
}

func auditIDs(recs []*regcase.AuditRecord) []string {
	ids := []string{}
	for _, r := range recs {
		ids = append(ids, fmt.Sprint(r.ID))
	}
	return ids
}

func testAudit(t *testing.T, open opener) {
	// seed appends interleaved records to three chains (one transaction
	// appending two records to the same chain) and returns them in append
	// order.
	seed := func(t *testing.T, s regcase.Store) []*regcase.AuditRecord {
		t.Helper()
		var all []*regcase.AuditRecord
		chains := []string{"case:b", "case:a", "report:c"}
		for i := range 3 {
			for _, ch := range chains {
				r := newAudit(t, ch, i)
				mustTx(t, s, func(tx regcase.Tx) error { return tx.AppendAudit(t.Context(), r) })
				all = append(all, r)
			}
		}
		r1, r2 := newAudit(t, "case:a", 10), newAudit(t, "case:a", 11)
		mustTx(t, s, func(tx regcase.Tx) error {
			if err := tx.AppendAudit(t.Context(), r1); err != nil {
				return err
			}
			return tx.AppendAudit(t.Context(), r2)
		})
		return append(all, r1, r2)
	}

	t.Run("AppendAudit", func(t *testing.T) {
		t.Run("OKSequencedAndLinked", func(t *testing.T) {
			s := open(t).Store
			all := seed(t, s)
			for i := 1; i < len(all); i++ {
				if all[i].ID <= all[i-1].ID {
					t.Errorf("record IDs not increasing in append order: %v", auditIDs(all))
					break
				}
			}
			for chain, recs := range byChain(all) {
				wantChained(t, recs)
				if chain == "case:a" && len(recs) != 5 {
					t.Errorf("case:a has %d records, want 5", len(recs))
				}
			}
			if got := all[0].Time; got.Nanosecond()%1000 != 0 {
				t.Errorf("sealed time %v keeps nanoseconds, want microseconds", got)
			}
		})
	})

	t.Run("ScanAudit", func(t *testing.T) {
		t.Run("OKReadsBackExactly", func(t *testing.T) {
			s := open(t).Store
			all := seed(t, s)
			appended := map[int64]*regcase.AuditRecord{}
			for _, r := range all {
				appended[r.ID] = r
			}
			got := scanAll(t, s)
			if len(got) != len(all) {
				t.Fatalf("ScanAudit returned %d records, want %d", len(got), len(all))
			}
			if !sort.SliceIsSorted(got, func(i, j int) bool {
				return got[i].Chain < got[j].Chain || (got[i].Chain == got[j].Chain && got[i].Seq < got[j].Seq)
			}) {
				t.Errorf("ScanAudit order is not (chain, seq)")
			}
			for _, r := range got {
				want := appended[r.ID]
				if want == nil {
					t.Errorf("ScanAudit returned unknown record %d", r.ID)
					continue
				}
				wantNoDiff(t, fmt.Sprintf("record %d", r.ID), r, want)
				if !bytes.Equal(r.Data, want.Data) {
					t.Errorf("record %d data = %s, want the exact bytes %s", r.ID, r.Data, want.Data)
				}
			}
			for _, recs := range byChain(got) {
				wantChained(t, recs)
			}
		})
		t.Run("ErrFromFnStops", func(t *testing.T) {
			s := open(t).Store
			seed(t, s)
			calls := 0
			err := s.ScanAudit(t.Context(), func(*regcase.AuditRecord) error {
				calls++
				return errBoom
			})
			if !errors.Is(err, errBoom) || calls != 1 {
				t.Errorf("ScanAudit = %v after %d calls, want errBoom after 1", err, calls)
			}
		})
	})

	t.Run("ListAudit", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			all := seed(t, s)
			ctx := t.Context()

			got, err := s.ListAudit(ctx, regcase.AuditFilter{})
			if err != nil {
				t.Fatalf("ListAudit: %v", err)
			}
			wantIDs(t, auditIDs(got), auditIDs(all))
			for i, r := range got {
				wantNoDiff(t, fmt.Sprintf("record %d", r.ID), r, all[i])
			}

			got, err = s.ListAudit(ctx, regcase.AuditFilter{AfterID: all[2].ID})
			if err != nil {
				t.Fatalf("ListAudit(AfterID): %v", err)
			}
			wantIDs(t, auditIDs(got), auditIDs(all[3:]))

			got, err = s.ListAudit(ctx, regcase.AuditFilter{Chain: "case:a"})
			if err != nil {
				t.Fatalf("ListAudit(Chain): %v", err)
			}
			wantIDs(t, auditIDs(got), auditIDs(byChain(all)["case:a"]))

			got, err = s.ListAudit(ctx, regcase.AuditFilter{Chain: "case:a", AfterID: byChain(all)["case:a"][1].ID, Limit: 2})
			if err != nil {
				t.Fatalf("ListAudit(Chain, AfterID, Limit): %v", err)
			}
			wantIDs(t, auditIDs(got), auditIDs(byChain(all)["case:a"][2:4]))
		})
	})

	t.Run("AuditHeads", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			all := seed(t, s)
			want := map[string]regcase.ChainHead{}
			for chain, recs := range byChain(all) {
				last := recs[len(recs)-1]
				want[chain] = regcase.ChainHead{Chain: chain, Seq: last.Seq, Hash: last.Hash}
			}
			got, err := s.AuditHeads(t.Context())
			if err != nil {
				t.Fatalf("AuditHeads: %v", err)
			}
			if len(got) != len(want) {
				t.Errorf("AuditHeads has %d chains, want %d", len(got), len(want))
			}
			wantNoDiff(t, "heads", got, want)
		})
		t.Run("OKEmpty", func(t *testing.T) {
			s := open(t).Store
			got, err := s.AuditHeads(t.Context())
			if err != nil || len(got) != 0 {
				t.Errorf("AuditHeads of an empty log = %v, %v; want none", got, err)
			}
		})
	})
}

// checkpointKey is a fixed signing key, so failures reproduce.
var checkpointKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// checkpoint runs one checkpoint as the service does: lock, read the
// pending heads, sign, insert. It returns the checkpoint, or nil when no
// chain moved.
func checkpoint(tb testing.TB, s regcase.Store, at time.Time) *regcase.Checkpoint {
	tb.Helper()
	var c *regcase.Checkpoint
	mustTx(tb, s, func(tx regcase.Tx) error {
		last, err := tx.LastCheckpoint(tb.Context())
		if err != nil && regcase.ErrorCodeOf(err) != regcase.ENotFound {
			return err
		}
		heads, err := tx.PendingHeads(tb.Context())
		if err != nil || len(heads) == 0 {
			return err
		}
		c = &regcase.Checkpoint{ID: 1, Time: at, Heads: heads}
		if last != nil {
			c.ID = last.ID + 1
		}
		regcase.SignCheckpoint(c, last, checkpointKey)
		return tx.InsertCheckpoint(tb.Context(), c)
	})
	return c
}

// pending returns the pending heads, sorted by chain.
func pending(tb testing.TB, s regcase.Store) []regcase.ChainHead {
	tb.Helper()
	var heads []regcase.ChainHead
	mustTx(tb, s, func(tx regcase.Tx) error {
		var err error
		heads, err = tx.PendingHeads(tb.Context())
		return err
	})
	sort.Slice(heads, func(i, j int) bool { return heads[i].Chain < heads[j].Chain })
	return heads
}

func head(r *regcase.AuditRecord) regcase.ChainHead {
	return regcase.ChainHead{Chain: r.Chain, Seq: r.Seq, Hash: r.Hash}
}

func testCheckpoints(t *testing.T, open opener) {
	t.Run("LastCheckpoint", func(t *testing.T) {
		t.Run("ErrNotFound", func(t *testing.T) {
			s := open(t).Store
			appendAudit(t, s, "case:a", 1)
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				_, err := tx.LastCheckpoint(t.Context())
				return err
			})
			wantCode(t, err, regcase.ENotFound)
		})
	})

	t.Run("OKFlow", func(t *testing.T) {
		s := open(t).Store
		a := appendAudit(t, s, "case:a", 2)
		b := appendAudit(t, s, "case:b", 1)

		wantNoDiff(t, "pending heads", pending(t, s), []regcase.ChainHead{head(a[1]), head(b[0])})
		c1 := checkpoint(t, s, t0.Add(time.Hour))
		if c1 == nil {
			t.Fatalf("no first checkpoint")
		}
		if got := pending(t, s); len(got) != 0 {
			t.Errorf("pending heads after a checkpoint = %v, want none", got)
		}
		mustTx(t, s, func(tx regcase.Tx) error {
			last, err := tx.LastCheckpoint(t.Context())
			if err != nil {
				return err
			}
			wantNoDiff(t, "last checkpoint", last, c1)
			return nil
		})

		b = append(b, appendAudit(t, s, "case:b", 1)...)
		wantNoDiff(t, "pending heads", pending(t, s), []regcase.ChainHead{head(b[1])})
		c2 := checkpoint(t, s, t0.Add(2*time.Hour))
		if c2 == nil {
			t.Fatalf("no second checkpoint")
		}

		got, err := s.ListCheckpoints(t.Context())
		if err != nil {
			t.Fatalf("ListCheckpoints: %v", err)
		}
		wantNoDiff(t, "checkpoints", got, []*regcase.Checkpoint{c1, c2})
		for i, c := range got {
			if !bytes.Equal(c.Hash, c.ComputeHash()) {
				t.Errorf("checkpoint %d: hash %x, recomputed %x", c.ID, c.Hash, c.ComputeHash())
			}
			if !ed25519.Verify(checkpointKey.Public().(ed25519.PublicKey), c.Hash, c.Signature) {
				t.Errorf("checkpoint %d: signature does not verify", c.ID)
			}
			if i > 0 && !bytes.Equal(c.PrevHash, got[i-1].Hash) {
				t.Errorf("checkpoint %d: prev_hash %x, want %x", c.ID, c.PrevHash, got[i-1].Hash)
			}
		}
		if got := pending(t, s); len(got) != 0 {
			t.Errorf("pending heads after the second checkpoint = %v, want none", got)
		}
	})

	t.Run("ErrConflictDuplicateID", func(t *testing.T) {
		s := open(t).Store
		appendAudit(t, s, "case:a", 1)
		c1 := checkpoint(t, s, t0)
		appendAudit(t, s, "case:a", 1)
		err := s.InTx(t.Context(), func(tx regcase.Tx) error {
			heads, err := tx.PendingHeads(t.Context())
			if err != nil {
				return err
			}
			c := &regcase.Checkpoint{ID: c1.ID, Time: t0, Heads: heads}
			regcase.SignCheckpoint(c, nil, checkpointKey)
			return tx.InsertCheckpoint(t.Context(), c)
		})
		wantCode(t, err, regcase.EConflict)
	})
}

// testTamper checks that Harness.Exec reaches past the audit tables'
// protections and that reads show the tampering as stored (no cache hides
// it), which is what the verifier relies on.
func testTamper(t *testing.T, open opener) {
	t.Run("OKUpdateShows", func(t *testing.T) {
		h := open(t)
		appendAudit(t, h.Store, "case:t", 3)
		if err := h.Exec(t.Context(), `UPDATE audit_records SET action = 'tampered' WHERE chain = 'case:t' AND seq = 2`); err != nil {
			t.Fatalf("Exec: %v", err)
		}
		recs := scanAll(t, h.Store)
		if len(recs) != 3 || recs[1].Action != "tampered" {
			t.Fatalf("after tampering, records = %d, second action %q; want 3, %q", len(recs), recs[1].Action, "tampered")
		}
		if bytes.Equal(recs[1].Hash, recs[1].ComputeHash()) {
			t.Errorf("a tampered record still hashes correctly")
		}
		// The store keeps working after Exec.
		more := appendAudit(t, h.Store, "case:t", 1)
		if more[0].Seq != 4 {
			t.Errorf("next append has seq %d, want 4", more[0].Seq)
		}
	})

	t.Run("OKDeleteShows", func(t *testing.T) {
		h := open(t)
		appendAudit(t, h.Store, "case:t", 3)
		if err := h.Exec(t.Context(), `DELETE FROM audit_records WHERE chain = 'case:t' AND seq = 2`); err != nil {
			t.Fatalf("Exec: %v", err)
		}
		var seqs []int64
		for _, r := range scanAll(t, h.Store) {
			seqs = append(seqs, r.Seq)
		}
		if fmt.Sprint(seqs) != "[1 3]" {
			t.Errorf("seqs after deleting seq 2 = %v, want [1 3]", seqs)
		}
	})

	t.Run("OKCheckpointUpdateShows", func(t *testing.T) {
		h := open(t)
		appendAudit(t, h.Store, "case:t", 1)
		checkpoint(t, h.Store, t0)
		if err := h.Exec(t.Context(), `UPDATE audit_checkpoint_heads SET seq = 99 WHERE checkpoint_id = 1`); err != nil {
			t.Fatalf("Exec: %v", err)
		}
		if err := h.Exec(t.Context(), `UPDATE audit_checkpoints SET key_id = 'forged' WHERE id = 1`); err != nil {
			t.Fatalf("Exec: %v", err)
		}
		got, err := h.Store.ListCheckpoints(t.Context())
		if err != nil {
			t.Fatalf("ListCheckpoints: %v", err)
		}
		if len(got) != 1 || got[0].KeyID != "forged" || len(got[0].Heads) != 1 || got[0].Heads[0].Seq != 99 {
			t.Errorf("tampered checkpoint reads back as %+v", got)
		}
	})
}
