package regcase

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"time"
)

// ListAudit returns audit records (ID ascending) for auditors.
func (s *Service) ListAudit(ctx context.Context, a Actor, f AuditFilter) ([]*AuditRecord, error) {
	if err := Authorize(a, ActAuditRead); err != nil {
		return nil, err
	}
	f.Limit = PageLimit(f.Limit)
	return s.cfg.Store.ListAudit(ctx, f)
}

// CaseAudit returns the audit timeline of one case to those who may read it.
func (s *Service) CaseAudit(ctx context.Context, a Actor, caseID string, afterID int64, limit int) ([]*AuditRecord, error) {
	if err := Authorize(a, ActCaseRead); err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.GetCase(ctx, caseID); err != nil {
		return nil, err
	}
	return s.cfg.Store.ListAudit(ctx, AuditFilter{Chain: ChainFor("case", caseID), AfterID: afterID, Limit: PageLimit(limit)})
}

// Checkpoint signs the heads of every chain that moved since the last
// checkpoint. It returns nil, nil when nothing moved. Concurrent callers are
// serialized by the store's checkpoint lock.
func (s *Service) Checkpoint(ctx context.Context, key ed25519.PrivateKey) (*Checkpoint, error) {
	var out *Checkpoint
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		prev, err := tx.LastCheckpoint(ctx)
		if err != nil && ErrorCodeOf(err) != ENotFound {
			return err
		}
		heads, err := tx.PendingHeads(ctx)
		if err != nil {
			return err
		}
		if len(heads) == 0 {
			out = nil
			return nil
		}
		c := &Checkpoint{ID: 1, Time: s.now(), Heads: heads}
		if prev != nil {
			c.ID = prev.ID + 1
		}
		SignCheckpoint(c, prev, key)
		out = c
		return tx.InsertCheckpoint(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AuditProblem is one verification failure.
type AuditProblem struct {
	RecordID     int64  `json:"record_id,omitempty"`
	Chain        string `json:"chain,omitempty"`
	Seq          int64  `json:"seq,omitempty"`
	CheckpointID int64  `json:"checkpoint_id,omitempty"`
	TreeSize     int64  `json:"tree_size,omitempty"` // a Merkle tree checkpoint's size
	Witness      string `json:"witness,omitempty"`   // the witness copy the problem was found with
	// Entity and Field name a live row that differs from its history
	// (replay.go): "case:<id>" and the first divergent field.
	Entity string `json:"entity,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (p AuditProblem) String() string {
	switch {
	case p.Witness != "":
		return fmt.Sprintf("witness checkpoint %s (tree size %d): %s", p.Witness, p.TreeSize, p.Reason)
	case p.TreeSize != 0:
		return fmt.Sprintf("tree checkpoint of size %d: %s", p.TreeSize, p.Reason)
	case p.Entity != "":
		return fmt.Sprintf("%s field %s: %s", p.Entity, p.Field, p.Reason)
	case p.RecordID != 0:
		return fmt.Sprintf("record %d (%s #%d): %s", p.RecordID, p.Chain, p.Seq, p.Reason)
	case p.CheckpointID != 0:
		return fmt.Sprintf("checkpoint %d: %s", p.CheckpointID, p.Reason)
	case p.Chain == "":
		return "Merkle tree: " + p.Reason
	default:
		return fmt.Sprintf("chain %s: %s", p.Chain, p.Reason)
	}
}

// VerifyResult is the outcome of an audit verification.
type VerifyResult struct {
	OK           bool      `json:"ok"`
	Records      int64     `json:"records"`
	Chains       int64     `json:"chains"`
	Checkpoints  int       `json:"checkpoints"`
	Signed       bool      `json:"signatures_checked"` // false when no public key was given
	LastSignedAt time.Time `json:"last_signed_at,omitzero"`
	Unanchored   int64     `json:"unanchored_records"` // records newer than the last checkpoint
	// The Merkle log: leaves, signed tree checkpoints, records not yet
	// sequenced (they are at the next checkpoint) and witness copies checked.
	TreeSize           int64            `json:"tree_size"`
	TreeCheckpoints    int              `json:"tree_checkpoints"`
	LastTreeSignedAt   time.Time        `json:"last_tree_signed_at,omitzero"`
	Unsequenced        int64            `json:"unsequenced_records"`
	WitnessCheckpoints int              `json:"witness_checkpoints,omitempty"`
	FirstBad           *AuditProblem    `json:"first_problem,omitempty"`
	Problems           []AuditProblem   `json:"problems,omitempty"`   // at most 100
	LiveState          *LiveStateResult `json:"live_state,omitempty"` // live rows compared with their history
	Duration           string           `json:"duration"`
}

// VerifyAudit checks the whole log: every chain links and hashes correctly,
// record IDs rise with sequence numbers, the recorded chain heads match,
// checkpoints chain together, their signatures hold under pub (skipped when
// pub is nil) and every head they anchor still has the signed hash; then
// the Merkle log (verifyTree), against the witness copies of WithWitness.
// Signatures are checked with the service's AuditKeys and pub (either may
// be empty), so checkpoints signed before a key rotation keep verifying.
func (s *Service) VerifyAudit(ctx context.Context, a Actor, pub ed25519.PublicKey) (*VerifyResult, error) {
	if err := Authorize(a, ActAuditVerify); err != nil {
		return nil, err
	}
	start := time.Now()
	keys := s.verifyKeys(pub)
	v := &verifier{res: &VerifyResult{Signed: keys.Len() > 0}, anchored: map[chainSeq]int64{}}
	cps, err := s.cfg.Store.ListCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	v.checkpoints(cps, keys)
	if err := s.cfg.Store.ScanAudit(ctx, v.add); err != nil {
		return nil, err
	}
	// Heads are read after the scan: a head can only be ahead of what the
	// scan saw, and then only because of appends made during the scan, which
	// catchUp checks record by record.
	heads, err := s.cfg.Store.AuditHeads(ctx)
	if err != nil {
		return nil, err
	}
	v.closeChain()
	for chain, h := range heads {
		if got := v.seen[chain]; got.seq < h.Seq {
			if err := v.catchUp(ctx, s.cfg.Store, chain, got); err != nil {
				return nil, err
			}
		}
	}
	v.finish(heads)
	if err := s.verifyTree(ctx, v, keys, witnessFrom(ctx)); err != nil {
		return nil, err
	}
	if v.res.LiveState, err = s.verifyLiveState(ctx, v.problem); err != nil {
		return nil, err
	}
	r := v.res
	sort.SliceStable(r.Problems, func(i, j int) bool { return problemOrder(r.Problems[i]) < problemOrder(r.Problems[j]) })
	if len(r.Problems) > 0 {
		r.FirstBad = &r.Problems[0]
	}
	r.OK = v.total == 0
	if len(r.Problems) > 100 {
		r.Problems = r.Problems[:100]
	}
	r.Duration = time.Since(start).Round(time.Millisecond).String()
	return r, nil
}

func problemOrder(p AuditProblem) int64 {
	if p.Witness != "" { // what only a witness can tell comes first
		return -1<<61 + p.TreeSize
	}
	if p.RecordID != 0 {
		return p.RecordID
	}
	return 1<<62 + p.CheckpointID
}

type chainSeq struct {
	chain string
	seq   int64
}

type verifier struct {
	res      *VerifyResult
	total    int
	anchored map[chainSeq]int64  // anchored record -> checkpoint id
	want     map[chainSeq][]byte // anchored record -> signed hash, removed once seen
	maxSeq   map[string]int64    // highest anchored seq per chain
	// current chain state
	chain    string
	lastSeq  int64
	lastHash []byte
	lastID   int64
	seen     map[string]chainEnd
}

// chainEnd is the last record verified in a chain.
type chainEnd struct {
	seq  int64
	hash []byte
	id   int64
}

// catchUp verifies the records appended to chain after the scan passed it.
func (v *verifier) catchUp(ctx context.Context, r Reader, chain string, from chainEnd) error {
	v.chain, v.lastSeq, v.lastHash, v.lastID = chain, from.seq, from.hash, from.id
	if from.seq == 0 {
		v.lastHash = make([]byte, HashSize)
		v.res.Chains++
	}
	after := from.id
	for {
		recs, err := r.ListAudit(ctx, AuditFilter{Chain: chain, AfterID: after, Limit: MaxLimit})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := v.add(rec); err != nil {
				return err
			}
			after = rec.ID
		}
		if len(recs) < MaxLimit {
			break
		}
	}
	v.closeChain()
	return nil
}

func (v *verifier) problem(p AuditProblem) {
	v.total++
	if len(v.res.Problems) < 1000 {
		v.res.Problems = append(v.res.Problems, p)
	}
}

func (v *verifier) checkpoints(cps []*Checkpoint, keys *AuditKeys) {
	v.want = map[chainSeq][]byte{}
	v.maxSeq = map[string]int64{}
	v.res.Checkpoints = len(cps)
	prevHash := make([]byte, HashSize)
	for i, c := range cps {
		if c.ID != int64(i+1) {
			v.problem(AuditProblem{CheckpointID: c.ID, Reason: fmt.Sprintf("checkpoint ids are not contiguous: expected %d", i+1)})
		}
		if !bytes.Equal(c.PrevHash, prevHash) {
			v.problem(AuditProblem{CheckpointID: c.ID, Reason: "does not link to the previous checkpoint"})
		}
		if !bytes.Equal(c.ComputeHash(), c.Hash) {
			v.problem(AuditProblem{CheckpointID: c.ID, Reason: "content does not match its hash (heads or time altered)"})
		}
		if keys.Len() > 0 {
			if pub, ok := keys.ByKeyID(c.KeyID); !ok {
				v.problem(AuditProblem{CheckpointID: c.ID, Reason: fmt.Sprintf("signed with key %s, which is not in the audit key set", c.KeyID)})
			} else if !ed25519.Verify(pub, c.Hash, c.Signature) {
				v.problem(AuditProblem{CheckpointID: c.ID, Reason: "signature does not verify: the checkpoint was rewritten"})
			}
		}
		for _, h := range c.Heads {
			v.want[chainSeq{h.Chain, h.Seq}] = h.Hash
			v.anchored[chainSeq{h.Chain, h.Seq}] = c.ID
			v.maxSeq[h.Chain] = max(v.maxSeq[h.Chain], h.Seq)
		}
		prevHash = c.Hash
		v.res.LastSignedAt = c.Time
	}
	v.seen = map[string]chainEnd{}
}

func (v *verifier) add(r *AuditRecord) error {
	v.res.Records++
	if r.Chain != v.chain {
		v.closeChain()
		v.chain, v.lastSeq, v.lastHash, v.lastID = r.Chain, 0, make([]byte, HashSize), 0
		v.res.Chains++
	}
	bad := func(reason string) {
		v.problem(AuditProblem{RecordID: r.ID, Chain: r.Chain, Seq: r.Seq, Reason: reason})
	}
	switch {
	case r.Seq != v.lastSeq+1:
		bad(fmt.Sprintf("sequence %d follows %d: a record was deleted, inserted or moved", r.Seq, v.lastSeq))
	case !bytes.Equal(r.PrevHash, v.lastHash):
		bad("previous-hash link is broken: a record before it was changed, removed or reordered")
	case !bytes.Equal(r.ComputeHash(), r.Hash):
		bad("content does not match its hash: the record was modified")
	case r.ID <= v.lastID:
		bad("record ids run backwards within the chain: records were reordered")
	}
	if want, ok := v.want[chainSeq{r.Chain, r.Seq}]; ok {
		if !bytes.Equal(want, r.Hash) {
			bad(fmt.Sprintf("hash differs from the one signed in checkpoint %d: history was rewritten", v.anchored[chainSeq{r.Chain, r.Seq}]))
		}
		delete(v.want, chainSeq{r.Chain, r.Seq})
	}
	if r.Seq > v.maxSeq[r.Chain] {
		v.res.Unanchored++
	}
	v.lastSeq, v.lastHash, v.lastID = r.Seq, r.Hash, r.ID
	return nil
}

func (v *verifier) closeChain() {
	if v.chain != "" {
		v.seen[v.chain] = chainEnd{seq: v.lastSeq, hash: v.lastHash, id: v.lastID}
	}
}

func (v *verifier) finish(heads map[string]ChainHead) {
	for k := range v.want {
		chain, seq := k.chain, k.seq
		v.problem(AuditProblem{Chain: chain, Seq: seq, CheckpointID: v.anchored[k],
			Reason: fmt.Sprintf("record #%d signed in a checkpoint is missing: it was deleted", seq)})
	}
	for chain, h := range heads {
		got, ok := v.seen[chain]
		if !ok || got.seq != h.Seq || !bytes.Equal(got.hash, h.Hash) {
			v.problem(AuditProblem{Chain: chain, Seq: got.seq,
				Reason: fmt.Sprintf("chain ends at #%d but its recorded head is #%d: records were removed or added behind the application's back", got.seq, h.Seq)})
		}
	}
	for chain, got := range v.seen {
		if _, ok := heads[chain]; !ok {
			v.problem(AuditProblem{Chain: chain, Seq: got.seq, Reason: "chain has no recorded head: it was inserted behind the application's back"})
		}
	}
}

// verifyKeys is the key set VerifyAudit checks with: the service's
// AuditKeys plus pub (named with the service's AuditOrigin).
func (s *Service) verifyKeys(pub ed25519.PublicKey) *AuditKeys {
	ks := s.cfg.AuditKeys.Union(nil)
	if pub != nil {
		_ = ks.AddEd25519(s.cfg.AuditOrigin, pub) // the origin was validated by NewService
	}
	return ks
}
