package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// testVerify drives the audit log through the domain service and checks
// that VerifyAudit detects each kind of tampering and names the record.
func testVerify(t *testing.T, open opener) {
	t.Run("OK", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		res := f.verify(t)
		if !res.OK {
			t.Fatalf("untouched log does not verify: %+v", res.FirstBad)
		}
		if !res.Signed || res.Checkpoints != 1 || res.Unanchored == 0 {
			t.Errorf("result = signed %v, checkpoints %d, unanchored %d; want true, 1, > 0", res.Signed, res.Checkpoints, res.Unanchored)
		}
	})
	t.Run("ErrModifiedField", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		r := f.record(t, f.caseChain, 2)
		f.exec(t, fmt.Sprintf(`UPDATE audit_records SET actor_id = 'someone-else' WHERE id = %d`, r.ID))
		f.wantBad(t, r.ID, "modified")
	})
	t.Run("ErrModifiedData", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		r := f.record(t, f.caseChain, 3)
		f.exec(t, fmt.Sprintf(`UPDATE audit_records SET data = '{"from":"open","to":"closed"}' WHERE id = %d`, r.ID))
		f.wantBad(t, r.ID, "modified")
	})
	t.Run("ErrDeletedRow", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		gone, next := f.record(t, f.caseChain, 2), f.record(t, f.caseChain, 3)
		f.exec(t, fmt.Sprintf(`DELETE FROM audit_records WHERE id = %d`, gone.ID))
		f.wantBad(t, next.ID, "deleted")
	})
	t.Run("ErrDeletedLastRecord", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		last := f.last(t, f.caseChain)
		f.exec(t, fmt.Sprintf(`DELETE FROM audit_records WHERE id = %d`, last.ID))
		res := f.verify(t)
		if res.OK || res.FirstBad == nil || res.FirstBad.Chain != f.caseChain {
			t.Fatalf("deleting the newest record: ok %v, first %+v; want a problem on %s", res.OK, res.FirstBad, f.caseChain)
		}
	})
	t.Run("ErrInsertedRow", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		last := f.last(t, f.caseChain)
		f.exec(t, fmt.Sprintf(`INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr, request_id, action, entity_type, entity_id, data, prev_hash, hash)
			SELECT chain, seq + 1, at, actor_id, actor_role, actor_addr, request_id, 'case.forged', entity_type, entity_id, data, hash, hash FROM audit_records WHERE id = %d`, last.ID))
		forged := f.record(t, f.caseChain, last.Seq+1)
		f.wantBad(t, forged.ID, "modified")
	})
	t.Run("ErrSwappedRows", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		a, b := f.record(t, f.caseChain, 2), f.record(t, f.caseChain, 3)
		// Swap the two records' sequence numbers: the order of history changes.
		f.exec(t, fmt.Sprintf(`UPDATE audit_records SET seq = -1 WHERE id = %d`, a.ID))
		f.exec(t, fmt.Sprintf(`UPDATE audit_records SET seq = 2 WHERE id = %d`, b.ID))
		f.exec(t, fmt.Sprintf(`UPDATE audit_records SET seq = 3 WHERE id = %d`, a.ID))
		res := f.verify(t)
		if res.OK || res.FirstBad == nil || (res.FirstBad.RecordID != a.ID && res.FirstBad.RecordID != b.ID) {
			t.Fatalf("swapped records %d and %d: ok %v, first %+v", a.ID, b.ID, res.OK, res.FirstBad)
		}
	})
	t.Run("ErrRecomputedHashes", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		// Rewrite from #2 on: every link stays consistent, so only the head
		// the checkpoint signed can tell — and verification names it.
		f.rewriteChain(t, f.caseChain, 2)
		f.wantBad(t, f.anchored(t, f.caseChain).ID, "checkpoint")
	})
	t.Run("ErrRewrittenCheckpoint", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		target := f.record(t, f.caseChain, 2)
		newHeads := f.rewriteChain(t, f.caseChain, target.Seq)
		// Also rewrite the anchored head and the checkpoint's own hash, as a
		// database administrator could — but cannot re-sign.
		for seq, h := range newHeads {
			f.exec(t, fmt.Sprintf(`UPDATE audit_checkpoint_heads SET hash = %s WHERE chain = '%s' AND seq = %d`, f.blob(h), f.caseChain, seq))
		}
		cps, err := f.store.ListCheckpoints(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		cp := cps[0]
		f.exec(t, fmt.Sprintf(`UPDATE audit_checkpoints SET hash = %s WHERE id = %d`, f.blob(cp.ComputeHash()), cp.ID))
		res := f.verify(t)
		if res.OK || res.FirstBad == nil || !strings.Contains(res.FirstBad.Reason, "signature") {
			t.Fatalf("rewritten checkpoint: ok %v, first %+v; want a signature failure", res.OK, res.FirstBad)
		}
		// Without the public key the rewrite would pass: that is why the key
		// lives outside the database.
		unsigned, err := f.svc.VerifyAudit(t.Context(), regcase.SystemActor("test"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !unsigned.OK {
			t.Errorf("without signatures the consistent rewrite should verify; got %+v", unsigned.FirstBad)
		}
	})
	t.Run("OKErasureKeepsChain", func(t *testing.T) {
		f := newVerifyFixture(t, open)
		if _, err := f.svc.Erase(t.Context(), f.sup, f.reportID, "data-protection request DP-1"); err != nil {
			t.Fatal(err)
		}
		r, err := f.store.GetReport(t.Context(), f.reportID)
		if err != nil {
			t.Fatal(err)
		}
		if r.WrappedKey != nil || r.ReporterCipher != nil || r.ErasedAt == nil {
			t.Errorf("after erasure key %v cipher %v erased %v; want nil, nil, set", r.WrappedKey != nil, r.ReporterCipher != nil, r.ErasedAt)
		}
		if _, rep, err := f.svc.GetReport(t.Context(), f.sup, f.reportID, true); err != nil || rep != nil {
			t.Errorf("after erasure GetReport with PII = %v, %v; want no reporter, no error", rep, err)
		}
		if res := f.verify(t); !res.OK {
			t.Fatalf("chain broken by erasure: %+v", res.FirstBad)
		}
	})
	testVerifyLiveState(t, open)
	t.Run("OK10000Records", func(t *testing.T) {
		h := open(t)
		ctx := t.Context()
		chains := 0
		for batch := 0; batch < 100; batch++ {
			err := h.Store.InTx(ctx, func(tx regcase.Tx) error {
				for i := 0; i < 100; i++ {
					chain := fmt.Sprintf("case:bulk-%d", (batch*100+i)%250)
					if err := tx.AppendAudit(ctx, &regcase.AuditRecord{Chain: chain, Time: time.Now(), ActorID: "bulk",
						ActorRole: regcase.RoleSupervisor, Action: "case.updated", EntityType: "case",
						EntityID: chain, Data: []byte(`{"n":1}`)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if batch == 49 {
				key := newKey(t)
				svc := regcase.NewService(regcase.Deps{Store: h.Store})
				if _, err := svc.Checkpoint(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
		}
		chains = 250
		svc := regcase.NewService(regcase.Deps{Store: h.Store})
		start := time.Now()
		res, err := svc.VerifyAudit(ctx, regcase.SystemActor("test"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Records != 10000 || res.Chains != int64(chains) {
			t.Fatalf("10k records: ok %v records %d chains %d first %+v", res.OK, res.Records, res.Chains, res.FirstBad)
		}
		t.Logf("verified %d records in %d chains in %s", res.Records, res.Chains, time.Since(start))
	})
}

func newKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

type verifyFixture struct {
	h         Harness
	store     regcase.Store
	svc       *regcase.Service
	key       ed25519.PrivateKey
	sup       regcase.Actor
	caseChain string
	reportID  string
	pgBytes   bool
}

// newVerifyFixture builds a small history: a report with a reporter, a
// case with several changes, a checkpoint, then more (unanchored) changes.
func newVerifyFixture(t *testing.T, open opener) *verifyFixture {
	t.Helper()
	h := open(t)
	ctx := t.Context()
	dataKey := make([]byte, 32)
	_, _ = rand.Read(dataKey)
	kr, err := regcase.NewKeyring(dataKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &verifyFixture{h: h, store: h.Store, key: newKey(t),
		svc: regcase.NewService(regcase.Deps{Store: h.Store, Keyring: kr}),
		sup: regcase.Actor{ID: "sam", Role: regcase.RoleSupervisor, Addr: "127.0.0.1"}}
	// PostgreSQL writes bytea as decode('…','hex'); SQLite as X'…'.
	f.pgBytes = h.Exec(ctx, `SELECT decode('00', 'hex')`) == nil
	sub, err := f.svc.Submit(ctx, regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}, regcase.SubmitReport{
		Channel: regcase.ChannelWeb, Category: "food_safety", Subject: regcase.Subject{Name: "Harbour Fish"},
		Description: "no ice", Reporter: &regcase.Reporter{Email: "r@example.org"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	f.reportID = sub.Report.ID
	_, c, err := f.svc.Triage(ctx, f.sup, sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{Priority: regcase.PriorityHigh}})
	if err != nil {
		t.Fatal(err)
	}
	f.caseChain = regcase.ChainFor("case", c.ID)
	if c, err = f.svc.Transition(ctx, f.sup, c.ID, c.Version, regcase.TransitionInput{To: "investigating", Assignee: "oidc:ivy"}); err != nil {
		t.Fatal(err)
	}
	if _, err = f.svc.AddNote(ctx, f.sup, c.ID, "called the market"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Checkpoint(ctx, f.key); err != nil {
		t.Fatal(err)
	}
	if c, err = f.svc.PauseSLA(ctx, f.sup, c.ID, c.Version, "waiting for lab results"); err != nil {
		t.Fatal(err)
	}
	if _, err = f.svc.ResumeSLA(ctx, f.sup, c.ID, c.Version); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *verifyFixture) verify(t *testing.T) *regcase.VerifyResult {
	t.Helper()
	res, err := f.svc.VerifyAudit(t.Context(), regcase.SystemActor("test"), f.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *verifyFixture) exec(t *testing.T, sql string) {
	t.Helper()
	if err := f.h.Exec(context.WithoutCancel(t.Context()), sql); err != nil {
		t.Fatalf("Exec(%s): %v", sql, err)
	}
}

func (f *verifyFixture) blob(b []byte) string {
	if f.pgBytes {
		return "decode('" + hex.EncodeToString(b) + "', 'hex')"
	}
	return "X'" + hex.EncodeToString(b) + "'"
}

func (f *verifyFixture) records(t *testing.T, chain string) []*regcase.AuditRecord {
	t.Helper()
	rs, err := f.store.ListAudit(t.Context(), regcase.AuditFilter{Chain: chain, Limit: regcase.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (f *verifyFixture) record(t *testing.T, chain string, seq int64) *regcase.AuditRecord {
	t.Helper()
	for _, r := range f.records(t, chain) {
		if r.Seq == seq {
			return r
		}
	}
	t.Fatalf("no record %s #%d", chain, seq)
	return nil
}

// anchored returns the record of chain that the first checkpoint signed.
func (f *verifyFixture) anchored(t *testing.T, chain string) *regcase.AuditRecord {
	t.Helper()
	cps, err := f.store.ListCheckpoints(t.Context())
	if err != nil || len(cps) == 0 {
		t.Fatalf("checkpoints: %v, %d", err, len(cps))
	}
	for _, h := range cps[0].Heads {
		if h.Chain == chain {
			return f.record(t, chain, h.Seq)
		}
	}
	t.Fatalf("checkpoint 1 does not anchor %s", chain)
	return nil
}

func (f *verifyFixture) last(t *testing.T, chain string) *regcase.AuditRecord {
	t.Helper()
	rs := f.records(t, chain)
	return rs[len(rs)-1]
}

// wantBad asserts that verification fails and names record id first, with
// a reason containing word.
func (f *verifyFixture) wantBad(t *testing.T, id int64, word string) {
	t.Helper()
	res := f.verify(t)
	if res.OK {
		t.Fatalf("tampered log verifies OK")
	}
	if res.FirstBad == nil || res.FirstBad.RecordID != id || !strings.Contains(res.FirstBad.Reason, word) {
		t.Fatalf("first bad = %+v; want record %d with a reason mentioning %q", res.FirstBad, id, word)
	}
}

// rewriteChain changes the data of record #from and recomputes every hash
// after it, as someone with database access but without the signing key
// could. It returns the new hashes by seq.
func (f *verifyFixture) rewriteChain(t *testing.T, chain string, from int64) map[int64][]byte {
	t.Helper()
	rs := f.records(t, chain)
	out := map[int64][]byte{}
	var prev []byte
	for _, r := range rs {
		if r.Seq < from {
			prev = r.Hash
			continue
		}
		if r.Seq == from {
			r.Data = []byte(`{"rewritten":true}`)
		}
		r.PrevHash = prev
		r.Hash = r.ComputeHash()
		prev = r.Hash
		out[r.Seq] = r.Hash
		f.exec(t, fmt.Sprintf(`UPDATE audit_records SET data = '%s', prev_hash = %s, hash = %s WHERE id = %d`,
			string(r.Data), f.blob(r.PrevHash), f.blob(r.Hash), r.ID))
	}
	f.exec(t, fmt.Sprintf(`UPDATE audit_chains SET head_hash = %s WHERE chain = '%s'`, f.blob(prev), chain))
	return out
}
