package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// This file holds the relay's side of the outbox, the handlers' dedupe
// table, leases and the SLA scan; webhooks.go and deadevents.go hold the
// rest of regcase.PipelineStore. The PipelineStore writes run on the one
// write connection, so they must not be called from inside InTx's fn.

// jsonArray encodes keys as a JSON array for json_each(?), which stands in
// for PostgreSQL's = ANY($1) without a bound on the number of variables.
func jsonArray[T any](keys []T) (string, error) {
	b, err := json.Marshal(keys)
	if err != nil {
		return "", regcase.Internal(fmt.Errorf("sqlite: encode keys: %w", err))
	}
	return string(b), nil
}

// writeTx runs fn in one write transaction with InTx's busy retries.
func (db *DB) writeTx(ctx context.Context, fn func(*tx) error) error {
	return db.InTx(ctx, func(t regcase.Tx) error { return fn(t.(*tx)) })
}

// nowExpr is SQLite's clock in timeLayout (its clock has millisecond
// precision), for the leases.
const nowExpr = `strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')`

const outboxColumns = `id, event_id, type, source, subject, time, data, request_id,
	partition_key, created_at, published_at, coalesce(traceparent, ''), coalesce(tracestate, '')`

func scanOutboxEvent(s scanner) (*regcase.OutboxEvent, error) {
	var (
		e           regcase.OutboxEvent
		at, created string
		data        string
		published   sql.NullString
		d           decoder
	)
	err := s.Scan(&e.Seq, &e.ID, &e.Type, &e.Source, &e.Subject, &at, &data, &e.RequestID,
		&e.PartitionKey, &created, &published, &e.TraceParent, &e.TraceState)
	if err != nil {
		return nil, err
	}
	e.Time = d.time(at)
	e.CreatedAt = d.time(created)
	e.PublishedAt = d.timePtr(published)
	e.Data = decodeEventData(data)
	return &e, d.err
}

// decodeEventData undoes InsertEvent's encoding: an event without data is
// stored as the JSON null (outbox.data is NOT NULL) and read back as nil.
func decodeEventData(s string) json.RawMessage {
	if s == "" || s == "null" {
		return nil
	}
	return json.RawMessage(s)
}

// PendingOutbox returns at most limit unpublished events, Seq ascending
// (none when limit <= 0).
func (db *DB) PendingOutbox(ctx context.Context, limit int) ([]*regcase.OutboxEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE published_at IS NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, translate(err, "pending outbox", "event")
	}
	list, err := collect(rows, scanOutboxEvent)
	if err != nil {
		return nil, translate(err, "pending outbox", "event")
	}
	return list, nil
}

// MarkPublished stamps published_at on the rows of seqs that have none;
// unknown seqs are ignored.
func (db *DB) MarkPublished(ctx context.Context, seqs []int64, at time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	keys, err := jsonArray(seqs)
	if err != nil {
		return err
	}
	_, err = db.w.ExecContext(ctx, `UPDATE outbox SET published_at = ?
		WHERE published_at IS NULL AND id IN (SELECT value FROM json_each(?))`, fmtTime(at), keys)
	return translate(err, "mark published", "record")
}

// RepublishLost implements regcase.PipelineStore in one statement.
func (db *DB) RepublishLost(ctx context.Context, handler string, after, before time.Time, limit int) (int64, error) {
	if limit <= 0 || !after.Before(before) {
		return 0, nil
	}
	res, err := db.w.ExecContext(ctx, `UPDATE outbox SET published_at = NULL WHERE id IN (
		SELECT o.id FROM outbox o
		WHERE o.published_at >= ? AND o.published_at < ?
		  AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.handler = ? AND p.event_id = o.event_id)
		  AND NOT EXISTS (SELECT 1 FROM dead_events d WHERE d.handler = ? AND d.event_id = o.event_id)
		ORDER BY o.id LIMIT ?)`, fmtTime(after), fmtTime(before), handler, handler, limit)
	if err != nil {
		return 0, translate(err, "republish lost events", "event")
	}
	n, err := res.RowsAffected()
	return n, translate(err, "republish lost events", "event")
}

