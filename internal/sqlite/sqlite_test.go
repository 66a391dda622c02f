package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/regcase/regcase/internal/dbutil"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/storetest"
)

// openDB opens a database file in a fresh temp dir, closed at cleanup.
func openDB(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

// migratedDB opens a fresh, migrated database.
func migratedDB(tb testing.TB) *DB {
	tb.Helper()
	db := openDB(tb, filepath.Join(tb.TempDir(), "regcase.db"))
	if _, err := db.Migrate(tb.Context()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		path := filepath.Join(t.TempDir(), "regcase.db")
		db := openDB(t, path)
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return storetest.Harness{Store: db, Exec: db.ExecAsOwner, Dump: func(context.Context) ([]byte, error) {
			return dumpFiles(path)
		}}
	})
}

func allVersions() []int64 { return dbutil.Versions(migrations) }

func TestMigrate(t *testing.T) {
	t.Run("OKFresh", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "regcase.db"))
		v, err := db.SchemaVersion(t.Context())
		if err != nil || v != 0 {
			t.Fatalf("SchemaVersion before Migrate = %d, %v; want 0", v, err)
		}
		got, err := db.Migrate(t.Context())
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if want := allVersions(); !slices.Equal(got, want) {
			t.Errorf("applied %v, want %v", got, want)
		}
		v, err = db.SchemaVersion(t.Context())
		if err != nil || v != LatestVersion() {
			t.Errorf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
		}
	})

	t.Run("OKSecondRunAppliesNone", func(t *testing.T) {
		db := migratedDB(t)
		got, err := db.Migrate(t.Context())
		if err != nil || len(got) != 0 {
			t.Errorf("second Migrate applied %v, %v; want none", got, err)
		}
	})

	t.Run("OKConcurrentMigratorsApplyEachOnce", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "regcase.db")
		// Two handles on one file stand for two processes; two goroutines
		// share the first handle.
		dbs := []*DB{openDB(t, path), openDB(t, path)}
		dbs = append(dbs, dbs[0])
		applied := make([][]int64, len(dbs))
		errs := make([]error, len(dbs))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, db := range dbs {
			wg.Go(func() {
				<-start
				applied[i], errs[i] = db.Migrate(t.Context())
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		var all []int64
		for _, a := range applied {
			all = append(all, a...)
		}
		slices.Sort(all)
		if want := allVersions(); !slices.Equal(all, want) {
			t.Errorf("migrators applied %v together, want each of %v exactly once", applied, want)
		}
	})
}

func TestMigrationStatus(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "regcase.db"))
		before, err := db.MigrationStatus(t.Context())
		if err != nil {
			t.Fatalf("MigrationStatus: %v", err)
		}
		if len(before) != len(migrations) || before[0].Version != 1 || before[0].Name != "init" || before[0].Applied {
			t.Errorf("status before Migrate = %+v, want every migration pending", before)
		}
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		after, err := db.MigrationStatus(t.Context())
		if err != nil {
			t.Fatalf("MigrationStatus: %v", err)
		}
		for _, s := range after {
			if !s.Applied || s.AppliedAt == nil {
				t.Errorf("after Migrate, %+v is not applied", s)
			}
		}
	})

	t.Run("OKListsUnknownVersion", func(t *testing.T) {
		db := migratedDB(t)
		if _, err := db.w.ExecContext(t.Context(),
			`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, '2026-01-01T00:00:00.000000Z')`); err != nil {
			t.Fatal(err)
		}
		got, err := db.MigrationStatus(t.Context())
		if err != nil {
			t.Fatalf("MigrationStatus: %v", err)
		}
		last := got[len(got)-1]
		if last.Version != 9999 || !last.Applied || last.Name != "" {
			t.Errorf("last status = %+v, want the unknown version 9999, applied", last)
		}
		if v, err := db.SchemaVersion(t.Context()); err != nil || v != 9999 {
			t.Errorf("SchemaVersion = %d, %v; want 9999", v, err)
		}
	})
}

func TestEmbeddedMigrations(t *testing.T) {
	if LatestVersion() < 1 || migrations[0].Version != 1 {
		t.Errorf("embedded migrations = %d, latest %d", len(migrations), LatestVersion())
	}
}

