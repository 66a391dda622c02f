package postgres

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regcase/regcase/internal/dbutil"
	"github.com/regcase/regcase/internal/regcase"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations are the embedded migrations, version ascending. A malformed
// file name or a duplicate version is a build defect: the package panics at
// init and every test fails.
var migrations = dbutil.MustLoadMigrations(migrationFS, "migrations", "postgres")

// LatestVersion returns the version of the newest embedded migration: the
// schema version this binary expects.
func LatestVersion() int64 { return dbutil.Latest(migrations) }

// migrateLockKey is the pg_advisory_lock key held while migrating (the
// bytes "regcase" + "m"). Advisory locks are per database.
const migrateLockKey int64 = 0x72656763617365_6d

// migrateLockPoll is how often Migrate retries a lock held by another
// migrator.
const migrateLockPoll = 200 * time.Millisecond

// migrationLockTimeout bounds how long one migration waits for a table
// lock, so that a migration never queues all application traffic behind it
// for long.
const migrationLockTimeout = "15s"

// createMigrationsTable is the migrator's own bookkeeping.
const createMigrationsTable = `
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    bigint PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate applies every embedded migration the database lacks, in version
// order, each in its own transaction, and returns the versions it applied
// (none when the schema is current). It must run as the owner role.
//
// Only one migrator runs at a time: Migrate holds a session advisory lock on
// one dedicated connection and, while another migrator holds it, waits until
// ctx ends (EUnavailable). A failing migration is rolled back and returned
// (EInternal) with the versions applied before it.
func (db *DB) Migrate(ctx context.Context) (applied []int64, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, translate(err, "migrate: acquire connection", "database")
	}
	defer conn.Release()
	if err := lockMigrations(ctx, conn); err != nil {
		return nil, err
	}
	defer unlockMigrations(ctx, conn)

	if _, err := conn.Exec(ctx, createMigrationsTable); err != nil {
		return nil, translate(err, "migrate: create schema_migrations", "schema_migrations")
	}
	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return nil, err
	}
	for _, m := range dbutil.Pending(migrations, done) {
		if err := applyMigration(ctx, conn, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// lockMigrations takes the migration lock, polling so that a cancelled ctx
// returns promptly.
func lockMigrations(ctx context.Context, conn *pgxpool.Conn) error {
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, migrateLockKey).Scan(&ok); err != nil {
			return translate(err, "migrate: lock", "migration lock")
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return &regcase.Error{Code: regcase.EUnavailable, Message: "another migration is running", Err: fmt.Errorf("postgres: migrate: wait for lock: %w", ctx.Err())}
		case <-time.After(migrateLockPoll):
		}
	}
}

// unlockMigrations releases the migration lock. If that fails the
// connection is closed, which releases the session lock too.
func unlockMigrations(ctx context.Context, conn *pgxpool.Conn) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey); err != nil {
		_ = conn.Conn().Close(uctx)
	}
}

// appliedVersions reads schema_migrations.
func appliedVersions(ctx context.Context, q querier) (map[int64]dbutil.MigrationState, error) {
	rows, err := q.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, translate(err, "read schema_migrations", "schema_migrations")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dbutil.MigrationState, error) {
		s := dbutil.MigrationState{Applied: true}
		var at time.Time
		err := row.Scan(&s.Version, &s.Name, &at)
		at = at.UTC()
		s.AppliedAt = &at
		return s, err
	})
	if err != nil {
		return nil, translate(err, "read schema_migrations", "schema_migrations")
	}
	done := make(map[int64]dbutil.MigrationState, len(list))
	for _, s := range list {
		done[s.Version] = s
	}
	return done, nil
}

// applyMigration runs one migration and records it, in one transaction.
func applyMigration(ctx context.Context, conn *pgxpool.Conn, m dbutil.Migration) error {
	if strings.HasPrefix(m.SQL, noTransaction) {
		return applyOutsideTx(ctx, conn, m)
	}
	err := pgx.BeginFunc(ctx, conn, func(t pgx.Tx) error {
		if _, err := t.Exec(ctx, "SET LOCAL lock_timeout = '"+migrationLockTimeout+"'"); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, m.SQL); err != nil { // no arguments: simple protocol, many statements
			return err
		}
		_, err := t.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
		return err
	})
	if err != nil {
		return regcase.Internal(fmt.Errorf("postgres: migration %d_%s: %w", m.Version, m.Name, err))
	}
	return nil
}

// noTransaction, as a migration's first line, runs its statements one by
// one outside a transaction: what CREATE INDEX CONCURRENTLY needs (an index
// on a large table built without blocking writes, as the expand/contract
// rules ask). Such a migration must be safe to run again after a failure
// part-way (DROP INDEX CONCURRENTLY IF EXISTS before each CREATE: a failed
// concurrent build leaves an INVALID index behind), and its statements must
// not contain ';' except as terminators.
const noTransaction = "-- migrate: no transaction\n"

// applyOutsideTx runs m's statements in turn on conn, then records m.
func applyOutsideTx(ctx context.Context, conn *pgxpool.Conn, m dbutil.Migration) error {
	fail := func(err error) error {
		return regcase.Internal(fmt.Errorf("postgres: migration %d_%s: %w", m.Version, m.Name, err))
	}
	if _, err := conn.Exec(ctx, "SET lock_timeout = '"+migrationLockTimeout+"'"); err != nil {
		return fail(err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "RESET lock_timeout") }()
	var code strings.Builder
	for line := range strings.Lines(m.SQL) {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			code.WriteString(line)
		}
	}
	for stmt := range strings.SplitSeq(code.String(), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fail(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		return fail(err)
	}
	return nil
}

// MigrationStatus lists every migration known to the binary or recorded in
// the database (a newer binary may have applied more), version ascending.
func (db *DB) MigrationStatus(ctx context.Context) ([]dbutil.MigrationState, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, translate(err, "migration status", "schema_migrations")
	}
	done := map[int64]dbutil.MigrationState{}
	if exists {
		var err error
		if done, err = appliedVersions(ctx, db.pool); err != nil {
			return nil, err
		}
	}
	return dbutil.Status(migrations, done), nil
}
