package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/regcase/regcase/internal/regcase"
)

// The Merkle log's tables (migration 0003). SQLite commits one writer at a
// time and audit record ids come from AUTOINCREMENT inside that writer, so
// ids become visible in order: every record above the newest leaf's record
// is unsequenced, and none below it can still appear.

// readTreeHashes returns the stored hashes at indexes, in that order.
func readTreeHashes(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	args := make([]any, len(indexes))
	for i, x := range indexes {
		args[i] = x
	}
	rows, err := q.QueryContext(ctx, `SELECT idx, hash FROM audit_tree_hashes WHERE idx IN (?`+
		strings.Repeat(",?", len(indexes)-1)+`)`, args...)
	if err != nil {
		return nil, translate(err, "read tree hashes", "audit tree")
	}
	m := make(map[int64]tlog.Hash, len(indexes))
	if err := each(rows, func(s scanner) error {
		var i int64
		var b []byte
		if err := s.Scan(&i, &b); err != nil {
			return err
		}
		m[i] = tlog.Hash(b)
		return nil
	}); err != nil {
		return nil, translate(err, "read tree hashes", "audit tree")
	}
	out := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		h, ok := m[i]
		if !ok {
			return nil, regcase.Errorf(regcase.ENotFound, "stored tree hash %d not found", i)
		}
		out[k] = h
	}
	return out, nil
}

// ReadTreeHashes returns stored tree hashes (ENotFound when one is missing).
func (db *DB) ReadTreeHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return readTreeHashes(ctx, db.r, indexes)
}

// ReadTreeHashes reads stored tree hashes inside the transaction.
func (t *tx) ReadTreeHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return readTreeHashes(ctx, t.tx, indexes)
}

const leafSelect = `SELECT l.idx, l.record_id, l.hash, r.hash FROM audit_leaves l
	LEFT JOIN audit_records r ON r.id = l.record_id`

func scanLeaf(s scanner) (*regcase.Leaf, error) {
	var l regcase.Leaf
	var h []byte
	if err := s.Scan(&l.Index, &l.RecordID, &h, &l.RecordHash); err != nil {
		return nil, err
	}
	if len(h) == tlog.HashSize {
		l.Hash = tlog.Hash(h)
	}
	return &l, nil
}

// LeafOf returns the leaf of an audit record (ENotFound).
func (db *DB) LeafOf(ctx context.Context, recordID int64) (*regcase.Leaf, error) {
	l, err := scanLeaf(db.r.QueryRowContext(ctx, leafSelect+` WHERE l.record_id = ?`, recordID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "audit record %d is not a leaf", recordID)
	}
	if err != nil {
		return nil, translate(err, "leaf of record", "audit tree")
	}
	return l, nil
}

