package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/regcase/regcase/internal/regcase"
)

const auditColumns = `id, chain, seq, at, actor_id, actor_role, actor_addr, request_id,
	action, entity_type, entity_id, data, prev_hash, hash`

func scanAudit(s scanner) (*regcase.AuditRecord, error) {
	var (
		r        regcase.AuditRecord
		at, data string
		d        decoder
	)
	err := s.Scan(&r.ID, &r.Chain, &r.Seq, &at, &r.ActorID, &r.ActorRole, &r.ActorAddr, &r.RequestID,
		&r.Action, &r.EntityType, &r.EntityID, &data, &r.PrevHash, &r.Hash)
	if err != nil {
		return nil, err
	}
	r.Time = d.time(at)
	if data != "" {
		r.Data = json.RawMessage(data)
	}
	return &r, d.err
}

// AppendAudit creates r.Chain on its first record, reads its head, seals r
// after it (regcase.AuditRecord.Seal), inserts r (setting r.ID) and moves
// the head. The transaction's write lock is the chain lock.
func (t *tx) AppendAudit(ctx context.Context, r *regcase.AuditRecord) error {
	if r.Chain == "" {
		return regcase.FieldError("chain", "an audit record needs a chain")
	}
	if _, err := t.tx.ExecContext(ctx, `
		INSERT INTO audit_chains (chain, seq, head_hash, checkpointed_seq) VALUES (?, 0, NULL, 0)
		ON CONFLICT (chain) DO NOTHING`, r.Chain); err != nil {
		return translate(err, "append audit", "audit record")
	}
	var (
		seq  int64
		head []byte
	)
	if err := t.tx.QueryRowContext(ctx,
		`SELECT seq, head_hash FROM audit_chains WHERE chain = ?`, r.Chain).Scan(&seq, &head); err != nil {
		return translate(err, "append audit", "audit record")
	}
	r.Seal(seq, head)
	err := t.tx.QueryRowContext(ctx, `
		INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr, request_id,
		                           action, entity_type, entity_id, data, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		r.Chain, r.Seq, fmtTime(r.Time), r.ActorID, string(r.ActorRole), r.ActorAddr, r.RequestID,
		r.Action, r.EntityType, r.EntityID, string(r.Data), r.PrevHash, r.Hash).Scan(&r.ID)
	if err != nil {
		return translate(err, "append audit", "audit record")
	}
	_, err = t.tx.ExecContext(ctx,
		`UPDATE audit_chains SET seq = ?, head_hash = ? WHERE chain = ?`, r.Seq, r.Hash, r.Chain)
	return translate(err, "append audit", "audit record")
}

// ListAudit returns at most f.Limit (bounded by regcase.MaxLimit) records
// with ID > f.AfterID, of f.Chain when set, by ID ascending.
func (db *DB) ListAudit(ctx context.Context, f regcase.AuditFilter) ([]*regcase.AuditRecord, error) {
	var w where
	w.add("id > " + w.arg(f.AfterID))
	w.eq("chain", f.Chain)
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit_records`+w.sql()+` ORDER BY id LIMIT `+w.arg(regcase.PageLimit(f.Limit)),
		w.args...)
	if err != nil {
		return nil, translate(err, "list audit", "audit record")
	}
	defer rows.Close()
	records := []*regcase.AuditRecord{}
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, translate(err, "list audit", "audit record")
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, "list audit", "audit record")
	}
	return records, nil
}

// ScanAudit calls fn for every record ordered by (chain, seq, id), from one
// consistent snapshot. An error from fn stops the scan and is returned
// unchanged.
func (db *DB) ScanAudit(ctx context.Context, fn func(*regcase.AuditRecord) error) error {
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit_records ORDER BY chain, seq, id`)
	if err != nil {
		return translate(err, "scan audit", "audit record")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return translate(err, "scan audit", "audit record")
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return translate(rows.Err(), "scan audit", "audit record")
}

// AuditHeads returns the recorded head of every chain that has a record.
func (db *DB) AuditHeads(ctx context.Context) (map[string]regcase.ChainHead, error) {
	heads, err := queryHeads(ctx, db.r, `SELECT chain, seq, head_hash FROM audit_chains WHERE seq > 0`)
	if err != nil {
		return nil, translate(err, "audit heads", "audit record")
	}
	m := make(map[string]regcase.ChainHead, len(heads))
	for _, h := range heads {
		m[h.Chain] = h
	}
	return m, nil
}

// queryHeads runs a query selecting (chain, seq, hash).
func queryHeads(ctx context.Context, q querier, query string, args ...any) ([]regcase.ChainHead, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	heads := []regcase.ChainHead{}
	for rows.Next() {
		var h regcase.ChainHead
		if err := rows.Scan(&h.Chain, &h.Seq, &h.Hash); err != nil {
			return nil, err
		}
		heads = append(heads, h)
	}
	return heads, rows.Err()
}

// LastCheckpoint returns the newest checkpoint with its heads (ENotFound if
// none). The transaction's write lock is the checkpoint lock.
func (t *tx) LastCheckpoint(ctx context.Context) (*regcase.Checkpoint, error) {
	c, err := scanCheckpoint(t.tx.QueryRowContext(ctx, `
		SELECT id, at, prev_hash, hash, key_id, signature
		FROM audit_checkpoints ORDER BY id DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "no audit checkpoint yet")
	}
	if err != nil {
		return nil, translate(err, "last checkpoint", "checkpoint")
	}
	c.Heads, err = queryHeads(ctx, t.tx, `
		SELECT chain, seq, hash FROM audit_checkpoint_heads
		WHERE checkpoint_id = ? ORDER BY chain`, c.ID)
	if err != nil {
		return nil, translate(err, "last checkpoint", "checkpoint")
	}
	return c, nil
}

