package sqlite

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFiles are the schema migrations, named NNNN_name.sql; they are
// applied in version order and never edited once released.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema change.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrations are the embedded migrations, by version.
var migrations = mustLoadMigrations(migrationFiles)

func mustLoadMigrations(fsys fs.FS) []migration {
	ms, err := loadMigrations(fsys)
	if err != nil {
		panic("sqlite: embedded migrations: " + err.Error())
	}
	return ms
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int64]string{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 || name == "" {
			return nil, fmt.Errorf("%s: want NNNN_name.sql", n)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("%s and %s share version %d", prev, n, v)
		}
		seen[v] = n
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// LatestVersion returns the highest embedded migration version: the schema
// this binary was built for.
func LatestVersion() int64 {
	if len(migrations) == 0 {
		return 0
	}
	return migrations[len(migrations)-1].version
}

// MigrationState is one migration as the database knows it.
type MigrationState struct {
	Version   int64
	Name      string // "" for a version applied by a newer binary
	Applied   bool
	AppliedAt *time.Time
}

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
		return nil, translate("create schema_migrations", err)
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
		return 0, translate("migrate", err)
	}
	defer func() { _ = tx.Rollback() }()
	done, err := appliedMigrations(ctx, tx)
	if err != nil {
		return 0, translate("migrate", err)
	}
	for _, m := range migrations {
		if _, ok := done[m.version]; ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return 0, translate(fmt.Sprintf("migration %04d_%s", m.version, m.name), err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			m.version, fmtTime(time.Now())); err != nil {
			return 0, translate(fmt.Sprintf("migration %04d_%s", m.version, m.name), err)
		}
		if err := tx.Commit(); err != nil {
			return 0, translate(fmt.Sprintf("migration %04d_%s", m.version, m.name), err)
		}
		return m.version, nil
	}
	return 0, translate("migrate", tx.Commit())
}

// appliedMigrations maps each applied version to when it was applied; it is
// empty when schema_migrations does not exist yet.
func appliedMigrations(ctx context.Context, q querier) (map[int64]time.Time, error) {
	var exists bool
	if err := q.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`,
	).Scan(&exists); err != nil {
		return nil, err
	}
	done := map[int64]time.Time{}
	if !exists {
		return done, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v  int64
			at string
			d  decoder
		)
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		done[v] = d.time(at)
		if d.err != nil {
			return nil, d.err
		}
	}
	return done, rows.Err()
}

// MigrationStatus lists every embedded migration, applied or not, then any
// applied version this binary does not know, by version.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	done, err := appliedMigrations(ctx, db.r)
	if err != nil {
		return nil, translate("migration status", err)
	}
	var states []MigrationState
	known := map[int64]bool{}
	for _, m := range migrations {
		known[m.version] = true
		s := MigrationState{Version: m.version, Name: m.name}
		if at, ok := done[m.version]; ok {
			s.Applied, s.AppliedAt = true, &at
		}
		states = append(states, s)
	}
	for v, at := range done {
		if !known[v] {
			states = append(states, MigrationState{Version: v, Applied: true, AppliedAt: &at})
		}
	}
	sort.Slice(states, func(i, j int) bool { return states[i].Version < states[j].Version })
	return states, nil
}

// SchemaVersion returns the highest applied migration version (0 for a
// database never migrated).
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	done, err := appliedMigrations(ctx, db.r)
	if err != nil {
		return 0, translate("schema version", err)
	}
	var v int64
	for applied := range done {
		v = max(v, applied)
	}
	return v, nil
}
