package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regcase/regcase/internal/pgtest"
)

// TestMain shares one throwaway PostgreSQL cluster between the package's
// tests (or uses REGCASE_TEST_POSTGRES_URL); every test gets its own
// database.
func TestMain(m *testing.M) { pgtest.Main(m) }

// testDB is a fresh database: the store opened as the owner (for
// migrations), as the application role, and a superuser pool.
type testDB struct {
	*pgtest.Database
	Owner *DB
	// App is nil until migrated: the app role cannot see an empty schema's
	// tables anyway.
	App *DB
	// Worker is the store opened as the worker role (nil until migrated):
	// what may sign checkpoints.
	Worker *DB
	// Bypass runs SQL as the superuser with session_replication_role =
	// replica, so the audit tables' triggers do not fire.
	Bypass *pgxpool.Pool
}

// newTestDB creates an empty database and opens it as the owner.
func newTestDB(tb testing.TB) *testDB {
	tb.Helper()
	d := pgtest.Start(tb).CreateDatabase(tb)
	return &testDB{Database: d, Owner: openDB(tb, d.OwnerURL)}
}

// newMigratedDB creates a database, migrates it as the owner and opens it
// as the application role.
func newMigratedDB(tb testing.TB) *testDB {
	tb.Helper()
	db := newTestDB(tb)
	if _, err := db.Owner.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	db.App = openDB(tb, db.AppURL)
	db.Worker = openDB(tb, db.WorkerURL)
	db.Bypass = openBypass(tb, db.AdminURL)
	return db
}

// openDB opens the store at url, closed when tb ends.
func openDB(tb testing.TB, url string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), url, Options{MaxConns: 8})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// openBypass opens superuser connections on which triggers (the audit
// tables' append-only guards, and foreign keys) do not fire:
// session_replication_role = replica is a superuser-only setting.
func openBypass(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["session_replication_role"] = "replica"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}
