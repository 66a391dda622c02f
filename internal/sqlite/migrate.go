package sqlite

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/regcase/regcase/internal/dbutil"
)

// migrationFiles are the schema migrations, named NNNN_name.sql; they are
// applied in version order and never edited once released.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the embedded migrations, by version.
var migrations = dbutil.MustLoadMigrations(migrationFiles, "migrations", "sqlite")

// LatestVersion returns the highest embedded migration version: the schema
// this binary was built for.
func LatestVersion() int64 { return dbutil.Latest(migrations) }

const createMigrationsTable = `
	CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`

// Migrate applies the pending embedded migrations in version order, each in
// its own transaction together with its schema_migrations row, and returns
// the versions it applied. Each step begins IMMEDIATE, so it holds the
// database's write lock, and rereads what is applied under that lock:
// concurrent migrators (goroutines or processes) never apply a version twice
// or out of order. A step waiting longer than the busy timeout fails with
// EUnavailable; a failing migration is EInternal naming the version, and
// leaves the schema at the version before it. Versions unknown to this
// binary (applied by a newer one) are left alone.
func (db *DB) Migrate(ctx context.Context) ([]int64, error) {
	if _, err := db.w.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, translate(err, "create schema_migrations", "schema_migrations")
	}
	applied := []int64{}
	for {
		v, err := db.applyNext(ctx)
		if err != nil {
			return applied, err
		}
		if v == 0 {
			return applied, nil
		}
		applied = append(applied, v)
	}
}

// applyNext applies the lowest pending migration and returns its version,
// or 0 when none is pending.
func (db *DB) applyNext(ctx context.Context) (int64, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, translate(err, "migrate", "schema_migrations")
	}
	defer func() { _ = tx.Rollback() }()
	done, err := appliedMigrations(ctx, tx)
	if err != nil {
		return 0, translate(err, "migrate", "schema_migrations")
	}
	pending := dbutil.Pending(migrations, done)
	if len(pending) == 0 {
		return 0, translate(tx.Commit(), "migrate", "schema_migrations")
	}
	m := pending[0]
	op := fmt.Sprintf("migration %04d_%s", m.Version, m.Name)
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return 0, translate(err, op, "schema_migrations")
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.Version, fmtTime(time.Now())); err != nil {
		return 0, translate(err, op, "schema_migrations")
	}
	if err := tx.Commit(); err != nil {
		return 0, translate(err, op, "schema_migrations")
	}
	return m.Version, nil
}

// appliedMigrations maps each applied version to its state (no name:
// SQLite's schema_migrations records none); it is empty when
// schema_migrations does not exist yet.
func appliedMigrations(ctx context.Context, q querier) (map[int64]dbutil.MigrationState, error) {
	var exists bool
	if err := q.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`,
	).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return map[int64]dbutil.MigrationState{}, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	list, err := collect(rows, func(s scanner) (dbutil.MigrationState, error) {
		var (
			m  = dbutil.MigrationState{Applied: true}
			at string
			d  decoder
		)
		if err := s.Scan(&m.Version, &at); err != nil {
			return m, err
		}
		t := d.time(at)
		m.AppliedAt = &t
		return m, d.err
	})
	if err != nil {
		return nil, err
	}
	done := make(map[int64]dbutil.MigrationState, len(list))
	for _, m := range list {
		done[m.Version] = m
	}
	return done, nil
}

// MigrationStatus lists every embedded migration, applied or not, then any
// applied version this binary does not know, by version.
func (db *DB) MigrationStatus(ctx context.Context) ([]dbutil.MigrationState, error) {
	done, err := appliedMigrations(ctx, db.r)
	if err != nil {
		return nil, translate(err, "migration status", "schema_migrations")
	}
	return dbutil.Status(migrations, done), nil
}

// SchemaVersion returns the highest applied migration version (0 for a
// database never migrated).
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	done, err := appliedMigrations(ctx, db.r)
	if err != nil {
		return 0, translate(err, "schema version", "schema_migrations")
	}
	return dbutil.SchemaVersion(done), nil
}
