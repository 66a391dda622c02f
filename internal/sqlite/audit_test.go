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

// startChain is the intake's shortcut for a new chain: the chain it leaves
// (records and head) is the one AppendAudit would have left, and on a chain
// that exists it appends after the head instead.
func TestStartChainMatchesAppendAudit(t *testing.T) {
	db := migratedDB(t)
	ctx := t.Context()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	short, general := testRecord("report:short", at), testRecord("report:general", at)
	if err := db.InTx(ctx, func(t regcase.Tx) error { return t.(*tx).startChain(ctx, short) }); err != nil {
		t.Fatal(err)
	}
	if err := db.InTx(ctx, func(t regcase.Tx) error { return t.AppendAudit(ctx, general) }); err != nil {
		t.Fatal(err)
	}
	if short.Seq != 1 || general.Seq != 1 || !bytes.Equal(short.PrevHash, general.PrevHash) {
		t.Fatalf("first records differ: seq %d/%d prev %x/%x", short.Seq, general.Seq, short.PrevHash, general.PrevHash)
	}
	if !bytes.Equal(short.Hash, short.ComputeHash()) {
		t.Fatal("the shortcut's record hash does not verify")
	}

	// A second record on the started chain (the general path) links to it.
	next := testRecord("report:short", at.Add(time.Second))
	if err := db.InTx(ctx, func(t regcase.Tx) error { return t.AppendAudit(ctx, next) }); err != nil {
		t.Fatal(err)
	}
	if next.Seq != 2 || !bytes.Equal(next.PrevHash, short.Hash) {
		t.Fatalf("second record: seq %d prev %x, want 2 and %x", next.Seq, next.PrevHash, short.Hash)
	}
	// The shortcut on a chain that exists appends after its head.
	again := testRecord("report:short", at.Add(2*time.Second))
	if err := db.InTx(ctx, func(t regcase.Tx) error { return t.(*tx).startChain(ctx, again) }); err != nil {
		t.Fatal(err)
	}
	if again.Seq != 3 || !bytes.Equal(again.PrevHash, next.Hash) {
		t.Fatalf("startChain on an existing chain: seq %d prev %x, want 3 and %x", again.Seq, again.PrevHash, next.Hash)
	}

	heads, err := db.AuditHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := heads["report:short"]; h.Seq != 3 || !bytes.Equal(h.Hash, again.Hash) {
		t.Fatalf("head of the started chain: %+v, want seq 3 hash %x", h, again.Hash)
	}
	if h := heads["report:general"]; h.Seq != 1 || !bytes.Equal(h.Hash, general.Hash) {
		t.Fatalf("head of the general chain: %+v", h)
	}
	recs, err := db.ListAudit(ctx, regcase.AuditFilter{Chain: "report:short"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records on the started chain, want 3", len(recs))
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) || !bytes.Equal(r.Hash, r.ComputeHash()) {
			t.Fatalf("record %d: seq %d, hash verifies %v", i, r.Seq, bytes.Equal(r.Hash, r.ComputeHash()))
		}
	}
}
