package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

// This file holds the relay's side of the outbox, the handlers' dedupe
// table, leases and the SLA scan; webhooks.go and deadevents.go hold the
// rest of regcase.PipelineStore.

const outboxColumns = `id, event_id, type, source, subject, time, data, request_id,
	partition_key, created_at, published_at, coalesce(traceparent, ''), coalesce(tracestate, '')`

func scanOutboxEvent(row pgx.Row) (*regcase.OutboxEvent, error) {
	var e regcase.OutboxEvent
	var data []byte
	err := row.Scan(&e.Seq, &e.ID, &e.Type, &e.Source, &e.Subject, &e.Time, &data, &e.RequestID,
		&e.PartitionKey, &e.CreatedAt, &e.PublishedAt, &e.TraceParent, &e.TraceState)
	if err != nil {
		return nil, err
	}
	if data != nil {
		e.Data = data
	}
	e.Time = utc(e.Time)
	e.CreatedAt = utc(e.CreatedAt)
	e.PublishedAt = utcPtr(e.PublishedAt)
	return &e, nil
}

// PendingOutbox returns at most limit unpublished events, Seq ascending
// (none when limit <= 0). Data comes back byte for byte (nil when the event
// had none).
func (db *DB) PendingOutbox(ctx context.Context, limit int) ([]*regcase.OutboxEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE published_at IS NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, translate(err, "pending outbox", "event")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.OutboxEvent, error) { return scanOutboxEvent(row) })
	if err != nil {
		return nil, translate(err, "pending outbox", "event")
	}
	return list, nil
}

// MarkPublished stamps published_at on the rows of seqs that have none, in
// one statement; unknown seqs are ignored.
func (db *DB) MarkPublished(ctx context.Context, seqs []int64, at time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	_, err := db.pool.Exec(ctx, `UPDATE outbox SET published_at = $2
		WHERE id = ANY($1) AND published_at IS NULL`, seqs, at)
	return translate(err, "mark published", "event")
}

// RepublishLost implements regcase.PipelineStore: one statement, the
// published_at index bounds the window and the two primary/unique keys
// answer the anti-joins.
func (db *DB) RepublishLost(ctx context.Context, handler string, after, before time.Time, limit int) (int64, error) {
	if limit <= 0 || !after.Before(before) {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `UPDATE outbox SET published_at = NULL WHERE id IN (
		SELECT o.id FROM outbox o
		WHERE o.published_at >= $2 AND o.published_at < $3
		  AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.handler = $1 AND p.event_id = o.event_id)
		  AND NOT EXISTS (SELECT 1 FROM dead_events d WHERE d.handler = $1 AND d.event_id = o.event_id)
		ORDER BY o.id LIMIT $4)`, handler, after, before, limit)
	if err != nil {
		return 0, translate(err, "republish lost events", "event")
	}
	return tag.RowsAffected(), nil
}

// PruneOutbox deletes at most limit outbox rows published before before and
// returns how many went. It also forgets which handlers processed events
// before before (processed_events: the dedupe window is the outbox
// retention), in statements of at most limit rows until none is left, so
// that the dedupe table, which has a row per handler and event, keeps pace
// with a caller that stops once fewer than limit outbox rows went.
func (db *DB) PruneOutbox(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE published_at < $1 ORDER BY published_at LIMIT $2)`, before, limit)
	if err != nil {
		return 0, translate(err, "prune outbox", "event")
	}
	for {
		ptag, err := db.pool.Exec(ctx, `DELETE FROM processed_events WHERE (handler, event_id) IN (
			SELECT handler, event_id FROM processed_events WHERE processed_at < $1 LIMIT $2)`, before, limit)
		if err != nil {
			return 0, translate(err, "prune processed events", "processed event")
		}
		if ptag.RowsAffected() < int64(limit) {
			return tag.RowsAffected(), nil
		}
	}
}

// OutboxStats returns the number of unpublished events and the creation
// time of the oldest (nil when none).
func (db *DB) OutboxStats(ctx context.Context) (int64, *time.Time, error) {
	var n int64
	var oldest *time.Time
	err := db.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL`).Scan(&n, &oldest)
	if err != nil {
		return 0, nil, translate(err, "outbox stats", "event")
	}
	return n, utcPtr(oldest), nil
}

// AcquireLease takes or renews the named lease for holder until the
// database's now() + ttl, in one statement: the upsert only overwrites a
// lease that is holder's or has expired, and reports whether it did. A ttl
// that is not positive is EInvalid.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, regcase.Errorf(regcase.EInvalid, "lease ttl must be positive")
	}
	var got string
	err := db.pool.QueryRow(ctx, `
		INSERT INTO leases AS l (name, holder, expires_at)
		VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
		RETURNING holder`, name, holder, ttl.Microseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // held by another holder, not expired
	}
	if err != nil {
		return false, translate(err, "acquire lease", "lease")
	}
	return true, nil
}

// ReleaseLease deletes the lease if holder has it (no error otherwise).
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	return translate(err, "release lease", "lease")
}

// OverdueCases returns the IDs of at most limit open, running, unbreached
// cases due before now, earliest due first (ID breaks ties).
func (db *DB) OverdueCases(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id FROM cases
		WHERE closed_at IS NULL AND paused_at IS NULL AND breached_at IS NULL AND due_at < $1
		ORDER BY due_at, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, translate(err, "overdue cases", "case")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, translate(err, "overdue cases", "case")
	}
	return ids, nil
}

// MarkProcessed records that handler has handled eventID and reports
// whether this is the first time. A concurrent transaction recording the
// same pair waits for this one: it gets false if this one commits.
func (t *tx) MarkProcessed(ctx context.Context, handler, eventID string, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO processed_events (handler, event_id, processed_at)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, handler, eventID, at)
	if err != nil {
		return false, translate(err, "mark processed", "processed event")
	}
	return tag.RowsAffected() == 1, nil
}
