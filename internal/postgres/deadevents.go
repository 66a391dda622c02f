package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

const deadEventColumns = `id, handler, event_id, type, source, subject, time, data, request_id,
	partition_key, reason, deliveries, dead_at, replayed_at`

func scanDeadEvent(row pgx.Row) (*regcase.DeadEvent, error) {
	var d regcase.DeadEvent
	var data []byte
	e := &d.Event
	err := row.Scan(&d.ID, &d.Handler, &e.ID, &e.Type, &e.Source, &e.Subject, &e.Time, &data, &e.RequestID,
		&e.PartitionKey, &d.Reason, &d.Deliveries, &d.DeadAt, &d.ReplayedAt)
	if err != nil {
		return nil, err
	}
	if data != nil {
		e.Data = data
	}
	e.Time = utc(e.Time)
	d.DeadAt = utc(d.DeadAt)
	d.ReplayedAt = utcPtr(d.ReplayedAt)
	return &d, nil
}

// GetDeadEvent returns a dead letter (ENotFound).
func (db *DB) GetDeadEvent(ctx context.Context, id int64) (*regcase.DeadEvent, error) {
	d, err := scanDeadEvent(db.pool.QueryRow(ctx, `SELECT `+deadEventColumns+` FROM dead_events WHERE id = $1`, id))
	if err != nil {
		return nil, translate(err, "get dead event", "dead event")
	}
	return d, nil
}

// ListDeadEvents returns at most f.Limit dead letters (DefaultLimit when
// unset, MaxLimit at most), ID descending, with ID < f.Cursor when it is
// positive.
func (db *DB) ListDeadEvents(ctx context.Context, f regcase.DeadEventFilter) ([]*regcase.DeadEvent, error) {
	w := newWhere()
	w.DeadEvents(f)
	rows, err := db.pool.Query(ctx, `SELECT `+deadEventColumns+` FROM dead_events`+w.SQL()+
		` ORDER BY id DESC LIMIT `+w.Arg(regcase.PageLimit(f.Limit)), w.Args...)
	if err != nil {
		return nil, translate(err, "list dead events", "dead event")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.DeadEvent, error) { return scanDeadEvent(row) })
	if err != nil {
		return nil, translate(err, "list dead events", "dead event")
	}
	return list, nil
}

// InsertDeadEvent records a dead letter and sets d.ID. A second dead letter
// for the same handler and event while the first is not replayed is
// EConflict (the partial unique index dead_events_unreplayed_key), found
// with ON CONFLICT DO NOTHING so that the transaction stays usable.
func (t *tx) InsertDeadEvent(ctx context.Context, d *regcase.DeadEvent) error {
	e := &d.Event
	err := t.tx.QueryRow(ctx, `
		INSERT INTO dead_events (handler, event_id, type, source, subject, time, data, request_id,
			partition_key, reason, deliveries, dead_at, replayed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (handler, event_id) WHERE replayed_at IS NULL DO NOTHING
		RETURNING id`,
		d.Handler, e.ID, e.Type, e.Source, e.Subject, e.Time, nullJSON(e.Data), e.RequestID,
		e.PartitionKey, d.Reason, d.Deliveries, d.DeadAt, d.ReplayedAt).Scan(&d.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return regcase.Errorf(regcase.EConflict, "the handler already has an unreplayed dead letter for this event")
	}
	return translate(err, "insert dead event", "dead event")
}

// ReplayDeadEvent stamps ReplayedAt on the dead letter (ENotFound if
// missing, EConflict if already replayed) and makes its event unpublished
// in the outbox again: the row keeps its Seq, or is re-inserted from the
// dead letter when it was pruned. A row that was published gets a new
// created_at, so OutboxStats measures the replay's wait, not the event's
// age.
func (t *tx) ReplayDeadEvent(ctx context.Context, id int64, at time.Time) (*regcase.DeadEvent, error) {
	d, err := scanDeadEvent(t.tx.QueryRow(ctx, `
		UPDATE dead_events SET replayed_at = $2 WHERE id = $1 AND replayed_at IS NULL
		RETURNING `+deadEventColumns, id, at))
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dead_events WHERE id = $1)`, id).Scan(&exists); err != nil {
			return nil, translate(err, "replay dead event", "dead event")
		}
		if !exists {
			return nil, regcase.Errorf(regcase.ENotFound, "dead event not found")
		}
		return nil, regcase.Errorf(regcase.EConflict, "dead event is already replayed")
	}
	if err != nil {
		return nil, translate(err, "replay dead event", "dead event")
	}
	_, err = t.tx.Exec(ctx, insertEventSQL+`
		ON CONFLICT (event_id) DO UPDATE SET published_at = NULL,
			created_at = CASE WHEN outbox.published_at IS NULL THEN outbox.created_at ELSE EXCLUDED.created_at END`,
		eventArgs(&d.Event)...)
	if err != nil {
		return nil, translate(err, "replay dead event", "event")
	}
	return d, nil
}
