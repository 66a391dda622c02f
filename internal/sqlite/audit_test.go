package sqlite

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func testRecord(chain string, at time.Time) *regcase.AuditRecord {
	return &regcase.AuditRecord{Chain: chain, Time: at, ActorID: "token:test", ActorRole: regcase.RoleIntake,
		Action: "report.received", EntityType: "report", EntityID: chain, Data: json.RawMessage(`{"a":1}`)}
}

// AppendAudit creates a chain with its first record as head and moves the
// head with every later record; each record links to the one before and
// its hash verifies.
func TestAppendAuditStartsAndExtendsChains(t *testing.T) {
	db := migratedDB(t)
	ctx := t.Context()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var recs []*regcase.AuditRecord
	for i := range 3 {
		r := testRecord("report:a", at.Add(time.Duration(i)*time.Second))
		if err := db.InTx(ctx, func(tx regcase.Tx) error { return tx.AppendAudit(ctx, r) }); err != nil {
			t.Fatal(err)
		}
		prev := make([]byte, regcase.HashSize)
		if i > 0 {
			prev = recs[i-1].Hash
		}
		if r.Seq != int64(i+1) || !bytes.Equal(r.PrevHash, prev) || !bytes.Equal(r.Hash, r.ComputeHash()) {
			t.Fatalf("record %d: seq %d prev %x (want %d, %x), hash verifies %v",
				i, r.Seq, r.PrevHash, i+1, prev, bytes.Equal(r.Hash, r.ComputeHash()))
		}
		recs = append(recs, r)
	}
	other := testRecord("report:b", at)
	if err := db.InTx(ctx, func(tx regcase.Tx) error { return tx.AppendAudit(ctx, other) }); err != nil {
		t.Fatal(err)
	}

	heads, err := db.AuditHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := heads["report:a"]; h.Seq != 3 || !bytes.Equal(h.Hash, recs[2].Hash) {
		t.Fatalf("head of report:a: %+v, want seq 3 hash %x", h, recs[2].Hash)
	}
	if h := heads["report:b"]; h.Seq != 1 || !bytes.Equal(h.Hash, other.Hash) {
		t.Fatalf("head of report:b: %+v, want seq 1 hash %x", h, other.Hash)
	}
	stored, err := db.ListAudit(ctx, regcase.AuditFilter{Chain: "report:a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("%d records on report:a, want 3", len(stored))
	}
	for i, r := range stored {
		if r.ID != recs[i].ID || r.Seq != int64(i+1) || !bytes.Equal(r.Hash, recs[i].Hash) || !bytes.Equal(r.Hash, r.ComputeHash()) {
			t.Fatalf("stored record %d: id %d seq %d, does not match what was appended or does not verify", i, r.ID, r.Seq)
		}
	}
}
