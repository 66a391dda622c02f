package storetest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/regcase/regcase/internal/regcase"
)

// testMerkle drives the Merkle log: sequencing, signed tree checkpoints,
// proofs checked with the library's own verifiers (tlog.CheckRecord,
// tlog.CheckTree), and `verify --witness` against every way a database
// holder without the signing key could rewrite history.
func testMerkle(t *testing.T, open opener) {
	t.Run("OK", func(t *testing.T) {
		f := newMerkleFixture(t, open)
		res := f.verifyWitness(t, f.ws)
		if !res.OK {
			t.Fatalf("untouched log does not verify: %v", res.FirstBad)
		}
		if res.TreeSize != res.Records || res.Unsequenced != 0 || res.TreeCheckpoints != len(f.ws) || res.WitnessCheckpoints != len(f.ws) {
			t.Errorf("tree %d leaves for %d records (%d unsequenced), %d tree checkpoints, %d witnessed; want every record a leaf and %d checkpoints",
				res.TreeSize, res.Records, res.Unsequenced, res.TreeCheckpoints, res.WitnessCheckpoints, len(f.ws))
		}
	})
	t.Run("CheckpointEvents", func(t *testing.T) {
		f := newMerkleFixture(t, open)
		evs, err := f.store.PendingOutbox(t.Context(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		var got []regcase.TreeCheckpointEvent
		for _, e := range evs {
			if e.Type != regcase.CheckpointEventType {
				continue
			}
			var d regcase.TreeCheckpointEvent
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatalf("event data %s: %v", e.Data, err)
			}
			got = append(got, d)
		}
		if len(got) != len(f.ws) {
			t.Fatalf("%d %s events, want one per checkpoint (%d)", len(got), regcase.CheckpointEventType, len(f.ws))
		}
		for i, d := range got {
			w, err := regcase.ParseWitness("event", []byte(d.Note), keysOf(f.key))
			if err != nil || w.Size != f.ws[i].Size || w.Root != f.ws[i].Root || d.TreeSize != w.Size || d.Origin != regcase.DefaultAuditOrigin {
				t.Fatalf("event %d = %+v (%v); want the signed checkpoint of size %d", i, d, err, f.ws[i].Size)
			}
		}
	})
	t.Run("ProofsCheckWithTlog", func(t *testing.T) { testProofs(t, open) })
	t.Run("LateCommitIsNotSkipped", func(t *testing.T) { testLateCommit(t, open) })
	t.Run("KeyRotation", func(t *testing.T) { testKeyRotation(t, open) })
	t.Run("Verify100k", func(t *testing.T) { testVerifyBulk(t, open) })
	t.Run("ErrTreeHashAltered", func(t *testing.T) {
		f := newMerkleFixture(t, open)
		f.exec(t, fmt.Sprintf(`UPDATE audit_tree_hashes SET hash = %s WHERE idx = 3`, f.blob(make([]byte, 32))))
		res := f.verify(t)
		if res.OK || res.FirstBad == nil || !strings.Contains(res.FirstBad.Reason, "stored tree hash 3") {
			t.Fatalf("altered stored hash: ok %v, first %v; want stored tree hash 3 named", res.OK, res.FirstBad)
		}
	})
	t.Run("ErrLeafOfDeletedRecord", func(t *testing.T) {
		f := newMerkleFixture(t, open)
		l := f.leaves(t)[f.sizes[0]+1]
		f.exec(t, fmt.Sprintf(`DELETE FROM audit_records WHERE id = %d`, l.RecordID))
		res := f.verify(t)
		if res.OK || !hasProblem(res, func(p regcase.AuditProblem) bool {
			return p.TreeSize == l.Index+1 && strings.Contains(p.Reason, "missing")
		}) {
			t.Fatalf("deleted record %d (leaf %d): ok %v, problems %v", l.RecordID, l.Index, res.OK, res.Problems)
		}
	})

	// Each attack below is what someone holding the database, but not the
	// signing key, can do; want is the index in f.sizes of the first
	// witness checkpoint the attack breaks.
	attacks := []struct {
		name   string
		dbOnly bool // the database alone still verifies: only a witness can tell
		want   int
		do     func(t *testing.T, f *merkleFixture)
	}{
		{"ErrTailTruncation", true, 2, func(t *testing.T, f *merkleFixture) {
			// Drop the newest two checkpoints and every record they anchored.
			f.truncate(t, f.sizes[1])
		}},
		{"ErrChainRollback", false, 2, func(t *testing.T, f *merkleFixture) {
			// Roll the case's chain back to its state at checkpoint 2.
			var gone []int64
			for _, l := range f.leaves(t)[f.sizes[1]:] {
				if f.chainOf(t, l.RecordID) == f.caseChain {
					gone = append(gone, l.RecordID)
				}
			}
			f.exec(t, `DELETE FROM audit_records WHERE id IN (`+joinIDs(gone)+`)`)
			f.fixChains(t)
			f.rebuildTree(t, nil)
		}},
		{"ErrDeletedInTheMiddle", false, 1, func(t *testing.T, f *merkleFixture) {
			victim := f.caseLeafIn(t, f.sizes[0], f.sizes[1])
			f.exec(t, fmt.Sprintf(`DELETE FROM audit_records WHERE id = %d`, victim.RecordID))
			f.recomputeChain(t, f.caseChain, nil)
			f.rebuildTree(t, nil)
		}},
		{"ErrInsertedInTheMiddle", false, 1, func(t *testing.T, f *merkleFixture) {
			after := f.caseLeafIn(t, f.sizes[0], f.sizes[1])
			f.exec(t, fmt.Sprintf(`INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr, request_id, action, entity_type, entity_id, data, prev_hash, hash)
				SELECT chain, -1, at, actor_id, actor_role, actor_addr, request_id, 'case.forged', entity_type, entity_id, data, hash, hash FROM audit_records WHERE id = %d`, after.RecordID))
			forged := f.record(t, f.caseChain, -1)
			var chainOrder []int64
			for _, r := range f.records(t, f.caseChain) {
				if r.ID == forged.ID {
					continue
				}
				chainOrder = append(chainOrder, r.ID)
				if r.ID == after.RecordID {
					chainOrder = append(chainOrder, forged.ID)
				}
			}
			f.recomputeChain(t, f.caseChain, chainOrder)
			var order []int64
			for _, l := range f.leaves(t) {
				order = append(order, l.RecordID)
				if l.RecordID == after.RecordID {
					order = append(order, forged.ID)
				}
			}
			f.rebuildTree(t, order)
		}},
		{"ErrReordered", true, 1, func(t *testing.T, f *merkleFixture) {
			var order []int64
			for _, l := range f.leaves(t) {
				order = append(order, l.RecordID)
			}
			i := f.sizes[0]
			order[i], order[i+1] = order[i+1], order[i]
			f.rebuildTree(t, order)
		}},
		{"ErrEveryHashRecomputed", true, 1, func(t *testing.T, f *merkleFixture) {
			victim := f.caseLeafIn(t, f.sizes[0], f.sizes[1])
			f.exec(t, fmt.Sprintf(`UPDATE audit_records SET data = '{"rewritten":true}' WHERE id = %d`, victim.RecordID))
			f.recomputeChain(t, f.caseChain, nil)
			f.rebuildTree(t, nil)
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			f := newMerkleFixture(t, open)
			a.do(t, f)
			if res := f.verify(t); a.dbOnly && !res.OK {
				t.Fatalf("the attack is not the one intended: the database alone already fails: %v", res.FirstBad)
			}
			res := f.verifyWitness(t, f.ws)
			want := f.ws[a.want]
			if res.OK || res.FirstBad == nil || res.FirstBad.Witness != want.Source || res.FirstBad.TreeSize != want.Size {
				t.Fatalf("verify --witness: ok %v, first %v; want the witness checkpoint %s (tree size %d) named first",
					res.OK, res.FirstBad, want.Source, want.Size)
			}
			// The older witness checkpoints are still consistent.
			if res := f.verifyWitness(t, f.ws[:a.want]); hasProblem(res, func(p regcase.AuditProblem) bool { return p.Witness != "" }) {
				t.Errorf("witness checkpoints before the attack are reported: %v", res.FirstBad)
			}
		})
	}
}

func hasProblem(res *regcase.VerifyResult, match func(regcase.AuditProblem) bool) bool {
	for _, p := range res.Problems {
		if match(p) {
			return true
		}
	}
	return false
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

type merkleFixture struct {
	*verifyFixture
	seqSvc *regcase.Service // on the worker's store
	signer note.Signer
	caseID string
	ws     []regcase.WitnessCheckpoint // every checkpoint, as a witness keeps it
	sizes  []int64
}

// newMerkleFixture builds the verify fixture's history, then four rounds of
// changes (three notes on the case), each sequenced and
// checkpointed by the worker's store, and keeps every checkpoint as a
// witness would.
func newMerkleFixture(t *testing.T, open opener) *merkleFixture {
	t.Helper()
	vf := newVerifyFixture(t, open)
	signer, _, err := regcase.NewNoteSigner(regcase.DefaultAuditOrigin, vf.key)
	if err != nil {
		t.Fatal(err)
	}
	f := &merkleFixture{verifyFixture: vf, signer: signer, caseID: strings.TrimPrefix(vf.caseChain, "case:"),
		seqSvc: regcase.NewService(regcase.Deps{Store: vf.h.worker()})}
	for r := range 4 {
		f.round(t, r)
	}
	return f
}

// round adds three notes to the case and checkpoints them.
func (f *merkleFixture) round(t *testing.T, r int) {
	t.Helper()
	ctx := t.Context()
	for i := range 3 {
		if _, err := f.svc.AddNote(ctx, f.sup, f.caseID, fmt.Sprintf("round %d note %d", r, i)); err != nil {
			t.Fatal(err)
		}
	}
	f.sequence(t)
}

func (f *merkleFixture) sequence(t *testing.T) *regcase.TreeCheckpoint {
	t.Helper()
	c, err := f.seqSvc.Sequence(t.Context(), f.signer)
	if err != nil {
		t.Fatalf("Sequence: %v", err)
	}
	if c == nil {
		t.Fatal("Sequence signed nothing although records were added")
	}
	f.ws = append(f.ws, regcase.WitnessCheckpoint{Source: fmt.Sprintf("witness/checkpoint.%d", c.Size), Size: c.Size, Root: c.Root, Note: c.Note})
	f.sizes = append(f.sizes, c.Size)
	return c
}

func (f *merkleFixture) verifyWitness(t *testing.T, ws []regcase.WitnessCheckpoint) *regcase.VerifyResult {
	t.Helper()
	res, err := f.svc.VerifyAudit(regcase.WithWitness(t.Context(), ws), regcase.SystemActor("test"), f.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *merkleFixture) leaves(t *testing.T) []*regcase.Leaf {
	t.Helper()
	var out []*regcase.Leaf
	if err := f.store.ScanLeaves(t.Context(), func(l *regcase.Leaf) error { out = append(out, l); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// allRecords returns every record by ID.
func (f *merkleFixture) allRecords(t *testing.T) map[int64]*regcase.AuditRecord {
	t.Helper()
	m := map[int64]*regcase.AuditRecord{}
	if err := f.store.ScanAudit(t.Context(), func(r *regcase.AuditRecord) error { m[r.ID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *merkleFixture) chainOf(t *testing.T, id int64) string {
	t.Helper()
	return f.allRecords(t)[id].Chain
}

// caseLeafIn returns a leaf of the case's chain with index in [lo, hi).
func (f *merkleFixture) caseLeafIn(t *testing.T, lo, hi int64) *regcase.Leaf {
	t.Helper()
	recs := f.allRecords(t)
	for _, l := range f.leaves(t)[lo:hi] {
		if recs[l.RecordID].Chain == f.caseChain {
			return l
		}
	}
	t.Fatalf("no leaf of %s in [%d, %d)", f.caseChain, lo, hi)
	return nil
}

// truncate cuts the log back to size leaves: records, leaves, stored
// hashes and checkpoints beyond it are deleted and the chain heads fixed.
func (f *merkleFixture) truncate(t *testing.T, size int64) {
	t.Helper()
	var gone []int64
	for _, l := range f.leaves(t)[size:] {
		gone = append(gone, l.RecordID)
	}
	f.exec(t, `DELETE FROM audit_records WHERE id IN (`+joinIDs(gone)+`)`)
	f.exec(t, fmt.Sprintf(`DELETE FROM audit_leaves WHERE idx >= %d`, size))
	f.exec(t, fmt.Sprintf(`DELETE FROM audit_tree_hashes WHERE idx >= %d`, tlog.StoredHashCount(size)))
	f.exec(t, fmt.Sprintf(`DELETE FROM audit_tree_checkpoints WHERE tree_size > %d`, size))
	f.exec(t, `DELETE FROM notes WHERE body LIKE 'round 2 %' OR body LIKE 'round 3 %'`) // the live rows too
	f.fixChains(t)
}

// fixChains makes audit_chains agree with the records left.
func (f *merkleFixture) fixChains(t *testing.T) {
	t.Helper()
	last := map[string]*regcase.AuditRecord{}
	for _, r := range f.allRecords(t) {
		if l := last[r.Chain]; l == nil || r.Seq > l.Seq {
			last[r.Chain] = r
		}
	}
	heads, err := f.store.AuditHeads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for chain := range heads {
		r := last[chain]
		if r == nil {
			f.exec(t, fmt.Sprintf(`DELETE FROM audit_chains WHERE chain = '%s'`, chain))
			continue
		}
		f.exec(t, fmt.Sprintf(`UPDATE audit_chains SET seq = %d, head_hash = %s,
			checkpointed_seq = CASE WHEN checkpointed_seq > %d THEN %d ELSE checkpointed_seq END WHERE chain = '%s'`,
			r.Seq, f.blob(r.Hash), r.Seq, r.Seq, chain))
	}
}

// recomputeChain renumbers chain's records in order (their IDs; nil: by
// seq) and recomputes every link and hash, then fixes the chain heads.
func (f *merkleFixture) recomputeChain(t *testing.T, chain string, order []int64) {
	t.Helper()
	recs := f.records(t, chain)
	byID := map[int64]*regcase.AuditRecord{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	if order == nil {
		sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
		for _, r := range recs {
			order = append(order, r.ID)
		}
	}
	f.exec(t, fmt.Sprintf(`UPDATE audit_records SET seq = -1000 - seq WHERE chain = '%s'`, chain))
	prev := make([]byte, regcase.HashSize)
	for i, id := range order {
		r := byID[id]
		r.Seq, r.PrevHash = int64(i+1), prev
		r.Hash = r.ComputeHash()
		prev = r.Hash
		f.exec(t, fmt.Sprintf(`UPDATE audit_records SET seq = %d, prev_hash = %s, hash = %s WHERE id = %d`,
			r.Seq, f.blob(r.PrevHash), f.blob(r.Hash), r.ID))
	}
	f.fixChains(t)
}

// rebuildTree replaces the Merkle tree by one over the records in order
// (IDs; nil: every record by ID), as the attacker can, and deletes the
// signed checkpoints the new tree no longer matches (they cannot be
// re-signed without the key). The records' current hashes are used.
func (f *merkleFixture) rebuildTree(t *testing.T, order []int64) {
	t.Helper()
	recs := f.allRecords(t)
	if order == nil {
		for id := range recs {
			order = append(order, id)
		}
		sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	}
	f.exec(t, `DELETE FROM audit_leaves`)
	f.exec(t, `DELETE FROM audit_tree_hashes`)
	var hashes []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for k, i := range idx {
			out[k] = hashes[i]
		}
		return out, nil
	})
	var leafRows []string
	for n, id := range order {
		lh := regcase.LeafHash(id, recs[id].Hash)
		hs, err := tlog.StoredHashesForRecordHash(int64(n), lh, reader)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
		leafRows = append(leafRows, fmt.Sprintf("(%d, %d, %s)", n, id, f.blob(lh[:])))
	}
	f.exec(t, `INSERT INTO audit_leaves (idx, record_id, hash) VALUES `+strings.Join(leafRows, ", "))
	var hashRows []string
	for i, h := range hashes {
		hashRows = append(hashRows, fmt.Sprintf("(%d, %s)", i, f.blob(h[:])))
	}
	f.exec(t, `INSERT INTO audit_tree_hashes (idx, hash) VALUES `+strings.Join(hashRows, ", "))
	cps, err := f.store.ListTreeCheckpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		if c.Size <= int64(len(order)) {
			if root, err := tlog.TreeHash(c.Size, reader); err == nil && root == c.Root {
				continue // still true of the new tree: the attacker keeps it
			}
		}
		f.exec(t, fmt.Sprintf(`DELETE FROM audit_tree_checkpoints WHERE tree_size = %d`, c.Size))
	}
}

// testProofs checks every inclusion and consistency proof the service gives
// with tlog.CheckRecord and tlog.CheckTree, leaf hashes computed here from
// the records as stored, and the errors of bad requests.
func testProofs(t *testing.T, open opener) {
	f := newMerkleFixture(t, open)
	ctx := t.Context()
	aud := regcase.Actor{ID: "token:aud", Role: regcase.RoleAuditor}
	recs := f.allRecords(t)
	leaves := f.leaves(t)
	checked := 0
	for _, l := range leaves {
		for _, w := range f.ws {
			if l.Index >= w.Size {
				continue
			}
			p, err := f.svc.ProveInclusion(ctx, aud, l.RecordID, w.Size)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", l.RecordID, w.Size, err)
			}
			lh := tlog.RecordHash(regcase.LeafData(l.RecordID, recs[l.RecordID].Hash))
			if err := tlog.CheckRecord(p.Proof, w.Size, w.Root, p.LeafIndex, lh); err != nil {
				t.Fatalf("record %d in tree %d: tlog.CheckRecord: %v", l.RecordID, w.Size, err)
			}
			if p.LeafIndex > 0 { // the same proof must not prove another position
				if err := tlog.CheckRecord(p.Proof, w.Size, w.Root, p.LeafIndex-1, lh); err == nil {
					t.Fatalf("record %d: the proof also checks at leaf %d", l.RecordID, p.LeafIndex-1)
				}
			}
			checked++
		}
	}
	for i, a := range f.ws {
		for _, b := range f.ws[i:] {
			p, err := f.svc.ProveConsistency(ctx, aud, a.Size, b.Size)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", a.Size, b.Size, err)
			}
			if err := tlog.CheckTree(p.Proof, b.Size, b.Root, a.Size, a.Root); err != nil {
				t.Fatalf("tree %d in %d: tlog.CheckTree: %v", a.Size, b.Size, err)
			}
			checked++
		}
	}
	if checked < 40 {
		t.Fatalf("only %d proofs checked", checked)
	}
	// The newest checkpoint by default (size 0).
	if p, err := f.svc.ProveInclusion(ctx, aud, leaves[0].RecordID, 0); err != nil || p.Checkpoint.Size != f.sizes[3] {
		t.Fatalf("ProveInclusion(size 0) = %v, %v; want the newest checkpoint (%d)", p, err, f.sizes[3])
	}
	// Bad requests.
	unsequenced := appendAudit(t, f.store, "case:not-yet", 1)[0]
	for name, tc := range map[string]struct {
		err  func() error
		code regcase.ErrorCode
	}{
		"NotSequenced": {func() error { _, err := f.svc.ProveInclusion(ctx, aud, unsequenced.ID, 0); return err }, regcase.EConflict},
		"NoSuchRecord": {func() error { _, err := f.svc.ProveInclusion(ctx, aud, 1<<40, 0); return err }, regcase.ENotFound},
		"NoSuchSize":   {func() error { _, err := f.svc.ProveInclusion(ctx, aud, leaves[0].RecordID, f.sizes[3]+1); return err }, regcase.EInvalid},
		"SizeBeforeLeaf": {func() error {
			_, err := f.svc.ProveInclusion(ctx, aud, leaves[f.sizes[3]-1].RecordID, f.sizes[0])
			return err
		}, regcase.EInvalid},
		"FromAfterTo": {func() error { _, err := f.svc.ProveConsistency(ctx, aud, f.sizes[2], f.sizes[1]); return err }, regcase.EInvalid},
		"Forbidden": {func() error {
			_, err := f.svc.ProveInclusion(ctx, regcase.Actor{ID: "token:iv", Role: regcase.RoleInvestigator}, leaves[0].RecordID, 0)
			return err
		}, regcase.EForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			if got := regcase.ErrorCodeOf(tc.err()); got != tc.code {
				t.Fatalf("error code = %q, want %q", got, tc.code)
			}
		})
	}
}

// testLateCommit holds a transaction that took a LOWER audit record id open
// while a higher id commits and several sequencing rounds run: the lower
// record must still become a leaf once it commits. (SQLite commits one
// writer at a time, so ids cannot commit out of order there.)
func testLateCommit(t *testing.T, open opener) {
	f := newMerkleFixture(t, open)
	if !f.pgBytes {
		t.Skip("SQLite has one writer at a time: record ids become visible in order")
	}
	ctx := t.Context()
	taken, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	late := newAudit(t, "case:late", 1)
	go func() {
		done <- f.store.InTx(ctx, func(tx regcase.Tx) error {
			if err := tx.AppendAudit(ctx, late); err != nil {
				return err
			}
			close(taken)
			<-release
			return nil
		})
	}()
	select {
	case <-taken:
	case err := <-done:
		t.Fatalf("late transaction: %v", err)
	}
	early := appendAudit(t, f.store, "case:early", 1)[0]
	if early.ID <= late.ID {
		t.Fatalf("ids %d (committed) <= %d (open): the test needs the open one lower", early.ID, late.ID)
	}
	for range 4 { // enough rounds for the watermark to try to pass the open id
		// The PostgreSQL watermark waits a second between its marks.
		time.Sleep(1100 * time.Millisecond)
		f.sequence(t)
		if _, err := f.store.LeafOf(ctx, early.ID); err != nil {
			t.Fatalf("committed record %d not sequenced: %v", early.ID, err)
		}
		appendAudit(t, f.store, "case:more", 1) // so that every round signs
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("late transaction: %v", err)
	}
	f.sequence(t)
	if _, err := f.store.LeafOf(ctx, late.ID); err != nil {
		t.Fatalf("record %d, committed after record %d was sequenced, was skipped: %v", late.ID, early.ID, err)
	}
	res := f.verifyWitness(t, f.ws)
	if !res.OK || res.Unsequenced != 0 {
		t.Fatalf("after the late commit: ok %v, unsequenced %d, first %v", res.OK, res.Unsequenced, res.FirstBad)
	}
}

// testKeyRotation signs two checkpoints with one key and two with the next:
// with both keys in the set, everything verifies (old checkpoints keep
// verifying after the rotation); with only the new key, the first old
// checkpoint is named.
func testKeyRotation(t *testing.T, open opener) {
	vf := newVerifyFixture(t, open)
	oldKey, newKey := vf.key, newKey(t)
	f := &merkleFixture{verifyFixture: vf, caseID: strings.TrimPrefix(vf.caseChain, "case:"),
		seqSvc: regcase.NewService(regcase.Deps{Store: vf.h.worker()})}
	ks := &regcase.AuditKeys{}
	for i, k := range []ed25519.PrivateKey{oldKey, oldKey, newKey, newKey} {
		s, vkey, err := regcase.NewNoteSigner(regcase.DefaultAuditOrigin, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.AddVerifierKey(vkey); err != nil {
			t.Fatal(err)
		}
		f.signer = s
		f.round(t, i)
	}
	if ks.Len() != 2 {
		t.Fatalf("key set has %d keys, want 2", ks.Len())
	}
	check := func(keys *regcase.AuditKeys) *regcase.VerifyResult {
		f.svc.SetAuditKeys(keys)
		res, err := f.svc.VerifyAudit(regcase.WithWitness(t.Context(), f.ws), regcase.SystemActor("test"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check(ks); !res.OK || !res.Signed {
		t.Fatalf("both keys: ok %v, signed %v, first %v", res.OK, res.Signed, res.FirstBad)
	}
	only := &regcase.AuditKeys{}
	_ = only.AddEd25519(regcase.DefaultAuditOrigin, newKey.Public().(ed25519.PublicKey))
	res := check(only)
	if res.OK || !hasProblem(res, func(p regcase.AuditProblem) bool {
		return p.TreeSize == f.sizes[0] && p.Witness == "" && strings.Contains(p.Reason, "signature")
	}) {
		t.Fatalf("new key only: ok %v, problems %v; want the checkpoint of size %d refused", res.OK, res.Problems, f.sizes[0])
	}
	// A witness copy signed with a key outside the set is refused too.
	if _, err := regcase.ParseWitness("w", f.ws[0].Note, only); regcase.ErrorCodeOf(err) != regcase.EInvalid {
		t.Fatalf("ParseWitness with an unknown key: %v, want EInvalid", err)
	}
	if _, err := regcase.ParseWitness("w", f.ws[0].Note, ks); err != nil {
		t.Fatalf("ParseWitness with the key set: %v", err)
	}
}

// keysOf is the key set of one signing key under the default origin.
func keysOf(k ed25519.PrivateKey) *regcase.AuditKeys {
	ks := &regcase.AuditKeys{}
	_ = ks.AddEd25519(regcase.DefaultAuditOrigin, k.Public().(ed25519.PublicKey))
	return ks
}