// PruneOutbox deletes at most limit outbox rows published before before and
// returns how many went. It also forgets which handlers processed events
// before before (the dedupe window is the outbox retention), in statements
// of at most limit rows until none is left: the dedupe table has a row per
// handler and event, and must keep pace with a caller that stops once
// fewer than limit outbox rows went.
func (db *DB) PruneOutbox(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	cutoff := fmtTime(before)
	res, err := db.w.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE published_at < ? ORDER BY published_at LIMIT ?)`, cutoff, limit)
	if err != nil {
		return 0, translate(err, "prune outbox", "event")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate(err, "prune outbox", "event")
	}
	for {
		res, err := db.w.ExecContext(ctx, `DELETE FROM processed_events WHERE (handler, event_id) IN (
			SELECT handler, event_id FROM processed_events WHERE processed_at < ? LIMIT ?)`, cutoff, limit)
		if err != nil {
			return 0, translate(err, "prune processed events", "event")
		}
		m, err := res.RowsAffected()
		if err != nil {
			return 0, translate(err, "prune processed events", "event")
		}
		if m < int64(limit) {
			return n, nil
		}
	}
}

// OutboxStats returns the number of unpublished events and the creation
// time of the oldest (nil when none).
func (db *DB) OutboxStats(ctx context.Context) (int64, *time.Time, error) {
	var (
		n      int64
		oldest sql.NullString
		d      decoder
	)
	err := db.r.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL`).Scan(&n, &oldest)
	if err != nil {
		return 0, nil, translate(err, "outbox stats", "event")
	}
	t := d.timePtr(oldest)
	if d.err != nil {
		return 0, nil, translate(d.err, "outbox stats", "event")
	}
	return n, t, nil
}

// AcquireLease takes or renews the named lease for holder until SQLite's
// now + ttl (to the millisecond), in one statement: the upsert only
// overwrites a lease that is holder's or has expired, and reports whether
// it did. A ttl that is not positive is EInvalid.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, regcase.Errorf(regcase.EInvalid, "lease ttl must be positive")
	}
	rows, err := db.w.QueryContext(ctx, `
		INSERT INTO leases (name, holder, expires_at)
		VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', ?))
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= `+nowExpr+`
		RETURNING holder`, name, holder, fmt.Sprintf("%+.3f seconds", ttl.Seconds()))
	if err != nil {
		return false, translate(err, "acquire lease", "lease")
	}
	got, err := collect(rows, func(s scanner) (string, error) {
		var h string
		return h, s.Scan(&h)
	})
	if err != nil {
		return false, translate(err, "acquire lease", "lease")
	}
	return len(got) == 1, nil
}

// ReleaseLease deletes the lease if holder has it (no error otherwise).
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	return translate(err, "release lease", "lease")
}

// OverdueCases returns the IDs of at most limit open, running, unbreached
// cases due before now, earliest due first (ID breaks ties).
func (db *DB) OverdueCases(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM cases
		WHERE closed_at IS NULL AND paused_at IS NULL AND breached_at IS NULL AND due_at < ?
		ORDER BY due_at, id LIMIT ?`, fmtTime(now), limit)
	if err != nil {
		return nil, translate(err, "overdue cases", "case")
	}
	ids, err := collect(rows, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
	if err != nil {
		return nil, translate(err, "overdue cases", "case")
	}
	return ids, nil
}

// MarkProcessed records that handler has handled eventID and reports
// whether this is the first time.
func (t *tx) MarkProcessed(ctx context.Context, handler, eventID string, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO processed_events (handler, event_id, processed_at)
		VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, handler, eventID, fmtTime(at))
	if err != nil {
		return false, translate(err, "mark processed", "event")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, translate(err, "mark processed", "event")
	}
	return n == 1, nil
}