// ScanLeaves streams every leaf, index ascending, from one snapshot.
func (db *DB) ScanLeaves(ctx context.Context, fn func(*regcase.Leaf) error) error {
	rows, err := db.r.QueryContext(ctx, leafSelect+` ORDER BY l.idx`)
	if err != nil {
		return translate(err, "scan leaves", "audit tree")
	}
	var fnErr error // returned unchanged
	err = each(rows, func(s scanner) error {
		l, err := scanLeaf(s)
		if err != nil {
			return err
		}
		fnErr = fn(l)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return translate(err, "scan leaves", "audit tree")
}

// ScanTreeHashes streams every stored tree hash, index ascending.
func (db *DB) ScanTreeHashes(ctx context.Context, fn func(int64, tlog.Hash) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT idx, hash FROM audit_tree_hashes ORDER BY idx`)
	if err != nil {
		return translate(err, "scan tree hashes", "audit tree")
	}
	var fnErr error // returned unchanged
	err = each(rows, func(s scanner) error {
		var i int64
		var b []byte
		if err := s.Scan(&i, &b); err != nil {
			return err
		}
		var h tlog.Hash
		copy(h[:], b)
		fnErr = fn(i, h)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return translate(err, "scan tree hashes", "audit tree")
}

func scanTreeCheckpoint(s scanner) (*regcase.TreeCheckpoint, error) {
	var (
		c        regcase.TreeCheckpoint
		root     []byte
		text, at string
		d        decoder
	)
	if err := s.Scan(&c.Size, &root, &text, &at); err != nil {
		return nil, err
	}
	copy(c.Root[:], root)
	c.Note = []byte(text)
	c.Time = d.time(at)
	return &c, d.err
}

const treeCheckpointColumns = `tree_size, root, note, at`

// ListTreeCheckpoints returns every tree checkpoint, size ascending.
func (db *DB) ListTreeCheckpoints(ctx context.Context) ([]*regcase.TreeCheckpoint, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+treeCheckpointColumns+` FROM audit_tree_checkpoints ORDER BY tree_size`)
	if err != nil {
		return nil, translate(err, "list tree checkpoints", "checkpoint")
	}
	out, err := collect(rows, scanTreeCheckpoint)
	if err != nil {
		return nil, translate(err, "list tree checkpoints", "checkpoint")
	}
	return out, nil
}

func getTreeCheckpoint(ctx context.Context, q querier, size int64) (*regcase.TreeCheckpoint, error) {
	query := `SELECT ` + treeCheckpointColumns + ` FROM audit_tree_checkpoints WHERE tree_size = ?`
	args := []any{size}
	if size == 0 {
		query, args = `SELECT `+treeCheckpointColumns+` FROM audit_tree_checkpoints ORDER BY tree_size DESC LIMIT 1`, nil
	}
	c, err := scanTreeCheckpoint(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "no tree checkpoint of size %d", size)
	}
	if err != nil {
		return nil, translate(err, "get tree checkpoint", "checkpoint")
	}
	return c, nil
}

// GetTreeCheckpoint returns the checkpoint of size (0: the newest; ENotFound).
func (db *DB) GetTreeCheckpoint(ctx context.Context, size int64) (*regcase.TreeCheckpoint, error) {
	return getTreeCheckpoint(ctx, db.r, size)
}

// LastTreeCheckpoint returns the newest tree checkpoint (ENotFound).
func (t *tx) LastTreeCheckpoint(ctx context.Context) (*regcase.TreeCheckpoint, error) {
	return getTreeCheckpoint(ctx, t.tx, 0)
}

// LockTree returns the tree size; the write transaction is the tree lock.
func (t *tx) LockTree(ctx context.Context) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_leaves`).Scan(&n)
	return n, translate(err, "lock tree", "audit tree")
}

// Unsequenced returns at most limit records after the newest leaf's
// record, id ascending (see the file comment for why that skips none).
func (t *tx) Unsequenced(ctx context.Context, _ int64, limit int) ([]regcase.LeafRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, hash FROM audit_records
		WHERE id > (SELECT coalesce(max(record_id), 0) FROM audit_leaves) ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, translate(err, "unsequenced records", "audit record")
	}
	out, err := collect(rows, func(s scanner) (regcase.LeafRecord, error) {
		var r regcase.LeafRecord
		return r, s.Scan(&r.ID, &r.Hash)
	})
	if err != nil {
		return nil, translate(err, "unsequenced records", "audit record")
	}
	return out, nil
}

// AppendLeaves stores the leaves and the new stored hashes. The two
// INSERTs run as the write connection's cached prepared statements (see
// stmt.go), each parsed once however many leaves a round has.
func (t *tx) AppendLeaves(ctx context.Context, first int64, leaves []regcase.Leaf, hashes []tlog.Hash) error {
	for _, l := range leaves {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO audit_leaves (idx, record_id, hash) VALUES (?, ?, ?)`, l.Index, l.RecordID, l.Hash[:]); err != nil {
			return translate(err, "append leaves", "audit tree")
		}
	}
	base := tlog.StoredHashCount(first)
	for i, h := range hashes {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO audit_tree_hashes (idx, hash) VALUES (?, ?)`, base+int64(i), h[:]); err != nil {
			return translate(err, "append tree hashes", "audit tree")
		}
	}
	return nil
}

// InsertTreeCheckpoint stores a signed tree checkpoint (EConflict if its
// size exists).
func (t *tx) InsertTreeCheckpoint(ctx context.Context, c *regcase.TreeCheckpoint) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO audit_tree_checkpoints (tree_size, root, note, at) VALUES (?, ?, ?, ?)`,
		c.Size, c.Root[:], string(c.Note), fmtTime(c.Time))
	return translate(err, "insert tree checkpoint", "checkpoint")
}
