package postgres

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regcase/regcase/internal/regcase"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded SQL file, migrations/<version>_<name>.sql.
type migration struct {
	Version int64
	Name    string
	SQL     string
}

// migrations are the embedded migrations, version ascending. A malformed
// file name or a duplicate version is a build defect: the package panics at
// init and every test fails.
var migrations = mustLoadMigrations(migrationFS)

var migrationFileRE = regexp.MustCompile(`^([0-9]+)_([a-z0-9_]+)\.sql$`)

func mustLoadMigrations(fsys fs.FS) []migration {
	ms, err := loadMigrations(fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("postgres: migration file %q is not named <version>_<name>.sql", e.Name())
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration file %q: bad version", e.Name())
		}
		body, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("postgres: read migration %q: %w", e.Name(), err)
		}
		ms = append(ms, migration{Version: v, Name: m[2], SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.Version, b.Version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("postgres: two migrations have version %d", ms[i].Version)
		}
	}
	return ms, nil
}

// LatestVersion returns the version of the newest embedded migration: the
// schema version this binary expects.
func LatestVersion() int64 {
	if len(migrations) == 0 {
		return 0
	}
	return migrations[len(migrations)-1].Version
}

// MigrationState is one migration as known to the binary and/or the
// database.
type MigrationState struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt *time.Time // nil when not applied
}

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
	for _, m := range migrations {
		if _, ok := done[m.Version]; ok {
			continue
		}
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
func appliedVersions(ctx context.Context, q querier) (map[int64]MigrationState, error) {
	rows, err := q.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, translate(err, "read schema_migrations", "schema_migrations")
	}
	done := map[int64]MigrationState{}
	for rows.Next() {
		var s MigrationState
		var at time.Time
		if err := rows.Scan(&s.Version, &s.Name, &at); err != nil {
			rows.Close()
			return nil, translate(err, "scan schema_migrations", "schema_migrations")
		}
		at = at.UTC()
		s.Applied, s.AppliedAt = true, &at
		done[s.Version] = s
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, "read schema_migrations", "schema_migrations")
	}
	return done, nil
}

// applyMigration runs one migration and records it, in one transaction.
func applyMigration(ctx context.Context, conn *pgxpool.Conn, m migration) error {
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

// MigrationStatus lists every migration known to the binary or recorded in
// the database (a newer binary may have applied more), version ascending.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, translate(err, "migration status", "schema_migrations")
	}
	done := map[int64]MigrationState{}
	if exists {
		var err error
		if done, err = appliedVersions(ctx, db.pool); err != nil {
			return nil, err
		}
	}
	var out []MigrationState
	for _, m := range migrations {
		s, ok := done[m.Version]
		if !ok {
			s = MigrationState{Version: m.Version, Name: m.Name}
		}
		delete(done, m.Version)
		out = append(out, s)
	}
	for _, s := range done {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b MigrationState) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}
