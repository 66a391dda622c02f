package storetest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// bulkRecords is how many records testVerifyBulk writes:
// REGCASE_AUDIT_BULK_RECORDS, default 100,000 (10,000 under the race
// detector; BENCHMARKS.md takes the 1,000,000 figures with it).
func bulkRecords(tb testing.TB) int {
	if v := os.Getenv("REGCASE_AUDIT_BULK_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			tb.Fatalf("REGCASE_AUDIT_BULK_RECORDS=%q: want an integer >= 100", v)
		}
		return n
	}
	if raceEnabled {
		tb.Logf("race detector on: 10,000 records instead of 100,000")
		return 10_000
	}
	return 100_000
}

// testVerifyBulk writes n valid records (100 per chain, the chains
// interleaved, through a bulk path: multi-row INSERTs as the owner),
// sequences them all in one worker round, and verifies the whole log —
// chains, Merkle tree, signature and a witness copy of the checkpoint.
func testVerifyBulk(t *testing.T, open opener) {
	h := open(t)
	ctx := t.Context()
	n := bulkRecords(t)
	key := newKey(t)
	f := &verifyFixture{h: h}
	f.pgBytes = h.Exec(ctx, `SELECT decode('00', 'hex')`) == nil
	const perChain = 100
	chains := (n + perChain - 1) / perChain
	type head struct {
		seq  int64
		hash []byte
	}
	heads := make([]head, chains)
	start := time.Now()
	var rows []string
	flush := func() {
		if len(rows) == 0 {
			return
		}
		f.exec(t, `INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr, request_id, action, entity_type, entity_id, data, prev_hash, hash) VALUES `+
			strings.Join(rows, ", "))
		rows = rows[:0]
	}
	for i := range n {
		c := i % chains
		r := &regcase.AuditRecord{Chain: fmt.Sprintf("case:bulk-%06d", c), Time: t0.Add(time.Duration(i) * time.Microsecond),
			ActorID: "token:bulk", ActorRole: regcase.RoleSupervisor, Action: "case.updated", EntityType: "case",
			EntityID: fmt.Sprintf("bulk-%06d", c), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		r.Seal(heads[c].seq, heads[c].hash)
		heads[c] = head{r.Seq, r.Hash}
		rows = append(rows, fmt.Sprintf("('%s', %d, '%s', '%s', '%s', '', '', '%s', '%s', '%s', '%s', %s, %s)",
			r.Chain, r.Seq, r.Time.Format("2006-01-02T15:04:05.000000Z"), r.ActorID, r.ActorRole, r.Action, r.EntityType, r.EntityID,
			r.Data, f.blob(r.PrevHash), f.blob(r.Hash)))
		if len(rows) == 10000 {
			flush()
		}
	}
	flush()
	for c := 0; c < chains; c += 1000 {
		var hs []string
		for k := c; k < min(c+1000, chains); k++ {
			hs = append(hs, fmt.Sprintf("('case:bulk-%06d', %d, %s, 0)", k, heads[k].seq, f.blob(heads[k].hash)))
		}
		f.exec(t, `INSERT INTO audit_chains (chain, seq, head_hash, checkpointed_seq) VALUES `+strings.Join(hs, ", "))
	}
	wrote := time.Since(start)

	signer, _, err := regcase.NewNoteSigner(regcase.DefaultAuditOrigin, key)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	c, err := regcase.NewService(regcase.Deps{Store: h.worker()}).Sequence(ctx, signer)
	if err != nil || c == nil || c.Size != int64(n) {
		t.Fatalf("Sequence = %v, %v; want a checkpoint of size %d", c, err, n)
	}
	sequenced := time.Since(start)

	svc := regcase.NewService(regcase.Deps{Store: h.Store})
	start = time.Now()
	w := []regcase.WitnessCheckpoint{{Source: "witness", Size: c.Size, Root: c.Root, Note: c.Note}}
	res, err := svc.VerifyAudit(regcase.WithWitness(ctx, w), regcase.SystemActor("test"), key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	verified := time.Since(start)
	if !res.OK || res.Records != int64(n) || res.TreeSize != int64(n) || res.Chains != int64(chains) || !res.Signed || res.WitnessCheckpoints != 1 {
		t.Fatalf("verify of %d bulk records: ok %v, records %d, leaves %d, chains %d, signed %v, first %v",
			n, res.OK, res.Records, res.TreeSize, res.Chains, res.Signed, res.FirstBad)
	}
	t.Logf("%d records in %d chains: written in %s, sequenced + signed in %s, verified (chains, tree, signatures, witness) in %s",
		n, chains, wrote.Round(time.Millisecond), sequenced.Round(time.Millisecond), verified.Round(time.Millisecond))

	// Proofs against the big tree: latency and size (hashes of 32 bytes).
	aud := regcase.SystemActor("test")
	const proofs = 200
	start = time.Now()
	hashes := 0
	for i := range proofs {
		p, err := svc.ProveInclusion(ctx, aud, int64(1+(i*7919)%n), 0)
		if err != nil {
			t.Fatalf("ProveInclusion: %v", err)
		}
		hashes += len(p.Proof)
	}
	incl := time.Since(start) / proofs
	inclHashes := float64(hashes) / proofs

	// One more, smaller round on top: the steady-state cost of a checkpoint.
	const more = 1000
	for i := range more {
		r := newAudit(t, fmt.Sprintf("case:bulk-%06d", i%chains), i)
		mustTx(t, h.Store, func(tx regcase.Tx) error { return tx.AppendAudit(ctx, r) })
	}
	start = time.Now()
	c2, err := regcase.NewService(regcase.Deps{Store: h.worker()}).Sequence(ctx, signer)
	if err != nil || c2 == nil || c2.Size != int64(n+more) {
		t.Fatalf("second Sequence = %v, %v", c2, err)
	}
	round := time.Since(start)
	start = time.Now()
	cp, err := svc.ProveConsistency(ctx, aud, c.Size, c2.Size)
	if err != nil {
		t.Fatalf("ProveConsistency: %v", err)
	}
	cons := time.Since(start)
	t.Logf("inclusion proof: %.1f hashes (%.0f bytes) in %s each (mean of %d); consistency %d -> %d: %d hashes in %s; a round of %d new records on top: %s",
		inclHashes, inclHashes*32, incl.Round(time.Microsecond), proofs, c.Size, c2.Size, len(cp.Proof), cons.Round(time.Microsecond), more, round.Round(time.Millisecond))
}
