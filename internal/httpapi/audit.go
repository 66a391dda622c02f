package httpapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// AuditBody is one audit record.
type AuditBody struct {
	ID         int64           `json:"id"`
	Chain      string          `json:"chain"`
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	ActorID    string          `json:"actor_id"`
	ActorRole  string          `json:"actor_role"`
	ActorAddr  string          `json:"actor_addr"`
	RequestID  string          `json:"request_id,omitempty"`
	Action     string          `json:"action"`
	EntityType string          `json:"entity_type"`
	EntityID   string          `json:"entity_id"`
	Data       json.RawMessage `json:"data"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

func auditBodies(rs []*regcase.AuditRecord) []AuditBody {
	out := make([]AuditBody, 0, len(rs))
	for _, r := range rs {
		out = append(out, AuditBody{ID: r.ID, Chain: r.Chain, Seq: r.Seq, Time: r.Time, ActorID: r.ActorID,
			ActorRole: string(r.ActorRole), ActorAddr: r.ActorAddr, RequestID: r.RequestID, Action: r.Action,
			EntityType: r.EntityType, EntityID: r.EntityID, Data: r.Data,
			PrevHash: hex.EncodeToString(r.PrevHash), Hash: hex.EncodeToString(r.Hash)})
	}
	return out
}

type auditListOutput struct {
	Body struct {
		Items     []AuditBody `json:"items"`
		NextAfter string      `json:"next_after,omitempty" doc:"pass as after= for the next page"`
	}
}

func auditOut(rs []*regcase.AuditRecord, limit int) *auditListOutput {
	out := &auditListOutput{}
	out.Body.Items = auditBodies(rs)
	if len(rs) == regcase.PageLimit(limit) {
		out.Body.NextAfter = strconv.FormatInt(rs[len(rs)-1].ID, 10)
	}
	return out
}

type auditListInput struct {
	Chain string `query:"chain" maxLength:"200" doc:"e.g. case:<id> or report:<id>"`
	After int64  `query:"after" minimum:"0"`
	Limit int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
}

type caseAuditInput struct {
	ID    string `path:"id" maxLength:"64"`
	After int64  `query:"after" minimum:"0"`
	Limit int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
}

type verifyOutput struct{ Body *regcase.VerifyResult }

// CheckpointBody is a signed checkpoint, exportable for anchoring.
type CheckpointBody struct {
	ID        int64            `json:"id"`
	Time      time.Time        `json:"time"`
	PrevHash  string           `json:"prev_hash"`
	Hash      string           `json:"hash"`
	KeyID     string           `json:"key_id"`
	Signature string           `json:"signature"`
	Heads     []CheckpointHead `json:"heads"`
}

// CheckpointHead is one anchored chain head.
type CheckpointHead struct {
	Chain string `json:"chain"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
}

// CheckpointBodyOf renders a checkpoint for export.
func CheckpointBodyOf(c *regcase.Checkpoint) CheckpointBody {
	b := CheckpointBody{ID: c.ID, Time: c.Time, PrevHash: hex.EncodeToString(c.PrevHash), Hash: hex.EncodeToString(c.Hash),
		KeyID: c.KeyID, Signature: hex.EncodeToString(c.Signature), Heads: make([]CheckpointHead, 0, len(c.Heads))}
	for _, h := range c.Heads {
		b.Heads = append(b.Heads, CheckpointHead{Chain: h.Chain, Seq: h.Seq, Hash: hex.EncodeToString(h.Hash)})
	}
	return b
}

type checkpointsOutput struct {
	Body struct {
		Items []CheckpointBody `json:"items"`
	}
}

// listAudit serves list-audit.
func (s *server) listAudit(ctx context.Context, in *auditListInput) (*auditListOutput, error) {
	rs, err := s.svc.ListAudit(ctx, actorFrom(ctx), regcase.AuditFilter{Chain: in.Chain, AfterID: in.After, Limit: in.Limit})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return auditOut(rs, in.Limit), nil
}

// caseAudit serves case-audit.
func (s *server) caseAudit(ctx context.Context, in *caseAuditInput) (*auditListOutput, error) {
	rs, err := s.svc.CaseAudit(ctx, actorFrom(ctx), in.ID, in.After, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return auditOut(rs, in.Limit), nil
}

// verifyAudit serves verify-audit.
func (s *server) verifyAudit(ctx context.Context, _ *struct{}) (*verifyOutput, error) {
	res, err := s.svc.VerifyAudit(ctx, actorFrom(ctx), s.deps.PublicKey)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &verifyOutput{Body: res}, nil
}

// listCheckpoints serves list-checkpoints.
func (s *server) listCheckpoints(ctx context.Context, _ *struct{}) (*checkpointsOutput, error) {
	cps, err := s.svc.ListCheckpoints(ctx, actorFrom(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &checkpointsOutput{}
	out.Body.Items = make([]CheckpointBody, 0, len(cps))
	for _, c := range cps {
		out.Body.Items = append(out.Body.Items, CheckpointBodyOf(c))
	}
	return out, nil
}
