package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/regcase/regcase/internal/regcase"
)

// treeLockKey is the pg_advisory_xact_lock key of the Merkle tree's
// sequencer (the bytes "regcase" + "t"). Intake never takes it.
const treeLockKey int64 = 0x72656763617365_74

// Sequencing without a global lock on intake: audit record ids come from an
// identity sequence, so a transaction can take id 100, another id 101 and
// commit first. A sequencer that only looked above the highest id it has
// sequenced would then skip 100 for ever. Instead every round sequences all
// committed records above a FLOOR that are not leaves yet (an anti-join over
// a short id range), and the floor only moves to an id once no transaction
// that could still commit a record at or below it is running:
//
//  1. a round with no mark notes mark_id = the sequence's last value;
//  2. a later round, a second or more after the mark (mark_at), notes
//     mark_xmax = the snapshot's xmax: every transaction that took an id
//     <= mark_id already had its xid then (the stores write the chain head
//     or the report before the record, so a transaction has its xid before
//     it takes an id; the second is a margin on top), so it is below
//     mark_xmax;
//  3. a later round whose snapshot xmin >= mark_xmax knows all of them have
//     ended; it reads the records after that check, sequences every one
//     still missing, and sets floor = mark_id.
//
// So the floor trails the newest id by two intervals or more, records above
// it are sequenced as soon as they are committed, and none is ever skipped.

// ReadTreeHashes returns stored tree hashes (ENotFound when one is missing).
func (db *DB) ReadTreeHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return readTreeHashes(ctx, db.pool, indexes)
}

// ReadTreeHashes reads stored tree hashes inside the transaction.
func (t *tx) ReadTreeHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return readTreeHashes(ctx, t.tx, indexes)
}

type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readTreeHashes(ctx context.Context, q queryer, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT idx, hash FROM audit_tree_hashes WHERE idx = ANY($1)`, indexes)
	if err != nil {
		return nil, translate(err, "read tree hashes", "tree hash")
	}
	defer rows.Close()
	m := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var i int64
		var b []byte
		if err := rows.Scan(&i, &b); err != nil {
			return nil, translate(err, "read tree hashes", "tree hash")
		}
		var h tlog.Hash
		copy(h[:], b)
		m[i] = h
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, "read tree hashes", "tree hash")
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

const leafSelect = `SELECT l.idx, l.record_id, l.hash, r.hash FROM audit_leaves l
	LEFT JOIN audit_records r ON r.id = l.record_id`

func scanLeaf(row pgx.Row) (*regcase.Leaf, error) {
	var l regcase.Leaf
	var h []byte
	if err := row.Scan(&l.Index, &l.RecordID, &h, &l.RecordHash); err != nil {
		return nil, err
	}
	copy(l.Hash[:], h)
	return &l, nil
}

// LeafOf returns the leaf of an audit record (ENotFound).
func (db *DB) LeafOf(ctx context.Context, recordID int64) (*regcase.Leaf, error) {
	l, err := scanLeaf(db.pool.QueryRow(ctx, leafSelect+` WHERE l.record_id = $1`, recordID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "audit record %d is not a leaf", recordID)
	}
	if err != nil {
		return nil, translate(err, "leaf of record", "leaf")
	}
	return l, nil
}

// ScanLeaves streams every leaf, index ascending, from one snapshot.
func (db *DB) ScanLeaves(ctx context.Context, fn func(*regcase.Leaf) error) error {
	rows, err := db.pool.Query(ctx, leafSelect+` ORDER BY l.idx`)
	if err != nil {
		return translate(err, "scan leaves", "leaf")
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLeaf(rows)
		if err != nil {
			return translate(err, "scan leaves", "leaf")
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return translate(rows.Err(), "scan leaves", "leaf")
}

// ScanTreeHashes streams every stored tree hash, index ascending.
func (db *DB) ScanTreeHashes(ctx context.Context, fn func(int64, tlog.Hash) error) error {
	rows, err := db.pool.Query(ctx, `SELECT idx, hash FROM audit_tree_hashes ORDER BY idx`)
	if err != nil {
		return translate(err, "scan tree hashes", "tree hash")
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var b []byte
		if err := rows.Scan(&i, &b); err != nil {
			return translate(err, "scan tree hashes", "tree hash")
		}
		var h tlog.Hash
		copy(h[:], b)
		if err := fn(i, h); err != nil {
			return err
		}
	}
	return translate(rows.Err(), "scan tree hashes", "tree hash")
}

const treeCheckpointColumns = `tree_size, root, note, at`

func scanTreeCheckpoint(row pgx.Row) (*regcase.TreeCheckpoint, error) {
	var c regcase.TreeCheckpoint
	var root []byte
	var text string
	if err := row.Scan(&c.Size, &root, &text, &c.Time); err != nil {
		return nil, err
	}
	copy(c.Root[:], root)
	c.Note = []byte(text)
	c.Time = utc(c.Time)
	return &c, nil
}

// ListTreeCheckpoints returns every tree checkpoint, size ascending.
func (db *DB) ListTreeCheckpoints(ctx context.Context) ([]*regcase.TreeCheckpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+treeCheckpointColumns+` FROM audit_tree_checkpoints ORDER BY tree_size`)
	if err != nil {
		return nil, translate(err, "list tree checkpoints", "tree checkpoint")
	}
	cps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.TreeCheckpoint, error) { return scanTreeCheckpoint(row) })
	if err != nil {
		return nil, translate(err, "list tree checkpoints", "tree checkpoint")
	}
	return cps, nil
}

func getTreeCheckpoint(ctx context.Context, q queryer, size int64) (*regcase.TreeCheckpoint, error) {
	query := `SELECT ` + treeCheckpointColumns + ` FROM audit_tree_checkpoints WHERE tree_size = $1`
	args := []any{size}
	if size == 0 {
		query, args = `SELECT `+treeCheckpointColumns+` FROM audit_tree_checkpoints ORDER BY tree_size DESC LIMIT 1`, nil
	}
	c, err := scanTreeCheckpoint(q.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "no tree checkpoint of size %d", size)
	}
	if err != nil {
		return nil, translate(err, "get tree checkpoint", "tree checkpoint")
	}
	return c, nil
}

// GetTreeCheckpoint returns the checkpoint of size (0: the newest; ENotFound).
func (db *DB) GetTreeCheckpoint(ctx context.Context, size int64) (*regcase.TreeCheckpoint, error) {
	return getTreeCheckpoint(ctx, db.pool, size)
}

// LastTreeCheckpoint returns the newest tree checkpoint (ENotFound).
func (t *tx) LastTreeCheckpoint(ctx context.Context) (*regcase.TreeCheckpoint, error) {
	return getTreeCheckpoint(ctx, t.tx, 0)
}

// LockTree takes the tree's advisory lock until the transaction ends and
// returns the tree size (the statement's snapshot is taken after the lock is
// granted, so it sees the previous holder's leaves).
func (t *tx) LockTree(ctx context.Context) (int64, error) {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, treeLockKey); err != nil {
		return 0, translate(err, "lock tree", "tree")
	}
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_leaves`).Scan(&n)
	return n, translate(err, "lock tree", "tree")
}

