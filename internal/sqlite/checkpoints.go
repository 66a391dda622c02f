package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/regcase/regcase/internal/regcase"
)

// The signed checkpoints of the audit chains (regcase.AuditStore's
// checkpoint half); audit.go holds the chains themselves.

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
	cps, err := collect(rows, scanCheckpoint)
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	byID := make(map[int64]*regcase.Checkpoint, len(cps))
	for _, c := range cps {
		byID[c.ID] = c
	}

	hrows, err := rtx.QueryContext(ctx, `
		SELECT checkpoint_id, chain, seq, hash FROM audit_checkpoint_heads
		ORDER BY checkpoint_id, chain`)
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	type head struct {
		id int64
		regcase.ChainHead
	}
	heads, err := collect(hrows, func(s scanner) (head, error) {
		var h head
		return h, s.Scan(&h.id, &h.Chain, &h.Seq, &h.Hash)
	})
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	for _, h := range heads {
		if c := byID[h.id]; c != nil {
			c.Heads = append(c.Heads, h.ChainHead)
		}
	}
	return cps, nil
}

// scanCheckpoint reads the columns id, at, prev_hash, hash, key_id,
// signature.
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
