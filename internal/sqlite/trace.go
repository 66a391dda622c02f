package sqlite

import (
	"context"
	"database/sql"

	"github.com/regcase/regcase/internal/telemetry"
)

// traced is the store's query helper: a querier (*sql.DB or *sql.Tx) whose
// ExecContext, QueryContext and QueryRowContext make a client span per
// statement when the caller's context holds a recording span (see
// telemetry.StartDB: operation and table, never the text or arguments).
// Otherwise it costs one context lookup.
type traced struct{ q querier }

var _ querier = traced{}

func (t traced) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, end := telemetry.StartDB(ctx, telemetry.SQLite, query)
	res, err := t.q.ExecContext(ctx, query, args...)
	end(err)
	return res, err
}

func (t traced) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, end := telemetry.StartDB(ctx, telemetry.SQLite, query)
	rows, err := t.q.QueryContext(ctx, query, args...)
	end(err)
	return rows, err
}

func (t traced) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, end := telemetry.StartDB(ctx, telemetry.SQLite, query)
	row := t.q.QueryRowContext(ctx, query, args...)
	end(row.Err())
	return row
}

// tracedPool is a read pool (with its prepared statements) whose
// statements are traced.
type tracedPool struct{ pool }

func (d tracedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return traced{d.pool}.ExecContext(ctx, query, args...)
}

func (d tracedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return traced{d.pool}.QueryContext(ctx, query, args...)
}

func (d tracedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return traced{d.pool}.QueryRowContext(ctx, query, args...)
}
