package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

const tokenColumns = `id, name, role, hash, created_at, revoked_at, last_used_at`

func scanToken(s scanner) (*regcase.APIToken, error) {
	var (
		t             regcase.APIToken
		created       string
		revoked, used sql.NullString
		d             decoder
	)
	if err := s.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &revoked, &used); err != nil {
		return nil, err
	}
	t.CreatedAt = d.time(created)
	t.RevokedAt = d.timePtr(revoked)
	t.LastUsed = d.timePtr(used)
	return &t, d.err
}

// GetTokenByHash returns the token whose secret hashes to hash, revoked or
// not (ENotFound if none).
func (db *DB) GetTokenByHash(ctx context.Context, hash []byte) (*regcase.APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx,
		`SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "token not found")
	}
	if err != nil {
		return nil, translate(err, "get token", "token")
	}
	return t, nil
}

// ListTokens returns every token, oldest first.
func (db *DB) ListTokens(ctx context.Context) ([]*regcase.APIToken, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err, "list tokens", "token")
	}
	tokens, err := collect(rows, scanToken)
	if err != nil {
		return nil, translate(err, "list tokens", "token")
	}
	return tokens, nil
}

// InsertToken stores a token (EConflict on a duplicate ID or hash).
func (t *tx) InsertToken(ctx context.Context, tok *regcase.APIToken) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO api_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		tok.ID, tok.Name, string(tok.Role), tok.Hash, fmtTime(tok.CreatedAt),
		fmtTimePtr(tok.RevokedAt), fmtTimePtr(tok.LastUsed))
	return translate(err, "insert token", "token")
}

// RevokeToken sets the token's RevokedAt (ENotFound if no such token,
// EConflict if it is already revoked).
func (t *tx) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := t.tx.ExecContext(ctx,
		`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, fmtTime(at), id)
	err = checkUpdated("revoke token", res, err, errNotRevoked)
	if !errors.Is(err, errNotRevoked) {
		return err
	}
	var exists bool
	if err := t.tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM api_tokens WHERE id = ?)`, id).Scan(&exists); err != nil {
		return translate(err, "revoke token", "token")
	}
	if !exists {
		return regcase.Errorf(regcase.ENotFound, "token %s not found", id)
	}
	return regcase.Errorf(regcase.EConflict, "token %s is already revoked", id)
}

// errNotRevoked marks a revocation that touched no row.
var errNotRevoked = errors.New("no unrevoked token with this id")

// TouchToken records the last use of a token (ENotFound if no such token).
func (t *tx) TouchToken(ctx context.Context, id string, at time.Time) error {
	res, err := t.tx.ExecContext(ctx,
		`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, fmtTime(at), id)
	return checkUpdated("touch token", res, err, regcase.Errorf(regcase.ENotFound, "token %s not found", id))
}
