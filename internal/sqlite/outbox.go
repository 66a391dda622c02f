package sqlite

import (
	"context"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// InsertEvent writes e to the outbox, unpublished (EConflict on a duplicate
// event ID).
func (t *tx) InsertEvent(ctx context.Context, e *regcase.Event) error {
	data := string(e.Data)
	if data == "" {
		data = "null"
	}
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO outbox (event_id, type, source, subject, time, data, request_id, partition_key, created_at,
			traceparent, tracestate)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, e.Source, e.Subject, fmtTime(e.Time), data, e.RequestID, e.PartitionKey,
		fmtTime(time.Now()), nullString(e.TraceParent), nullString(e.TraceState))
	return translate(err, "insert event", "event")
}
