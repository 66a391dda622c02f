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

// AppendAudit reads the head of r.Chain, seals r after it
// (regcase.AuditRecord.Seal) and inserts r (setting r.ID): a chain's first
// record creates the chain row with r as its head, a later one moves the
// head. Three statements either way (the intake's new chain takes no
// upsert of an empty head to read back and update). The transaction's
// write lock is the chain lock: the one writer holds it from BEGIN
// IMMEDIATE, so nothing creates or moves the head between the read and the
// write.
func (t *tx) AppendAudit(ctx context.Context, r *regcase.AuditRecord) error {
	if r.Chain == "" {
		return regcase.FieldError("chain", "an audit record needs a chain")
	}
	var (
		seq  int64
		head []byte
	)
	err := t.tx.QueryRowContext(ctx,
		`SELECT seq, head_hash FROM audit_chains WHERE chain = ?`, r.Chain).Scan(&seq, &head)
	first := errors.Is(err, sql.ErrNoRows)
	if err != nil && !first {
		return translate(err, "append audit", "audit record")
	}
	r.Seal(seq, head)
	if first {
		_, err = t.tx.ExecContext(ctx,
			`INSERT INTO audit_chains (chain, seq, head_hash, checkpointed_seq) VALUES (?, ?, ?, 0)`, r.Chain, r.Seq, r.Hash)
	} else {
		_, err = t.tx.ExecContext(ctx,
			`UPDATE audit_chains SET seq = ?, head_hash = ? WHERE chain = ?`, r.Seq, r.Hash, r.Chain)
	}
	if err != nil {
		return translate(err, "append audit", "audit record")
	}
	err = t.tx.QueryRowContext(ctx, `
		INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr, request_id,
		                           action, entity_type, entity_id, data, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		r.Chain, r.Seq, fmtTime(r.Time), r.ActorID, string(r.ActorRole), r.ActorAddr, r.RequestID,
		r.Action, r.EntityType, r.EntityID, string(r.Data), r.PrevHash, r.Hash).Scan(&r.ID)
	return translate(err, "append audit", "audit record")
}

// ListAudit returns at most f.Limit (bounded by regcase.MaxLimit) records
// with ID > f.AfterID, of f.Chain when set, by ID ascending.
func (db *DB) ListAudit(ctx context.Context, f regcase.AuditFilter) ([]*regcase.AuditRecord, error) {
	w := newWhere()
	w.Add("id > " + w.Arg(f.AfterID))
	w.Eq("chain", f.Chain)
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit_records`+w.SQL()+` ORDER BY id LIMIT `+w.Arg(regcase.PageLimit(f.Limit)),
		w.Args...)
	if err != nil {
		return nil, translate(err, "list audit", "audit record")
	}
	records, err := collect(rows, scanAudit)
	if err != nil {
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
	var fnErr error // returned unchanged
	err = each(rows, func(s scanner) error {
		r, err := scanAudit(s)
		if err != nil {
			return err
		}
		fnErr = fn(r)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return translate(err, "scan audit", "audit record")
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
	return collect(rows, func(s scanner) (regcase.ChainHead, error) {
		var h regcase.ChainHead
		return h, s.Scan(&h.Chain, &h.Seq, &h.Hash)
	})
}

// PendingHeads returns, sorted by chain, the heads of the chains that moved
// since they were last checkpointed.
func (t *tx) PendingHeads(ctx context.Context) ([]regcase.ChainHead, error) {
	heads, err := queryHeads(ctx, t.tx, `
		SELECT chain, seq, head_hash FROM audit_chains
		WHERE seq > checkpointed_seq ORDER BY chain`)
	return heads, translate(err, "pending heads", "audit record")
}
