package regcase

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The Merkle log: every audit record, whatever its chain, is a leaf of ONE
// append-only Merkle tree hashed as RFC 6962 prescribes (the layout and
// proofs of golang.org/x/mod/sumdb/tlog). Intake never waits for it: the
// worker's checkpoint step sequences committed records into leaves, stores
// the tree's hashes, and signs a tree head as a C2SP tlog-checkpoint note.
// Anyone holding an old checkpoint can then be given a consistency proof
// that the log only grew, and anyone holding a record an inclusion proof.

// CheckpointEventType is the outbox event emitted for every new signed tree
// checkpoint (its data is TreeCheckpointEvent), so every webhook subscriber
// of that type keeps a copy outside the database.
const CheckpointEventType = "gov.regcase.audit.checkpoint"

// LeafRecord is what a leaf commits to: an audit record's ID and hash (the
// record hash covers every other field and the chain link).
type LeafRecord struct {
	ID   int64
	Hash []byte
}

// Leaf is one leaf of the tree as stored, with the hash of the audit record
// it names (nil when that record no longer exists).
type Leaf struct {
	Index      int64
	RecordID   int64
	Hash       tlog.Hash
	RecordHash []byte
}

// TreeCheckpoint is a signed tree head: Note is the C2SP tlog-checkpoint
// signed note (origin, size, base64 root hash, signature lines).
type TreeCheckpoint struct {
	Size int64
	Root tlog.Hash
	Note []byte
	Time time.Time
}

// TreeReader holds the reads of the Merkle tree that need no transaction.
type TreeReader interface {
	// ReadTreeHashes returns the stored hashes at the given indexes
	// (tlog.StoredHashIndex numbering); ENotFound when one is missing.
	ReadTreeHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// LeafOf returns the leaf of an audit record (ENotFound when the record
	// is not sequenced yet, or does not exist).
	LeafOf(ctx context.Context, recordID int64) (*Leaf, error)
	// ScanLeaves calls fn for every leaf, index ascending, with the hash of
	// the record it names; an error from fn stops the scan and is returned.
	ScanLeaves(ctx context.Context, fn func(*Leaf) error) error
	// ScanTreeHashes calls fn for every stored hash, index ascending.
	ScanTreeHashes(ctx context.Context, fn func(index int64, h tlog.Hash) error) error
	// ListTreeCheckpoints returns every tree checkpoint, size ascending.
	ListTreeCheckpoints(ctx context.Context) ([]*TreeCheckpoint, error)
	// GetTreeCheckpoint returns the checkpoint of a tree size (ENotFound);
	// size 0 means the newest one.
	GetTreeCheckpoint(ctx context.Context, size int64) (*TreeCheckpoint, error)
}

// TreeTx is what the sequencer does inside one transaction.
type TreeTx interface {
	// LockTree takes the tree lock (one sequencer at a time, held until the
	// transaction ends; intake never takes it) and returns the tree size.
	LockTree(ctx context.Context) (int64, error)
	// Unsequenced returns, ID ascending, at most limit committed audit
	// records that are not leaves yet, and moves the engine's watermark so
	// that no record is ever skipped, even one whose transaction commits
	// after a higher ID's. after > 0 (the last ID of the previous batch of
	// the same round) is a hint: only records above it are needed now; a
	// store may then leave its watermark alone.
	Unsequenced(ctx context.Context, after int64, limit int) ([]LeafRecord, error)
	// ReadTreeHashes is TreeReader.ReadTreeHashes inside the transaction.
	ReadTreeHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// AppendLeaves stores leaves first, first+1, … and the stored hashes
	// that adding them creates, numbered from tlog.StoredHashCount(first).
	AppendLeaves(ctx context.Context, first int64, leaves []Leaf, hashes []tlog.Hash) error
	// LastTreeCheckpoint returns the newest tree checkpoint (ENotFound).
	LastTreeCheckpoint(ctx context.Context) (*TreeCheckpoint, error)
	// InsertTreeCheckpoint stores c (EConflict when its size exists).
	InsertTreeCheckpoint(ctx context.Context, c *TreeCheckpoint) error
}

// LeafData is the leaf's content: the record ID and hash, as text. Its RFC
// 6962 leaf hash is tlog.RecordHash(LeafData(...)).
func LeafData(recordID int64, recordHash []byte) []byte {
	return fmt.Appendf(nil, "regcase.audit.leaf.v1 %d %x\n", recordID, recordHash)
}

// LeafHash is the Merkle leaf hash of an audit record.
func LeafHash(recordID int64, recordHash []byte) tlog.Hash {
	return tlog.RecordHash(LeafData(recordID, recordHash))
}

