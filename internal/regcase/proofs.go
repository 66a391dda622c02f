package regcase

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// InclusionProof proves that an audit record is leaf LeafIndex of the tree
// whose signed checkpoint is Checkpoint: tlog.CheckRecord(Proof,
// Checkpoint.Size, Checkpoint.Root, LeafIndex, LeafHash(RecordID,
// RecordHash)) succeeds.
type InclusionProof struct {
	RecordID   int64
	RecordHash []byte
	LeafIndex  int64
	Proof      tlog.RecordProof
	Checkpoint *TreeCheckpoint
}

// ConsistencyProof proves that the tree of checkpoint From is a prefix of
// the tree of checkpoint To: tlog.CheckTree(Proof, To.Size, To.Root,
// From.Size, From.Root) succeeds.
type ConsistencyProof struct {
	From, To *TreeCheckpoint
	Proof    tlog.TreeProof
}

// LatestTreeCheckpoint returns the newest signed tree checkpoint to
// auditors (ENotFound before the first one).
func (s *Service) LatestTreeCheckpoint(ctx context.Context, a Actor) (*TreeCheckpoint, error) {
	if err := Authorize(a, ActAuditVerify); err != nil {
		return nil, err
	}
	return s.cfg.Store.GetTreeCheckpoint(ctx, 0)
}

// checkpointAt returns the signed checkpoint of size (0 = the newest);
// EInvalid naming field when there is none of that size.
func (s *Service) checkpointAt(ctx context.Context, field string, size int64) (*TreeCheckpoint, error) {
	if size < 0 {
		return nil, FieldError(field, "%s must be a tree size (>= 1)", field)
	}
	c, err := s.cfg.Store.GetTreeCheckpoint(ctx, size)
	if ErrorCodeOf(err) == ENotFound {
		if size == 0 {
			return nil, Errorf(ENotFound, "no tree checkpoint has been signed yet")
		}
		return nil, FieldError(field, "no checkpoint was signed at tree size %d (GET /v1/audit/checkpoint names the newest)", size)
	}
	return c, err
}

// ProveInclusion proves that audit record recordID is in the checkpoint of
// tree size size (0: the newest). ENotFound when the record does not exist,
// EConflict when it is not sequenced yet (it will be by the next
// checkpoint), EInvalid when no checkpoint has that size or it precedes
// the record's leaf.
func (s *Service) ProveInclusion(ctx context.Context, a Actor, recordID, size int64) (*InclusionProof, error) {
	if err := Authorize(a, ActAuditVerify); err != nil {
		return nil, err
	}
	if recordID <= 0 {
		return nil, FieldError("record", "record must be an audit record id (>= 1)")
	}
	leaf, err := s.cfg.Store.LeafOf(ctx, recordID)
	if ErrorCodeOf(err) == ENotFound {
		recs, lerr := s.cfg.Store.ListAudit(ctx, AuditFilter{AfterID: recordID - 1, Limit: 1})
		if lerr == nil && len(recs) == 1 && recs[0].ID == recordID {
			return nil, Errorf(EConflict, "audit record %d is not in the Merkle log yet: it is sequenced at the next checkpoint", recordID)
		}
		return nil, Errorf(ENotFound, "audit record %d not found", recordID)
	}
	if err != nil {
		return nil, err
	}
	c, err := s.checkpointAt(ctx, "tree_size", size)
	if err != nil {
		return nil, err
	}
	if leaf.Index >= c.Size {
		return nil, FieldError("tree_size", "audit record %d is leaf %d, not in the tree of size %d: ask for a later checkpoint", recordID, leaf.Index, c.Size)
	}
	p, err := tlog.ProveRecord(c.Size, leaf.Index, storeHashes(ctx, s.cfg.Store))
	if err != nil {
		return nil, Internal(fmt.Errorf("prove record %d in %d: %w", leaf.Index, c.Size, err))
	}
	return &InclusionProof{RecordID: recordID, RecordHash: leaf.RecordHash, LeafIndex: leaf.Index, Proof: p, Checkpoint: c}, nil
}

// ProveConsistency proves that the checkpoint of tree size from is a prefix
// of the one of size to (0: the newest). EInvalid when either size has no
// checkpoint or from > to.
func (s *Service) ProveConsistency(ctx context.Context, a Actor, from, to int64) (*ConsistencyProof, error) {
	if err := Authorize(a, ActAuditVerify); err != nil {
		return nil, err
	}
	if from <= 0 {
		return nil, FieldError("from", "from must be a tree size (>= 1)")
	}
	cf, err := s.checkpointAt(ctx, "from", from)
	if err != nil {
		return nil, err
	}
	ct, err := s.checkpointAt(ctx, "to", to)
	if err != nil {
		return nil, err
	}
	if cf.Size > ct.Size {
		return nil, FieldError("from", "from (%d) must not exceed to (%d)", cf.Size, ct.Size)
	}
	p, err := tlog.ProveTree(ct.Size, cf.Size, storeHashes(ctx, s.cfg.Store))
	if err != nil {
		return nil, Internal(fmt.Errorf("prove tree %d in %d: %w", cf.Size, ct.Size, err))
	}
	return &ConsistencyProof{From: cf, To: ct, Proof: p}, nil
}

type witnessKey struct{}

// WithWitness returns a context under which VerifyAudit also checks the
// log against witness checkpoints kept outside the database: each must
// still be in the database with the same root, and the log must be
// consistent with it. (A context value keeps VerifyAudit's signature, which
// every caller shares.)
func WithWitness(ctx context.Context, w []WitnessCheckpoint) context.Context {
	return context.WithValue(ctx, witnessKey{}, w)
}

func witnessFrom(ctx context.Context) []WitnessCheckpoint {
	w, _ := ctx.Value(witnessKey{}).([]WitnessCheckpoint)
	return w
}
