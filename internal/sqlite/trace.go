package sqlite

import (
	"context"
	"database/sql"

	"github.com/regcase/regcase/internal/telemetry"
)

// tracedDB and tracedTx are the store's query helpers: *sql.DB and *sql.Tx
// whose ExecContext, QueryContext and QueryRowContext make a client span
// per statement when the caller's context holds a recording span (see
// telemetry.StartDB: operation and table, never the text or arguments).
// Otherwise they cost one context lookup.
type tracedDB struct{ *sql.DB }

type tracedTx struct{ *sql.Tx }

var (
	_ querier = tracedDB{}
	_ querier = tracedTx{}
)

func (d tracedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return traceExec(ctx, d.DB, query, args)
}

func (d tracedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return traceQuery(ctx, d.DB, query, args)
}

func (d tracedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return traceQueryRow(ctx, d.DB, query, args)
}

func (t tracedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return traceExec(ctx, t.Tx, query, args)
}

func (t tracedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return traceQuery(ctx, t.Tx, query, args)
}

func (t tracedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return traceQueryRow(ctx, t.Tx, query, args)
}

func traceExec(ctx context.Context, q querier, query string, args []any) (sql.Result, error) {
	ctx, end := telemetry.StartDB(ctx, telemetry.SQLite, query)
	res, err := q.ExecContext(ctx, query, args...)
	end(err)
	return res, err
}

func traceQuery(ctx context.Context, q querier, query string, args []any) (*sql.Rows, error) {
	ctx, end := telemetry.StartDB(ctx, telemetry.SQLite, query)
	rows, err := q.QueryContext(ctx, query, args...)
	end(err)
	return rows, err
}

func traceQueryRow(ctx context.Context, q querier, query string, args []any) *sql.Row {
	ctx, end := telemetry.StartDB(ctx, telemetry.SQLite, query)
	row := q.QueryRowContext(ctx, query, args...)
	end(row.Err())
	return row
}