// PendingHeads returns, sorted by chain, the heads of the chains that moved
// since they were last checkpointed.
func (t *tx) PendingHeads(ctx context.Context) ([]regcase.ChainHead, error) {
	heads, err := queryHeads(ctx, t.tx, `
		SELECT chain, seq, head_hash FROM audit_chains
		WHERE seq > checkpointed_seq ORDER BY chain`)
	return heads, translate(err, "pending heads", "audit record")
}

// InsertCheckpoint stores c and its heads and marks each head's chain
// checkpointed up to the head's seq (EConflict on a duplicate ID, ENotFound
// for a head of an unknown chain).
func (t *tx) InsertCheckpoint(ctx context.Context, c *regcase.Checkpoint) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO audit_checkpoints (id, at, prev_hash, hash, key_id, signature)
		VALUES (?, ?, ?, ?, ?, ?)`,
		c.ID, fmtTime(c.Time), c.PrevHash, c.Hash, c.KeyID, c.Signature)
	if err != nil {
		return translate(err, "insert checkpoint", "checkpoint")
	}
	for _, h := range c.Heads {
		_, err := t.tx.ExecContext(ctx, `
			INSERT INTO audit_checkpoint_heads (checkpoint_id, chain, seq, hash) VALUES (?, ?, ?, ?)`,
			c.ID, h.Chain, h.Seq, h.Hash)
		if err != nil {
			return translate(err, "insert checkpoint", "checkpoint")
		}
		res, err := t.tx.ExecContext(ctx, `
			UPDATE audit_chains SET checkpointed_seq = max(checkpointed_seq, ?) WHERE chain = ?`,
			h.Seq, h.Chain)
		if err := checkUpdated("insert checkpoint", res, err,
			regcase.Errorf(regcase.ENotFound, "audit chain %s not found", h.Chain)); err != nil {
			return err
		}
	}
	return nil
}

// ListCheckpoints returns every checkpoint, ID ascending, heads filled and
// sorted by chain.
func (db *DB) ListCheckpoints(ctx context.Context) ([]*regcase.Checkpoint, error) {
	// One read transaction, so checkpoints and heads come from one snapshot.
	rtx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	defer func() { _ = rtx.Rollback() }()

	rows, err := rtx.QueryContext(ctx, `
		SELECT id, at, prev_hash, hash, key_id, signature FROM audit_checkpoints ORDER BY id`)
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	defer rows.Close()
	cps := []*regcase.Checkpoint{}
	byID := map[int64]*regcase.Checkpoint{}
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, translate(err, "list checkpoints", "checkpoint")
		}
		cps = append(cps, c)
		byID[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	rows.Close()

	hrows, err := rtx.QueryContext(ctx, `
		SELECT checkpoint_id, chain, seq, hash FROM audit_checkpoint_heads
		ORDER BY checkpoint_id, chain`)
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	defer hrows.Close()
	for hrows.Next() {
		var (
			id int64
			h  regcase.ChainHead
		)
		if err := hrows.Scan(&id, &h.Chain, &h.Seq, &h.Hash); err != nil {
			return nil, translate(err, "list checkpoints", "checkpoint")
		}
		if c := byID[id]; c != nil {
			c.Heads = append(c.Heads, h)
		}
	}
	if err := hrows.Err(); err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	return cps, nil
}

func scanCheckpoint(s scanner) (*regcase.Checkpoint, error) {
	var (
		c  regcase.Checkpoint
		at string
		d  decoder
	)
	if err := s.Scan(&c.ID, &at, &c.PrevHash, &c.Hash, &c.KeyID, &c.Signature); err != nil {
		return nil, err
	}
	c.Time = d.time(at)
	return &c, d.err
}
