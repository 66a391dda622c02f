// Package sqlite implements regcase.Store on an SQLite file with the pure-Go
// driver modernc.org/sqlite: the embedded default of the single-process mode
// (laptop, demo, small office).
//
// One connection writes: every transaction begins IMMEDIATE, so it takes the
// database's write lock up front and never fails on a lock upgrade, and
// concurrent callers queue for that connection rather than on busy retries.
// InTx hands the callers' functions to one writer goroutine that commits
// them in groups, one savepoint each (group commit, see group.go). Reads go
// through a separate pool of read-only connections and, thanks to
// WAL mode, never wait for the writer. Because a write transaction holds the
// whole database, LockReport, LockCase, AppendAudit and LastCheckpoint need
// no row locks of their own.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/regcase/regcase/internal/regcase"
	"modernc.org/sqlite"
)

// DB is an open SQLite database. It implements regcase.Store and is safe
// for concurrent use.
type DB struct {
	w      *sql.DB    // the one write connection: transactions and migrations
	r      tracedPool // read-only connections for the Reader methods (traced)
	ws     *stmtCache
	writer *writer
}

// Synchronous is SQLite's durability setting (PRAGMA synchronous) for the
// write connection, in WAL mode:
//
//   - SynchronousFull (the default): every commit is on disk (the WAL is
//     fsynced) before it is reported; a power failure or an OS crash loses
//     nothing that was committed.
//   - SynchronousNormal: the WAL is fsynced only at checkpoints; a power
//     failure or an OS crash may lose the last commits (those since the
//     last checkpoint), reported to clients as done, but never corrupts the
//     database. A crash of the process alone loses nothing.
type Synchronous string

const (
	SynchronousFull   Synchronous = "FULL"
	SynchronousNormal Synchronous = "NORMAL"
)

// Options tune Open; the zero value is the safe default.
type Options struct {
	Synchronous Synchronous // "" = SynchronousFull
}

var _ regcase.Store = (*DB)(nil)

const (
	// busyTimeoutMS is how long a statement waits for a lock held by
	// another process before it fails with SQLITE_BUSY.
	busyTimeoutMS = 5000
	// readConns bounds the read-only pool.
	readConns = 4
	// txAttempts bounds how often InTx runs fn when the database is busy.
	txAttempts = 3
)

// Open opens (creating if needed) the SQLite database file at path. It does
// not migrate: call Migrate. An in-memory database is refused (EInvalid)
// because the read and write pools must share one database; a file that
// cannot be opened is EUnavailable.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options; an unknown Synchronous is EInvalid.
func OpenWith(ctx context.Context, path string, o Options) (*DB, error) {
	switch o.Synchronous {
	case "":
		o.Synchronous = SynchronousFull
	case SynchronousFull, SynchronousNormal:
	default:
		return nil, regcase.Errorf(regcase.EInvalid, "sqlite: synchronous %q is not FULL or NORMAL", o.Synchronous)
	}
	if path == "" || path == ":memory:" || strings.Contains(path, "mode=memory") || strings.HasPrefix(path, "file::memory:") {
		return nil, regcase.Errorf(regcase.EInvalid, "sqlite: database path %q must name a file", path)
	}
	if strings.Contains(path, "?") {
		return nil, regcase.Errorf(regcase.EInvalid, "sqlite: database path %q must not carry query parameters", path)
	}
	registerFunctions()
	if err := ownerOnly(path); err != nil {
		return nil, regcase.Errorf(regcase.EUnavailable, "sqlite: %v", err)
	}

	w, err := sql.Open("sqlite", dsn(path, false, o.Synchronous))
	if err != nil {
		return nil, translate(err, "open", "database")
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The first connection switches the file to WAL before any reader opens.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, translate(err, "open", "database")
	}

	r, err := sql.Open("sqlite", dsn(path, true, ""))
	if err != nil {
		_ = w.Close()
		return nil, translate(err, "open", "database")
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, translate(err, "open", "database")
	}
	if err := ownerOnly(path); err != nil { // the WAL and SHM files now exist
		_ = w.Close()
		_ = r.Close()
		return nil, regcase.Errorf(regcase.EUnavailable, "sqlite: %v", err)
	}
	db := &DB{w: w, r: tracedPool{pool{DB: r, stmts: newStmtCache(r)}}, ws: newStmtCache(w)}
	db.writer = newWriter(w, db.ws)
	return db, nil
}

