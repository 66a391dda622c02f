// Package sqlite implements regcase.Store on an SQLite file with the pure-Go
// driver modernc.org/sqlite: the embedded default of the single-process mode
// (laptop, demo, small office).
//
// One connection writes: every transaction begins IMMEDIATE, so it takes the
// database's write lock up front and never fails on a lock upgrade, and
// concurrent callers queue on that connection rather than on busy retries.
// Reads go through a separate pool of read-only connections and, thanks to
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
	"time"

	"github.com/regcase/regcase/internal/regcase"
	"modernc.org/sqlite"
)

// DB is an open SQLite database. It implements regcase.Store and is safe
// for concurrent use.
type DB struct {
	w tracedDB // the one write connection: transactions and migrations
	r tracedDB // read-only connections for the Reader methods
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

	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, translate("open", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The first connection switches the file to WAL before any reader opens.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, translate("open", err)
	}

	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		_ = w.Close()
		return nil, translate("open", err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, translate("open", err)
	}
	if err := ownerOnly(path); err != nil { // the WAL and SHM files now exist
		_ = w.Close()
		_ = r.Close()
		return nil, regcase.Errorf(regcase.EUnavailable, "sqlite: %v", err)
	}
	return &DB{w: tracedDB{w}, r: tracedDB{r}}, nil
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
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Close releases both connection pools.
func (db *DB) Close() error {
	return errors.Join(db.w.Close(), db.r.Close())
}

// Ping checks that both pools reach the file (EUnavailable otherwise).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return translate("ping", err)
	}
	if err := db.r.PingContext(ctx); err != nil {
		return translate("ping", err)
	}
	return nil
}

// InTx runs fn in one write transaction (BEGIN IMMEDIATE) and commits when fn
// returns nil. An error from fn is returned unchanged after the rollback; a
// panic rolls back and propagates. When the database stays busy (another
// process holds the lock past the busy timeout) fn is run again, at most
// txAttempts times in all, and the last failure is EUnavailable.
//
// There is one write connection: fn must not call InTx (it would wait for
// itself). Reader methods called from fn read committed data only.
func (db *DB) InTx(ctx context.Context, fn func(regcase.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.inTx(ctx, fn)
		if !isBusy(err) || attempt == txAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return translate("begin", ctx.Err())
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	if isBusy(err) && regcase.ErrorCodeOf(err) != regcase.EUnavailable {
		return translate("transaction", err)
	}
	return err
}

func (db *DB) inTx(ctx context.Context, fn func(regcase.Tx) error) (err error) {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return translate("begin", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = sqlTx.Rollback()
		}
	}()
	if err := fn(&tx{tx: traced{sqlTx}}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return translate("commit", err)
	}
	committed = true
	return nil
}

// tx implements regcase.Tx on one write transaction.
type tx struct {
	tx traced
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

// where accumulates the conditions of a list query.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// eq adds "col = v" unless v is empty.
func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// containsPattern returns the LIKE pattern (with ESCAPE '\') matching s,
// folded, anywhere in a folded column.
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// contains returns the condition "col contains the pattern", case-insensitive.
func contains(col string) string {
	return foldFunc + "(" + col + `) LIKE ? ESCAPE '\'`
}
