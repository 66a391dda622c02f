package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

// checkpointLockKey is the pg_advisory_xact_lock key LastCheckpoint takes so
// that one writer checkpoints at a time (the bytes "regcase" + "c").
const checkpointLockKey int64 = 0x72656763617365_63

// auditColumns is the select list scanAudit reads.
const auditColumns = `id, chain, seq, at, actor_id, actor_role, actor_addr, request_id,
	action, entity_type, entity_id, data, prev_hash, hash`

func scanAudit(row pgx.Row) (*regcase.AuditRecord, error) {
	var r regcase.AuditRecord
	var data []byte
	err := row.Scan(&r.ID, &r.Chain, &r.Seq, &r.Time, &r.ActorID, &r.ActorRole, &r.ActorAddr,
		&r.RequestID, &r.Action, &r.EntityType, &r.EntityID, &data, &r.PrevHash, &r.Hash)
	if err != nil {
		return nil, err
	}
	r.Time = utc(r.Time)
	r.Data = data
	return &r, nil
}

// AppendAudit appends r to its chain in two round trips: the first creates
// the chain row or bumps its seq, locking that one row until the
// transaction ends (appends to other chains never wait); r is then sealed
// after the previous head, and the second statement inserts the record and
// moves the head. r.ID, Seq, Time, PrevHash and Hash are set.
func (t *tx) AppendAudit(ctx context.Context, r *regcase.AuditRecord) error {
	var seq int64
	var head []byte
	err := t.tx.QueryRow(ctx, `
		INSERT INTO audit_chains AS c (chain, seq, head_hash, checkpointed_seq)
		VALUES ($1, 1, $2, 0)
		ON CONFLICT (chain) DO UPDATE SET seq = c.seq + 1
		RETURNING seq, head_hash`, r.Chain, make([]byte, regcase.HashSize)).Scan(&seq, &head)
	if err != nil {
		return translate(err, "append audit: lock chain head", "audit chain")
	}
	if seq == 1 {
		head = nil // a new chain: Seal uses the zero hash
	}
	r.Seal(seq-1, head)
	err = t.tx.QueryRow(ctx, `
		WITH rec AS (`+insertAuditRecordSQL+`
			RETURNING id
		), head AS (
			UPDATE audit_chains SET head_hash = $13 WHERE chain = $1
		)
		SELECT id FROM rec`, auditArgs(r)...,
	).Scan(&r.ID)
	return translate(err, "append audit: insert record", "audit record")
}

// insertAuditRecordSQL takes auditArgs: hash is $13, chain $1.
const insertAuditRecordSQL = `
	INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr,
		request_id, action, entity_type, entity_id, data, prev_hash, hash)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

func auditArgs(r *regcase.AuditRecord) []any {
	return []any{r.Chain, r.Seq, r.Time, r.ActorID, string(r.ActorRole), r.ActorAddr,
		r.RequestID, r.Action, r.EntityType, r.EntityID, auditData(r.Data), r.PrevHash, r.Hash}
}

// auditData passes the canonical JSON as text, byte for byte (nil is NULL).
func auditData(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// ListAudit returns at most f.Limit records (DefaultLimit when unset,
// MaxLimit at most), ID ascending, with ID > f.AfterID, of f.Chain when set.
func (db *DB) ListAudit(ctx context.Context, f regcase.AuditFilter) ([]*regcase.AuditRecord, error) {
	w := newWhere()
	w.Eq("chain", f.Chain)
	w.Add("id > " + w.Arg(f.AfterID))
	rows, err := db.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_records`+w.SQL()+
		` ORDER BY id LIMIT `+w.Arg(regcase.PageLimit(f.Limit)), w.Args...)
	if err != nil {
		return nil, translate(err, "list audit", "audit record")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.AuditRecord, error) { return scanAudit(row) })
	if err != nil {
		return nil, translate(err, "list audit", "audit record")
	}
	return list, nil
}

// ScanAudit streams every record, ordered by (chain, seq, id), to fn; the
// first error from fn stops the scan and is returned unchanged.
func (db *DB) ScanAudit(ctx context.Context, fn func(*regcase.AuditRecord) error) error {
	rows, err := db.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_records ORDER BY chain, seq, id`)
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

// AuditHeads returns the recorded head of every chain, by chain name.
func (db *DB) AuditHeads(ctx context.Context) (map[string]regcase.ChainHead, error) {
	rows, err := db.pool.Query(ctx, `SELECT chain, seq, head_hash FROM audit_chains`)
	if err != nil {
		return nil, translate(err, "audit heads", "audit chain")
	}
	heads, err := pgx.CollectRows(rows, scanHead)
	if err != nil {
		return nil, translate(err, "audit heads", "audit chain")
	}
	m := make(map[string]regcase.ChainHead, len(heads))
	for _, h := range heads {
		m[h.Chain] = h
	}
	return m, nil
}

func scanHead(row pgx.CollectableRow) (regcase.ChainHead, error) {
	var h regcase.ChainHead
	err := row.Scan(&h.Chain, &h.Seq, &h.Hash)
	return h, err
}

// PendingHeads returns, by chain name, the heads of the chains that moved
// since they were last checkpointed.
func (t *tx) PendingHeads(ctx context.Context) ([]regcase.ChainHead, error) {
	rows, err := t.tx.Query(ctx, `
		SELECT chain, seq, head_hash FROM audit_chains
		WHERE seq > checkpointed_seq ORDER BY chain`)
	if err != nil {
		return nil, translate(err, "pending heads", "audit chain")
	}
	heads, err := pgx.CollectRows(rows, scanHead)
	if err != nil {
		return nil, translate(err, "pending heads", "audit chain")
	}
	return heads, nil
}