// Unsequenced moves the watermark (see the comment at the top of the file)
// and returns the first limit committed records above the old floor that
// are not leaves yet, id ascending, above after when it is set (a later
// batch of a round: records it skips, committed since the previous batch,
// are found by the next round). A full batch, or one with after set, leaves
// the watermark as it was: records it did not return may lie below a new
// floor.
func (t *tx) Unsequenced(ctx context.Context, after int64, limit int) ([]regcase.LeafRecord, error) {
	var (
		floor, lastID, xmin, xmax int64
		markID, markXmax          *int64
		markAged                  bool
	)
	err := t.tx.QueryRow(ctx, `
		SELECT s.floor, s.mark_id, s.mark_xmax, coalesce(now() - s.mark_at >= interval '1 second', false),
			(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM audit_records_id_seq),
			pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
			pg_snapshot_xmax(pg_current_snapshot())::text::bigint
		FROM audit_sequencer s WHERE s.id = 1 FOR UPDATE`).Scan(&floor, &markID, &markXmax, &markAged, &lastID, &xmin, &xmax)
	if err != nil {
		return nil, translate(err, "read sequencer watermark", "sequencer")
	}
	newFloor, markedNow := floor, false
	switch {
	case markID == nil:
		markID, markedNow = &lastID, true
	case markXmax == nil && markAged: // replicas may run rounds back to back: wait a second at least
		markXmax = &xmax
	case markXmax != nil && xmin >= *markXmax:
		newFloor, markID, markXmax, markedNow = *markID, &lastID, nil, true
	}
	// This statement's snapshot is taken after the check above: it sees
	// every record of the transactions that check found ended.
	rows, err := t.tx.Query(ctx, `
		SELECT r.id, r.hash FROM audit_records r
		WHERE r.id > $1 AND NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.record_id = r.id)
		ORDER BY r.id LIMIT $2`, max(floor, after), limit)
	if err != nil {
		return nil, translate(err, "unsequenced records", "audit record")
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (regcase.LeafRecord, error) {
		var r regcase.LeafRecord
		err := row.Scan(&r.ID, &r.Hash)
		return r, err
	})
	if err != nil {
		return nil, translate(err, "unsequenced records", "audit record")
	}
	if len(recs) == limit || after > 0 {
		return recs, nil
	}
	_, err = t.tx.Exec(ctx, `UPDATE audit_sequencer SET floor = $1, mark_id = $2, mark_xmax = $3,
		mark_at = CASE WHEN $4 THEN now() ELSE mark_at END WHERE id = 1`,
		newFloor, markID, markXmax, markedNow)
	return recs, translate(err, "move sequencer watermark", "sequencer")
}

// AppendLeaves stores the leaves and the new stored hashes (COPY).
func (t *tx) AppendLeaves(ctx context.Context, first int64, leaves []regcase.Leaf, hashes []tlog.Hash) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"audit_leaves"}, []string{"idx", "record_id", "hash"},
		pgx.CopyFromSlice(len(leaves), func(i int) ([]any, error) {
			return []any{leaves[i].Index, leaves[i].RecordID, leaves[i].Hash[:]}, nil
		}))
	if err != nil {
		return translate(err, "append leaves", "leaf")
	}
	base := tlog.StoredHashCount(first)
	_, err = t.tx.CopyFrom(ctx, pgx.Identifier{"audit_tree_hashes"}, []string{"idx", "hash"},
		pgx.CopyFromSlice(len(hashes), func(i int) ([]any, error) { return []any{base + int64(i), hashes[i][:]}, nil }))
	return translate(err, "append tree hashes", "tree hash")
}

// InsertTreeCheckpoint stores a signed tree checkpoint (EConflict if its
// size exists).
func (t *tx) InsertTreeCheckpoint(ctx context.Context, c *regcase.TreeCheckpoint) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO audit_tree_checkpoints (tree_size, root, note, at) VALUES ($1, $2, $3, $4)`,
		c.Size, c.Root[:], string(c.Note), c.Time)
	return translate(err, "insert tree checkpoint", "tree checkpoint")
}