// CheckpointText is the body of a C2SP tlog-checkpoint: origin, tree size
// and base64 root hash, one per line.
func CheckpointText(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ParseCheckpointText reads a checkpoint body (extension lines after the
// third are allowed and ignored). EInvalid when it is not one.
func ParseCheckpointText(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return "", 0, root, Errorf(EInvalid, "not a tlog checkpoint: want origin, size and root hash lines")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, Errorf(EInvalid, "not a tlog checkpoint: bad tree size %q", lines[1])
	}
	b, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(b) != tlog.HashSize {
		return "", 0, root, Errorf(EInvalid, "not a tlog checkpoint: bad root hash %q", lines[2])
	}
	copy(root[:], b)
	return lines[0], size, root, nil
}

// OpenCheckpoint verifies a signed checkpoint note with the key set and
// parses it. EInvalid when it is malformed, EForbidden-free: a signature
// that no key of the set verifies is EInvalid too, naming the key.
func OpenCheckpoint(msg []byte, keys *AuditKeys) (*TreeCheckpoint, error) {
	n, err := note.Open(msg, keys.Verifiers())
	if err != nil {
		return nil, Errorf(EInvalid, "checkpoint signature: %v", err)
	}
	_, size, root, err := ParseCheckpointText(n.Text)
	if err != nil {
		return nil, err
	}
	return &TreeCheckpoint{Size: size, Root: root, Note: msg}, nil
}

// hashCache is a tlog.HashReader over the stored hashes of a transaction,
// with the hashes computed (not yet stored) in this round and those already
// read kept in memory.
type hashCache struct {
	ctx  context.Context
	read func(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	m    map[int64]tlog.Hash
}

func (c *hashCache) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	var miss []int64
	for _, i := range indexes {
		if _, ok := c.m[i]; !ok {
			miss = append(miss, i)
		}
	}
	if len(miss) > 0 {
		hs, err := c.read(c.ctx, miss)
		if err != nil {
			return nil, err
		}
		for k, i := range miss {
			c.m[i] = hs[k]
		}
	}
	out := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		out[k] = c.m[i]
	}
	return out, nil
}

// TreeCheckpointEvent is the data of a gov.regcase.audit.checkpoint event.
type TreeCheckpointEvent struct {
	Origin   string `json:"origin"`
	TreeSize int64  `json:"tree_size"`
	RootHash string `json:"root_hash"` // base64, as in the note
	Note     string `json:"checkpoint"`
}

// SequenceBatch bounds the leaves one sequencing transaction appends, so
// that a backlog never holds the tree lock (or SQLite's one writer) for
// long: a bigger backlog takes several transactions.
const SequenceBatch = 2000

// Sequence appends every committed, not yet sequenced audit record to the
// Merkle tree (SequenceBatch per transaction) and, when the tree grew,
// signs a tree checkpoint for its new size with signer (whose name is the
// log's origin) and writes the gov.regcase.audit.checkpoint outbox event
// with it, in the transaction of the last batch. It returns nil, nil when
// the tree did not grow. Replicas may call it concurrently: the tree lock
// lets one sequence at a time.
func (s *Service) Sequence(ctx context.Context, signer note.Signer) (*TreeCheckpoint, error) {
	after := int64(0)
	for {
		c, full, last, err := s.sequenceBatch(ctx, signer, after)
		if err != nil || !full {
			return c, err
		}
		after = last
		if err := ctx.Err(); err != nil {
			return nil, Errorf(EUnavailable, "sequencing interrupted: %v", err)
		}
	}
}

// sequenceBatch is one transaction of Sequence; full reports a batch of
// SequenceBatch leaves (more may wait), which is left unsigned.
func (s *Service) sequenceBatch(ctx context.Context, signer note.Signer, after int64) (out *TreeCheckpoint, full bool, lastID int64, err error) {
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		out, full, lastID = nil, false, after
		size, err := tx.LockTree(ctx)
		if err != nil {
			return err
		}
		recs, err := tx.Unsequenced(ctx, after, SequenceBatch)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			lastID = recs[len(recs)-1].ID
		}
		cache := &hashCache{ctx: ctx, read: tx.ReadTreeHashes, m: map[int64]tlog.Hash{}}
		if len(recs) > 0 {
			leaves := make([]Leaf, len(recs))
			var hashes []tlog.Hash
			for i, r := range recs {
				n := size + int64(i)
				leaves[i] = Leaf{Index: n, RecordID: r.ID, Hash: LeafHash(r.ID, r.Hash), RecordHash: r.Hash}
				hs, err := tlog.StoredHashesForRecordHash(n, leaves[i].Hash, cache)
				if err != nil {
					return Internal(fmt.Errorf("tree hashes for leaf %d: %w", n, err))
				}
				base := tlog.StoredHashIndex(0, n)
				for k, h := range hs {
					cache.m[base+int64(k)] = h
				}
				hashes = append(hashes, hs...)
			}
			if err := tx.AppendLeaves(ctx, size, leaves, hashes); err != nil {
				return err
			}
			size += int64(len(recs))
		}
		if full = len(recs) == SequenceBatch; full {
			return nil // the last batch signs
		}
		last, err := tx.LastTreeCheckpoint(ctx)
		if err != nil && ErrorCodeOf(err) != ENotFound {
			return err
		}
		if size == 0 || (last != nil && last.Size == size) {
			return nil
		}
		root, err := tlog.TreeHash(size, cache)
		if err != nil {
			return Internal(fmt.Errorf("tree hash of size %d: %w", size, err))
		}
		msg, err := note.Sign(&note.Note{Text: CheckpointText(signer.Name(), size, root)}, signer)
		if err != nil {
			return Internal(fmt.Errorf("sign checkpoint: %w", err))
		}
		c := &TreeCheckpoint{Size: size, Root: root, Note: msg, Time: s.now()}
		if err := tx.InsertTreeCheckpoint(ctx, c); err != nil {
			return err
		}
		data, err := json.Marshal(TreeCheckpointEvent{Origin: signer.Name(), TreeSize: size,
			RootHash: base64.StdEncoding.EncodeToString(root[:]), Note: string(msg)})
		if err != nil {
			return Internal(err)
		}
		if err := tx.InsertEvent(ctx, &Event{ID: s.cfg.NewID(), Type: CheckpointEventType, Source: s.cfg.EventSource,
			Subject: "audit/checkpoints/" + strconv.FormatInt(size, 10), Time: c.Time, Data: data,
			PartitionKey: "audit:checkpoints"}); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, false, after, err
	}
	return out, full, lastID, nil
}
