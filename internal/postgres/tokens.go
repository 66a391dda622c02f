package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

const tokenColumns = `id, name, role, hash, created_at, revoked_at, last_used`

func scanToken(row pgx.Row) (*regcase.APIToken, error) {
	var t regcase.APIToken
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &t.CreatedAt, &t.RevokedAt, &t.LastUsed); err != nil {
		return nil, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	t.RevokedAt = utcPtr(t.RevokedAt)
	t.LastUsed = utcPtr(t.LastUsed)
	return &t, nil
}

// GetTokenByHash returns the token whose secret hashes to hash, revoked or
// not (ENotFound).
func (db *DB) GetTokenByHash(ctx context.Context, hash []byte) (*regcase.APIToken, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = $1`, hash))
	if err != nil {
		return nil, translate(err, "get token", "token")
	}
	return t, nil
}

// ListTokens returns every token, oldest first (created_at, then ID).
func (db *DB) ListTokens(ctx context.Context) ([]*regcase.APIToken, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err, "list tokens", "token")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.APIToken, error) { return scanToken(row) })
	if err != nil {
		return nil, translate(err, "list tokens", "token")
	}
	return list, nil
}

// InsertToken stores a token (EConflict on a duplicate ID or hash).
func (t *tx) InsertToken(ctx context.Context, tok *regcase.APIToken) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO api_tokens (id, name, role, hash, created_at, revoked_at, last_used)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		tok.ID, tok.Name, string(tok.Role), tok.Hash, tok.CreatedAt, tok.RevokedAt, tok.LastUsed)
	return translate(err, "insert token", "token")
}

// RevokeToken sets RevokedAt, in one statement: ENotFound if there is no
// such token, EConflict if it is already revoked.
func (t *tx) RevokeToken(ctx context.Context, id string, at time.Time) error {
	var revoked, exists bool
	err := t.tx.QueryRow(ctx, `
		WITH u AS (
			UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM api_tokens WHERE id = $1)`,
		id, at).Scan(&revoked, &exists)
	switch {
	case err != nil:
		return translate(err, "revoke token", "token")
	case revoked:
		return nil
	case !exists:
		return regcase.Errorf(regcase.ENotFound, "token not found")
	}
	return regcase.Errorf(regcase.EConflict, "token is already revoked")
}

// TouchToken records the last use of a token (ENotFound if there is no such
// token).
func (t *tx) TouchToken(ctx context.Context, id string, at time.Time) error {
	tag, err := t.tx.Exec(ctx, `UPDATE api_tokens SET last_used = $2 WHERE id = $1`, id, at)
	if err != nil {
		return translate(err, "touch token", "token")
	}
	if tag.RowsAffected() == 0 {
		return regcase.Errorf(regcase.ENotFound, "token not found")
	}
	return nil
}
