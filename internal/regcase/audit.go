package regcase

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// AuditRecord is one entry of the tamper-evident audit log. Records form one
// hash chain per entity (Chain, e.g. "case:<id>"), so unrelated writes never
// wait on one another; signed checkpoints anchor every chain's head.
type AuditRecord struct {
	ID         int64 // global, increasing, not gap-free
	Chain      string
	Seq        int64 // 1, 2, 3 … within Chain
	Time       time.Time
	ActorID    string
	ActorRole  Role
	ActorAddr  string
	RequestID  string
	Action     string // "case.transitioned"
	EntityType string // "case", "report", "token", "system"
	EntityID   string
	Data       json.RawMessage // canonical JSON of what changed; never PII
	PrevHash   []byte
	Hash       []byte
}

// HashSize is the size of audit hashes.
const HashSize = sha256.Size

// ChainFor names the chain of an entity.
func ChainFor(entityType, entityID string) string { return entityType + ":" + entityID }

// AuditTime truncates t to what both engines store exactly (microseconds,
// UTC), so a hash computed before the write matches one computed after a read.
func AuditTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// CanonicalJSON re-encodes v as JSON with sorted object keys, no insignificant
// whitespace and numbers kept verbatim.
func CanonicalJSON(v any) (json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if out, ok := canonicalize(raw); ok {
		return out, nil
	}
	return canonicalDecoded(raw)
}

// canonicalDecoded is the reference form of CanonicalJSON: decode into
// generic values, numbers as json.Number, and marshal again (maps marshal
// with sorted keys). canonicalize produces the same bytes without the
// round trip and falls back to this for anything it does not handle.
func canonicalDecoded(raw []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic) // maps marshal with sorted keys
}

// ComputeHash returns the record's hash over every field but ID and Hash.
// The encoding is length-prefixed, so no two records share a preimage.
func (r *AuditRecord) ComputeHash() []byte {
	h := sha256.New()
	put := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte("regcase.audit.v1"))
	put([]byte(r.Chain))
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], uint64(r.Seq))
	put(seq[:])
	put([]byte(AuditTime(r.Time).Format(time.RFC3339Nano)))
	put([]byte(r.ActorID))
	put([]byte(r.ActorRole))
	put([]byte(r.ActorAddr))
	put([]byte(r.RequestID))
	put([]byte(r.Action))
	put([]byte(r.EntityType))
	put([]byte(r.EntityID))
	put(r.Data)
	put(r.PrevHash)
	return h.Sum(nil)
}

// Seal sets Seq, PrevHash and Hash for a record appended after a chain head
// (prevSeq 0 and prevHash nil for a new chain).
func (r *AuditRecord) Seal(prevSeq int64, prevHash []byte) {
	r.Time = AuditTime(r.Time)
	r.Seq = prevSeq + 1
	if prevHash == nil {
		prevHash = make([]byte, HashSize)
	}
	r.PrevHash = prevHash
	r.Hash = r.ComputeHash()
}

// ChainHead is the last record of a chain at a checkpoint.
type ChainHead struct {
	Chain string
	Seq   int64
	Hash  []byte
}

// Checkpoint anchors the audit log: it lists the heads of the chains that
// moved since the previous checkpoint, chains to that checkpoint, and is
// signed with an Ed25519 key the database never holds.
type Checkpoint struct {
	ID        int64 // 1, 2, 3 … contiguous
	Time      time.Time
	Heads     []ChainHead // sorted by Chain
	PrevHash  []byte
	Hash      []byte
	KeyID     string // hex of the first 8 bytes of sha256(public key)
	Signature []byte
}

// KeyID names a public key.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// ComputeHash returns the checkpoint's hash over ID, Time, PrevHash and heads.
func (c *Checkpoint) ComputeHash() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "regcase.checkpoint.v1\n%d\n%s\n%x\n", c.ID, AuditTime(c.Time).Format(time.RFC3339Nano), c.PrevHash)
	for _, hd := range c.Heads {
		fmt.Fprintf(h, "%d:%s %d %x\n", len(hd.Chain), hd.Chain, hd.Seq, hd.Hash)
	}
	return h.Sum(nil)
}

// SignCheckpoint completes c (sorted heads, hash, key id, signature) after
// prev (nil for the first checkpoint).
func SignCheckpoint(c *Checkpoint, prev *Checkpoint, key ed25519.PrivateKey) {
	c.Time = AuditTime(c.Time)
	sort.Slice(c.Heads, func(i, j int) bool { return c.Heads[i].Chain < c.Heads[j].Chain })
	c.PrevHash = make([]byte, HashSize)
	if prev != nil {
		c.PrevHash = prev.Hash
	}
	c.Hash = c.ComputeHash()
	c.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	c.Signature = ed25519.Sign(key, c.Hash)
}

// ListCheckpoints exports the signed checkpoints (anchors), oldest first.
// Errors: EForbidden without audit read.
func (s *Service) ListCheckpoints(ctx context.Context, a Actor) ([]*Checkpoint, error) {
	if err := Authorize(a, ActAuditRead); err != nil {
		return nil, err
	}
	return s.cfg.Store.ListCheckpoints(ctx)
}