func TestAuditTablesAppendOnly(t *testing.T) {
	db := migratedDB(t)
	ctx := t.Context()
	err := db.InTx(ctx, func(tx regcase.Tx) error {
		r := &regcase.AuditRecord{Chain: "case:x", Action: "case.opened", EntityType: "case", EntityID: "x", Data: []byte(`{}`)}
		if err := tx.AppendAudit(ctx, r); err != nil {
			return err
		}
		c := &regcase.Checkpoint{ID: 1, Heads: []regcase.ChainHead{{Chain: r.Chain, Seq: r.Seq, Hash: r.Hash}}}
		c.PrevHash, c.Hash, c.Signature = r.Hash, r.Hash, []byte("sig")
		return tx.InsertCheckpoint(ctx, c)
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	statements := []string{
		`UPDATE audit_records SET action = 'x'`,
		`DELETE FROM audit_records`,
		`UPDATE audit_checkpoints SET key_id = 'x'`,
		`DELETE FROM audit_checkpoints`,
		`UPDATE audit_checkpoint_heads SET seq = 9`,
		`DELETE FROM audit_checkpoint_heads`,
	}
	check := func(t *testing.T) {
		t.Helper()
		for _, stmt := range statements {
			if _, err := db.w.ExecContext(ctx, stmt); err == nil {
				t.Errorf("%s succeeded through the application connection", stmt)
			}
		}
		recs, err := db.ListAudit(ctx, regcase.AuditFilter{})
		if err != nil || len(recs) != 1 || recs[0].Action != "case.opened" {
			t.Errorf("audit records after the attempts = %v, %v", recs, err)
		}
	}
	t.Run("ErrRejected", check)
	t.Run("ErrRejectedAfterExecAsOwner", func(t *testing.T) {
		if err := db.ExecAsOwner(ctx, `UPDATE audit_records SET request_id = 'owner' WHERE chain = 'case:x'`); err != nil {
			t.Fatalf("ExecAsOwner: %v", err)
		}
		check(t)
	})
}

func TestSearchFoldsUnicode(t *testing.T) {
	db := migratedDB(t)
	r := &regcase.Report{ID: "r1", TrackingCode: "T1", Channel: regcase.ChannelWeb, Category: "food",
		Subject: regcase.Subject{Name: "Müller Käserei"}, Description: "ÉCLAIRS stale", Status: regcase.ReportReceived}
	if err := db.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertReport(t.Context(), r) }); err != nil {
		t.Fatal(err)
	}
	for _, f := range []regcase.ReportFilter{{Subject: "MÜLLER"}, {Query: "éclairs"}} {
		got, err := db.ListReports(t.Context(), f)
		if err != nil || len(got) != 1 {
			t.Errorf("ListReports(%+v) = %d reports, %v; want 1", f, len(got), err)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Run("ErrInMemory", func(t *testing.T) {
		_, err := Open(t.Context(), ":memory:")
		if got := regcase.ErrorCodeOf(err); got != regcase.EInvalid {
			t.Errorf("Open(:memory:) code = %q (%v), want %q", got, err, regcase.EInvalid)
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		_, err := Open(t.Context(), filepath.Join(t.TempDir(), "missing", "dir", "regcase.db"))
		if got := regcase.ErrorCodeOf(err); got != regcase.EUnavailable {
			t.Errorf("Open in a missing directory: code = %q (%v), want %q", got, err, regcase.EUnavailable)
		}
	})
}

// TestBusyIsUnavailable holds the write lock through the store and meets it
// from a second connection that does not wait: the driver's SQLITE_BUSY must
// become EUnavailable and count as retryable.
func TestBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regcase.db")
	db := openDB(t, path)
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	locked, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.InTx(context.Background(), func(regcase.Tx) error {
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	_, err = other.BeginTx(t.Context(), nil)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if !isBusy(err) {
		t.Fatalf("BEGIN IMMEDIATE under a held lock: %v, want SQLITE_BUSY", err)
	}
	if got := regcase.ErrorCodeOf(translate(err, "begin", "database")); got != regcase.EUnavailable {
		t.Errorf("translated code = %q, want %q", got, regcase.EUnavailable)
	}
}

// dumpFiles returns the raw bytes of the database file and its WAL and
// shared-memory files: all a holder of the data directory can read, free
// pages and not yet checkpointed page images included.
func dumpFiles(path string) ([]byte, error) {
	var out []byte
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// TestFilesOwnerOnly: the database file and its WAL and SHM files are
// created 0600 whatever the umask, and an existing file with a wider mode
// is tightened on open.
func TestFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if got := st.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: mode %o, want 600", filepath.Base(p), got)
			}
		}
	}
	t.Run("New", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "regcase.db")
		db := openDB(t, path)
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
	t.Run("ExistingWideFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "regcase.db")
		if err := os.WriteFile(path, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		db := openDB(t, path)
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
}
