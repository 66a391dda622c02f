package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

const deadEventColumns = `id, handler, event_id, type, source, subject, time, data, request_id,
	partition_key, reason, deliveries, dead_at, replayed_at`

func scanDeadEvent(s scanner) (*regcase.DeadEvent, error) {
	var (
		de             regcase.DeadEvent
		at, deadAt     string
		data, replayed sql.NullString
		d              decoder
	)
	e := &de.Event
	err := s.Scan(&de.ID, &de.Handler, &e.ID, &e.Type, &e.Source, &e.Subject, &at, &data, &e.RequestID,
		&e.PartitionKey, &de.Reason, &de.Deliveries, &deadAt, &replayed)
	if err != nil {
		return nil, err
	}
	e.Time = d.time(at)
	if data.Valid {
		e.Data = json.RawMessage(data.String)
	}
	de.DeadAt = d.time(deadAt)
	de.ReplayedAt = d.timePtr(replayed)
	return &de, d.err
}

// GetDeadEvent returns a dead letter (ENotFound if none).
func (db *DB) GetDeadEvent(ctx context.Context, id int64) (*regcase.DeadEvent, error) {
	d, err := scanDeadEvent(db.r.QueryRowContext(ctx, `SELECT `+deadEventColumns+` FROM dead_events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "dead event %d not found", id)
	}
	if err != nil {
		return nil, translate(err, "get dead event", "dead letter")
	}
	return d, nil
}

// ListDeadEvents returns at most f.Limit (bounded by regcase.MaxLimit) dead
// letters matching f, ID descending, with ID < f.Cursor when it is
// positive.
func (db *DB) ListDeadEvents(ctx context.Context, f regcase.DeadEventFilter) ([]*regcase.DeadEvent, error) {
	w := newWhere()
	w.DeadEvents(f)
	rows, err := db.r.QueryContext(ctx, `SELECT `+deadEventColumns+` FROM dead_events`+w.SQL()+
		` ORDER BY id DESC LIMIT `+w.Arg(regcase.PageLimit(f.Limit)), w.Args...)
	if err != nil {
		return nil, translate(err, "list dead events", "dead letter")
	}
	list, err := collect(rows, scanDeadEvent)
	if err != nil {
		return nil, translate(err, "list dead events", "dead letter")
	}
	return list, nil
}

// InsertDeadEvent records a dead letter and sets d.ID. A second dead letter
// for the same handler and event while the first is not replayed is
// EConflict (the partial unique index dead_events_unreplayed).
func (t *tx) InsertDeadEvent(ctx context.Context, d *regcase.DeadEvent) error {
	e := &d.Event
	var data any
	if len(e.Data) > 0 {
		data = string(e.Data)
	}
	err := t.tx.QueryRowContext(ctx, `
		INSERT INTO dead_events (handler, event_id, type, source, subject, time, data, request_id,
			partition_key, reason, deliveries, dead_at, replayed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		d.Handler, e.ID, e.Type, e.Source, e.Subject, fmtTime(e.Time), data, e.RequestID,
		e.PartitionKey, d.Reason, d.Deliveries, fmtTime(d.DeadAt), fmtTimePtr(d.ReplayedAt)).Scan(&d.ID)
	return translate(err, "insert dead event", "dead letter")
}

// ReplayDeadEvent stamps ReplayedAt on the dead letter (ENotFound if
// missing, EConflict if already replayed) and makes its event unpublished
// in the outbox again: the row keeps its Seq, or is re-inserted from the
// dead letter when it was pruned. A row that was published gets a new
// created_at, so OutboxStats measures the replay's wait, not the event's
// age.
func (t *tx) ReplayDeadEvent(ctx context.Context, id int64, at time.Time) (*regcase.DeadEvent, error) {
	d, err := scanDeadEvent(t.tx.QueryRowContext(ctx, `
		UPDATE dead_events SET replayed_at = ? WHERE id = ? AND replayed_at IS NULL
		RETURNING `+deadEventColumns, fmtTime(at), id))
	if errors.Is(err, sql.ErrNoRows) {
		var exists bool
		if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM dead_events WHERE id = ?)`, id).Scan(&exists); err != nil {
			return nil, translate(err, "replay dead event", "dead letter")
		}
		if !exists {
			return nil, regcase.Errorf(regcase.ENotFound, "dead event %d not found", id)
		}
		return nil, regcase.Errorf(regcase.EConflict, "dead event %d is already replayed", id)
	}
	if err != nil {
		return nil, translate(err, "replay dead event", "dead letter")
	}
	e := &d.Event
	data := string(e.Data)
	if data == "" {
		data = "null" // as InsertEvent stores it
	}
	_, err = t.tx.ExecContext(ctx, `
		INSERT INTO outbox (event_id, type, source, subject, time, data, request_id, partition_key, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO UPDATE SET published_at = NULL,
			created_at = CASE WHEN published_at IS NULL THEN created_at ELSE excluded.created_at END`,
		e.ID, e.Type, e.Source, e.Subject, fmtTime(e.Time), data, e.RequestID, e.PartitionKey,
		fmtTime(time.Now()))
	if err != nil {
		return nil, translate(err, "replay dead event", "dead letter")
	}
	return d, nil
}
