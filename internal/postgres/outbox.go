package postgres

import (
	"context"

	"github.com/regcase/regcase/internal/regcase"
)

// InsertEvent writes a domain event to the outbox in one statement; Data is
// stored byte for byte (json column). A duplicate event ID returns
// EConflict; Data that is not JSON returns EInvalid.
func (t *tx) InsertEvent(ctx context.Context, e *regcase.Event) error {
	_, err := t.tx.Exec(ctx, insertEventSQL, eventArgs(e)...)
	return translate(err, "insert event", "event")
}

const insertEventSQL = `
	INSERT INTO outbox (event_id, type, source, subject, time, data, request_id, partition_key, traceparent, tracestate)
	VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10)`

func eventArgs(e *regcase.Event) []any {
	return []any{e.ID, e.Type, e.Source, e.Subject, e.Time, nullJSON(e.Data), e.RequestID, e.PartitionKey,
		nullString(e.TraceParent), nullString(e.TraceState)}
}
