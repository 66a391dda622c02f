package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/dbutil"
	"github.com/regcase/regcase/internal/postgres"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/sqlite"
)

// migrationState is one migration, whichever engine.
type migrationState = dbutil.MigrationState

// database is a store plus its engine's migrator.
type database struct {
	regcase.Store
	engine  string
	latest  int64
	migrate func(ctx context.Context) ([]int64, error)
	status  func(ctx context.Context) ([]migrationState, error)
	pg      *postgres.DB // nil on SQLite
}

func openDatabase(ctx context.Context, c *config.Config) (*database, error) {
	return openDatabaseTraced(ctx, c, false)
}

// openDatabaseTraced is openDatabase with, when tracing, a client span per
// PostgreSQL statement (SQLite's query helpers trace on their own).
func openDatabaseTraced(ctx context.Context, c *config.Config, tracing bool) (*database, error) {
	if c.IsSQLite() {
		path := c.SQLitePath()
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, &config.Error{Var: "DATABASE_URL", Msg: fmt.Sprintf("cannot create directory for the SQLite file: %v", err)}
			}
			if err := ownerOnlyDir(dir); err != nil {
				return nil, &config.Error{Var: "DATABASE_URL", Msg: err.Error()}
			}
		}
		db, err := sqlite.OpenWith(ctx, path, sqlite.Options{Synchronous: sqlite.Synchronous(c.SQLiteSynchronous)})
		if err != nil {
			return nil, err
		}
		return &database{Store: db, engine: "sqlite", latest: sqlite.LatestVersion(), migrate: db.Migrate,
			status: db.MigrationStatus}, nil
	}
	db, err := postgres.Open(ctx, c.DatabaseURL, postgres.Options{MaxConns: int32(c.DBMaxConns), MinConns: int32(c.DBMinConns), Tracing: tracing})
	if err != nil {
		return nil, err
	}
	return &database{Store: db, engine: "postgres", latest: postgres.LatestVersion(), migrate: db.Migrate, pg: db,
		status: db.MigrationStatus}, nil
}

// schemaCheck is the readiness check: the database answers and its schema
// is the version this binary expects. Messages are safe to show on /health.
func schemaCheck(db *database, log *slog.Logger) func(ctx context.Context) error {
	var warned int64 = -1
	return func(ctx context.Context) error {
		if err := db.Ping(ctx); err != nil {
			return fmt.Errorf("database unreachable")
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil {
			return fmt.Errorf("cannot read schema version")
		}
		switch {
		case v < db.latest:
			if warned != v {
				warned = v
				log.Error("database schema is older than this binary needs; run `regcase migrate`",
					slog.Int64("schema_version", v), slog.Int64("expected_version", db.latest))
			}
			return fmt.Errorf("schema version %d, expected %d: migrations pending", v, db.latest)
		case v > db.latest && warned != v:
			// Expand/contract keeps older binaries working on a newer schema
			// during a rolling update or an image rollback.
			warned = v
			log.Warn("database schema is newer than this binary; serving (expand/contract migrations keep it compatible)",
				slog.Int64("schema_version", v), slog.Int64("expected_version", db.latest))
		}
		return nil
	}
}

// ownerOnlyDir tightens the directory of the SQLite file (the data
// directory, with the generated keys) to its owner (0700) when it is wider;
// the current directory is left alone.
func ownerOnlyDir(dir string) error {
	if dir == "." {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, st.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("restrict %s to its owner: %w", dir, err)
		}
	}
	return nil
}
