package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regcase/regcase/internal/regcase"
)

const checkpointColumns = `id, at, prev_hash, hash, key_id, signature`

func scanCheckpoint(row pgx.Row) (*regcase.Checkpoint, error) {
	var c regcase.Checkpoint
	if err := row.Scan(&c.ID, &c.Time, &c.PrevHash, &c.Hash, &c.KeyID, &c.Signature); err != nil {
		return nil, err
	}
	c.Time = utc(c.Time)
	return &c, nil
}

// ListCheckpoints returns every checkpoint, ID ascending, with its heads
// sorted by chain (one round trip).
func (db *DB) ListCheckpoints(ctx context.Context) ([]*regcase.Checkpoint, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT ` + checkpointColumns + ` FROM audit_checkpoints ORDER BY id`)
	b.Queue(`SELECT checkpoint_id, chain, seq, hash FROM audit_checkpoint_heads ORDER BY checkpoint_id, chain`)
	br := db.pool.SendBatch(ctx, b)
	defer br.Close()

	rows, err := br.Query()
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	cps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Checkpoint, error) { return scanCheckpoint(row) })
	if err != nil {
		return nil, translate(err, "list checkpoints", "checkpoint")
	}
	byID := make(map[int64]*regcase.Checkpoint, len(cps))
	for _, c := range cps {
		byID[c.ID] = c
	}
	rows, err = br.Query()
	if err != nil {
		return nil, translate(err, "list checkpoint heads", "checkpoint")
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var h regcase.ChainHead
		if err := rows.Scan(&id, &h.Chain, &h.Seq, &h.Hash); err != nil {
			return nil, translate(err, "list checkpoint heads", "checkpoint")
		}
		if c := byID[id]; c != nil {
			c.Heads = append(c.Heads, h)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, "list checkpoint heads", "checkpoint")
	}
	return cps, nil
}

// LastCheckpoint takes the checkpoint lock (a transaction-scoped advisory
// lock, held until the transaction ends, so one writer checkpoints at a
// time) and returns the newest checkpoint with its heads, in one round
// trip. ENotFound when there is none yet; the lock is held either way.
func (t *tx) LastCheckpoint(ctx context.Context) (*regcase.Checkpoint, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, checkpointLockKey)
	// Each statement below takes its snapshot after the lock is granted, so
	// it sees the checkpoint committed by the previous lock holder.
	b.Queue(`SELECT ` + checkpointColumns + ` FROM audit_checkpoints ORDER BY id DESC LIMIT 1`)
	b.Queue(`SELECT chain, seq, hash FROM audit_checkpoint_heads
		WHERE checkpoint_id = (SELECT max(id) FROM audit_checkpoints) ORDER BY chain`)
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()

	if _, err := br.Exec(); err != nil {
		return nil, translate(err, "lock checkpoints", "checkpoint")
	}
	c, err := scanCheckpoint(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "no checkpoint yet")
	}
	if err != nil {
		return nil, translate(err, "last checkpoint", "checkpoint")
	}
	rows, err := br.Query()
	if err != nil {
		return nil, translate(err, "last checkpoint heads", "checkpoint")
	}
	if c.Heads, err = pgx.CollectRows(rows, scanHead); err != nil {
		return nil, translate(err, "last checkpoint heads", "checkpoint")
	}
	return c, nil
}

// InsertCheckpoint stores c with its heads and marks those heads as
// checkpointed, in one statement. A duplicate ID returns EConflict.
func (t *tx) InsertCheckpoint(ctx context.Context, c *regcase.Checkpoint) error {
	chains := make([]string, len(c.Heads))
	seqs := make([]int64, len(c.Heads))
	hashes := make([][]byte, len(c.Heads))
	for i, h := range c.Heads {
		chains[i], seqs[i], hashes[i] = h.Chain, h.Seq, h.Hash
	}
	_, err := t.tx.Exec(ctx, `
		WITH cp AS (
			INSERT INTO audit_checkpoints (id, at, prev_hash, hash, key_id, signature)
			VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING id
		), heads AS (
			INSERT INTO audit_checkpoint_heads (checkpoint_id, chain, seq, hash)
			SELECT cp.id, h.chain, h.seq, h.hash
			FROM cp, unnest($7::text[], $8::bigint[], $9::bytea[]) AS h (chain, seq, hash)
		)
		UPDATE audit_chains ch SET checkpointed_seq = greatest(ch.checkpointed_seq, h.seq)
		FROM unnest($7::text[], $8::bigint[]) AS h (chain, seq)
		WHERE ch.chain = h.chain`,
		c.ID, c.Time, c.PrevHash, c.Hash, c.KeyID, c.Signature, chains, seqs, hashes)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeInsufficientPrivilege {
		// The api's role (regcase_app) may not sign: migration 0004.
		return &regcase.Error{Code: regcase.EForbidden, Err: fmt.Errorf("postgres: insert checkpoint: %w", err),
			Message: "this database role may not insert audit checkpoints: connect as the worker's role (a member of regcase_worker)"}
	}
	return translate(err, "insert checkpoint", "checkpoint")
}
