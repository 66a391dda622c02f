package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/telemetry"
)

// tracer makes one client span per statement and one per batch (pgx's
// QueryTracer and BatchTracer), children of the span in the context; see
// telemetry.StartDB for what a span records (the statement's operation and
// table, never its text or arguments). Installed only when tracing is on
// (Options.Tracing).
type tracer struct{}

var (
	_ pgx.QueryTracer = tracer{}
	_ pgx.BatchTracer = tracer{}
)

type endKey struct{}

func (tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	ctx, end := telemetry.StartDB(ctx, telemetry.PostgreSQL, d.SQL)
	return context.WithValue(ctx, endKey{}, end)
}

func (tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if end, ok := ctx.Value(endKey{}).(telemetry.End); ok {
		end(d.Err)
	}
}

func (tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	query := "BATCH"
	if d.Batch != nil && len(d.Batch.QueuedQueries) > 0 {
		query = d.Batch.QueuedQueries[0].SQL // named after its first statement
	}
	ctx, end := telemetry.StartDB(ctx, telemetry.PostgreSQL, query)
	return context.WithValue(ctx, endKey{}, end)
}

func (tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	if end, ok := ctx.Value(endKey{}).(telemetry.End); ok {
		end(d.Err)
	}
}
