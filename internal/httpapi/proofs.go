package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/regcase/regcase/internal/regcase"
)

// ProofBody is an inclusion or a consistency proof of the Merkle audit log,
// as the API serves it, `regcase audit prove` prints it and `regcase audit
// check-proof` reads it. Hashes are base64 as in checkpoints; a record hash
// is hex as in audit records.
type ProofBody struct {
	Type string `json:"type" enum:"inclusion,consistency"`
	// Inclusion: record RecordID (whose hash is RecordHash) is leaf
	// LeafIndex, with leaf hash tlog.RecordHash(LeafData(id, hash)), of the
	// tree of checkpoint Checkpoint.
	RecordID   int64  `json:"record_id,omitempty"`
	RecordHash string `json:"record_hash,omitempty"`
	LeafIndex  *int64 `json:"leaf_index,omitempty"`
	LeafHash   string `json:"leaf_hash,omitempty"`
	TreeSize   int64  `json:"tree_size,omitempty"`
	RootHash   string `json:"root_hash,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty" doc:"the signed note the proof is against"`
	// Consistency: the tree of FromCheckpoint is a prefix of ToCheckpoint's.
	From           int64  `json:"from,omitempty"`
	To             int64  `json:"to,omitempty"`
	FromRoot       string `json:"from_root,omitempty"`
	ToRoot         string `json:"to_root,omitempty"`
	FromCheckpoint string `json:"from_checkpoint,omitempty"`
	ToCheckpoint   string `json:"to_checkpoint,omitempty"`
	// Proof is the list of hashes, base64 (RFC 6962 audit or consistency path).
	Proof []string `json:"proof"`
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func proofHashes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h)
	}
	return out
}

// InclusionBodyOf renders an inclusion proof.
func InclusionBodyOf(p *regcase.InclusionProof) ProofBody {
	idx := p.LeafIndex
	return ProofBody{Type: "inclusion", RecordID: p.RecordID, RecordHash: hex.EncodeToString(p.RecordHash),
		LeafIndex: &idx, LeafHash: b64(regcase.LeafHash(p.RecordID, p.RecordHash)),
		TreeSize: p.Checkpoint.Size, RootHash: b64(p.Checkpoint.Root), Checkpoint: string(p.Checkpoint.Note),
		Proof: proofHashes(p.Proof)}
}

// ConsistencyBodyOf renders a consistency proof.
func ConsistencyBodyOf(p *regcase.ConsistencyProof) ProofBody {
	return ProofBody{Type: "consistency", From: p.From.Size, To: p.To.Size, FromRoot: b64(p.From.Root), ToRoot: b64(p.To.Root),
		FromCheckpoint: string(p.From.Note), ToCheckpoint: string(p.To.Note), Proof: proofHashes(p.Proof)}
}

// ParseProofHashes decodes the proof's hash list.
func (b *ProofBody) ParseProofHashes() ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(b.Proof))
	for i, s := range b.Proof {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d is not a base64 SHA-256 hash", i)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

type inclusionInput struct {
	Record   int64 `query:"record" doc:"audit record id (required)"`
	TreeSize int64 `query:"tree_size" minimum:"0" doc:"size of a signed checkpoint; 0 or absent: the newest"`
}

type consistencyInput struct {
	From int64 `query:"from" doc:"size of the older signed checkpoint (required)"`
	To   int64 `query:"to" minimum:"0" doc:"size of the newer signed checkpoint; 0 or absent: the newest"`
}

type proofOutput struct{ Body ProofBody }

type checkpointNoteOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

// auditCheckpoint serves audit-checkpoint.
func (s *server) auditCheckpoint(ctx context.Context, _ *struct{}) (*checkpointNoteOutput, error) {
	c, err := s.svc.LatestTreeCheckpoint(ctx, actorFrom(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &checkpointNoteOutput{ContentType: "text/plain; charset=utf-8", Body: c.Note}, nil
}

// auditInclusionProof serves audit-inclusion-proof.
func (s *server) auditInclusionProof(ctx context.Context, in *inclusionInput) (*proofOutput, error) {
	p, err := s.svc.ProveInclusion(ctx, actorFrom(ctx), in.Record, in.TreeSize)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &proofOutput{Body: InclusionBodyOf(p)}, nil
}

// auditConsistencyProof serves audit-consistency-proof.
func (s *server) auditConsistencyProof(ctx context.Context, in *consistencyInput) (*proofOutput, error) {
	p, err := s.svc.ProveConsistency(ctx, actorFrom(ctx), in.From, in.To)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &proofOutput{Body: ConsistencyBodyOf(p)}, nil
}