// ownerOnly makes the database file (creating it empty when missing) and
// its -wal and -shm companions readable and writable by the owner only
// (0600): they hold every report. SQLite creates the companions with the
// database file's mode, so a new file is created 0600 before SQLite opens
// it; existing files with wider modes are tightened.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("restrict %s to its owner: %w", p, err)
			}
		}
	}
	return nil
}

// dsn returns the driver's data source name: the path and the pragmas every
// connection runs when it opens.
func dsn(path string, readOnly bool, sync Synchronous) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	// Temporary tables, sorts and the statement journal stay in memory.
	// The statement journal is what rolls one SAVEPOINT back (each job of
	// a group commit has one, see group.go); on disk it cost a pwrite per
	// page a job touched, 16 % of the writer's CPU in a 16-client intake.
	// It is never read after a crash (only the WAL is), so keeping it in
	// memory costs no durability.
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// Deleted content (erased reporter messages and evidence chunks)
		// is overwritten with zeros, not left in free pages.
		q.Add("_pragma", "secure_delete(1)")
		q.Add("_pragma", "synchronous("+string(sync)+")")
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Close stops the writer (jobs already queued still commit; later InTx
// calls are EUnavailable) and releases both connection pools.
func (db *DB) Close() error {
	db.writer.close()
	db.ws.close()
	db.r.stmts.close()
	return errors.Join(db.w.Close(), db.r.Close())
}

// GroupStats reports how the writer grouped the write transactions.
func (db *DB) GroupStats() GroupStats { return db.writer.stats() }

// Ping checks that both pools reach the file (EUnavailable otherwise).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return translate(err, "ping", "database")
	}
	if err := db.r.PingContext(ctx); err != nil {
		return translate(err, "ping", "database")
	}
	return nil
}

// InTx runs fn in the write transaction and commits when fn returns nil.
// Concurrent calls are committed together (group commit, see group.go),
// each fn in a savepoint of its own: an error from fn is returned unchanged
// after fn's changes are rolled back, and does not affect the other
// functions of the group; a panic rolls back fn's changes and propagates.
// InTx returns only after the commit that holds fn's changes succeeded.
// When the database stays busy (another process holds the lock past the
// busy timeout) BEGIN is tried again, txAttempts times in all, and the last
// failure is EUnavailable. A ctx done before fn starts skips fn (the error
// wraps ctx.Err()); once fn runs, its statements ignore ctx's cancellation.
//
// There is one writer: fn must not call InTx or the PipelineStore writes
// (it would wait for itself). Reader methods called from fn read committed
// data only; the Tx's own methods see fn's writes.
func (db *DB) InTx(ctx context.Context, fn func(regcase.Tx) error) error {
	return db.writer.submit(ctx, fn)
}

// tx implements regcase.Tx on one write transaction.
type tx struct {
	tx traced // a txConn whose statements are traced
}

var _ regcase.Tx = (*tx)(nil)

// querier is what *sql.DB and *sql.Tx share, so one query function serves
// both the Reader methods and their locking twins on Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan and closes rows (database/sql's
// pgx.CollectRows); the list is empty, not nil, when
// there is none.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	list := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}

// each calls fn for every row and closes rows; an error from fn stops it
// and is returned unchanged.
func each(rows *sql.Rows, fn func(scanner) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// foldFunc is the SQL function that lower-cases text with Unicode rules
// (SQLite's own lower() and LIKE fold ASCII only), for case-insensitive
// search on names like "Müller".
const foldFunc = "regcase_fold"

var registerOnce sync.Once

func registerFunctions() {
	registerOnce.Do(func() {
		sqlite.MustRegisterDeterministicScalarFunction(foldFunc, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return strings.ToLower(v), nil
			case []byte:
				return strings.ToLower(string(v)), nil
			default:
				return v, nil
			}
		})
	})
}
