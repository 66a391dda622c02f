// Package postgres is the PostgreSQL (15+) implementation of regcase.Store,
// built on pgx and its connection pool. The schema lives in embedded,
// versioned SQL migrations (migrations/*.sql) applied by Migrate as the
// owner role; the application connects as a role that is a member of
// regcase_app, which may append to the audit tables but never change them.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regcase/regcase/internal/regcase"
)

// Options tunes the connection pool. Zero fields keep pgxpool's defaults
// (or the pool_* parameters of the URL).
type Options struct {
	MaxConns        int32
	MinConns        int32
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// Tracing makes a client span per statement (a child of the caller's
	// span, when it has a recording one).
	Tracing bool
}

// DB is a regcase.Store backed by a PostgreSQL connection pool. It is safe
// for concurrent use.
type DB struct {
	pool *pgxpool.Pool
}

var _ regcase.Store = (*DB)(nil)

// maxTxAttempts bounds how often InTx runs fn when the database reports a
// serialization failure or a deadlock.
const maxTxAttempts = 4

// Open parses url (postgres://… or key=value form), applies o and returns a
// pool. It does not wait for a connection: call Ping to check reachability.
// A malformed url is an EInvalid error whose message never contains the
// password.
func Open(ctx context.Context, url string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &regcase.Error{Code: regcase.EInvalid, Message: "invalid PostgreSQL connection URL", Err: fmt.Errorf("postgres: parse url: %w", err)}
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MinConns > 0 {
		cfg.MinConns = o.MinConns
	}
	if o.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = o.MaxConnLifetime
	}
	if o.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = o.MaxConnIdleTime
	}
	if o.Tracing {
		cfg.ConnConfig.Tracer = tracer{}
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "regcase"
	}
	if rp["timezone"] == "" {
		rp["timezone"] = "UTC"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, translate(err, "open pool", "database")
	}
	return &DB{pool: pool}, nil
}

// Pool exposes the connection pool, for metrics (Pool().Stat()).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close releases the connections. It always returns nil.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping checks that the database answers (EUnavailable when it does not).
func (db *DB) Ping(ctx context.Context) error {
	return translate(db.pool.Ping(ctx), "ping", "database")
}

// SchemaVersion returns the highest applied migration version, 0 when the
// schema_migrations table does not exist yet.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	if isUndefinedTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, translate(err, "schema version", "schema version")
	}
	return v, nil
}

// InTx runs fn in a READ COMMITTED transaction and commits when fn returns
// nil. An error or a panic from fn rolls back (the panic is re-raised).
// Serialization failures and deadlocks (SQLSTATE 40001, 40P01) are retried
// up to maxTxAttempts times with a short backoff; fn must be safe to run
// again. fn's own errors are returned unchanged.
func (db *DB) InTx(ctx context.Context, fn func(regcase.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.runTx(ctx, fn)
		if err == nil || !isRetryable(err) || attempt == maxTxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return translate(ctx.Err(), "begin transaction", "transaction")
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
}

// runTx is one attempt of InTx.
func (db *DB) runTx(ctx context.Context, fn func(regcase.Tx) error) (err error) {
	ptx, err := db.pool.Begin(ctx)
	if err != nil {
		return translate(err, "begin transaction", "transaction")
	}
	rollback := func() {
		// Roll back even when ctx is already cancelled; pgx closes the
		// connection if this fails, so the transaction never lingers.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = ptx.Rollback(rctx)
	}
	defer func() {
		if p := recover(); p != nil {
			rollback()
			panic(p)
		}
	}()
	if err := fn(&tx{tx: ptx}); err != nil {
		rollback()
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		if errors.Is(err, pgx.ErrTxCommitRollback) {
			return regcase.Internal(fmt.Errorf("postgres: commit: transaction was aborted by an earlier error that fn ignored: %w", err))
		}
		return translate(err, "commit", "transaction")
	}
	return nil
}

// querier is what both the pool and a transaction offer; the read helpers
// run on either.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// tx implements regcase.Tx on one pgx transaction.
type tx struct {
	tx pgx.Tx
}

var _ regcase.Tx = (*tx)(nil)

// utc returns t in UTC (pgx returns timestamptz in the local zone).
func utc(t time.Time) time.Time { return t.UTC() }

// utcPtr is utc for nullable times.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nullString maps "" to SQL NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullJSON maps an empty JSON document to SQL NULL and passes the bytes
// verbatim otherwise (as text, so a json column stores them exactly).
func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
