package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps one prepared statement per SQL text for a pool, so a
// statement is parsed and planned once per connection instead of on every
// call (the driver reuses a prepared statement's handle across executions,
// and database/sql reuses a statement already prepared on the connection a
// transaction runs on).
//
// A text is prepared in the background after its first use, which runs
// unprepared: preparing needs a connection of the pool, and the caller may
// hold the only one (the write connection inside a transaction, or a read
// connection inside GetCase's snapshot). The cache holds at most maxCached
// statements; texts beyond that (list queries built from many filter
// combinations) keep running unprepared.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt // nil value: being prepared
	closed  bool
	pending sync.WaitGroup
}

const maxCached = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for query, or nil (run the text as
// is) when it is not prepared yet, cannot be, or the cache is full.
func (c *stmtCache) get(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	s, seen := c.stmts[query]
	if seen || c.closed || len(c.stmts) >= maxCached {
		c.mu.Unlock()
		return s
	}
	c.stmts[query] = nil
	c.pending.Add(1)
	c.mu.Unlock()
	go c.prepare(query)
	return nil
}

func (c *stmtCache) prepare(query string) {
	defer c.pending.Done()
	s, err := c.db.Prepare(query)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		// Left as nil: the text runs unprepared and reports its own error.
	case c.closed:
		_ = s.Close()
	default:
		c.stmts[query] = s
	}
}

// close waits for preparations in flight and closes every cached
// statement; later gets return nil.
func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.pending.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		if s != nil {
			_ = s.Close()
		}
	}
	clear(c.stmts)
}

// pool is a connection pool whose one-shot queries go through its
// prepared statements.
type pool struct {
	*sql.DB
	stmts *stmtCache
}

var _ querier = pool{}

func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.stmts.get(query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, query, args...)
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmts.get(query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, query, args...)
}

func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmts.get(query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, query, args...)
}

// txConn is a transaction whose statements go through its pool's prepared
// statements. For the grouped write transaction detach is set: statements
// run with the caller's context stripped of its cancellation (see
// group.go).
type txConn struct {
	tx     *sql.Tx
	stmts  *stmtCache
	detach bool
}

var _ querier = txConn{}

func (c txConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c.detach {
		ctx = context.WithoutCancel(ctx)
	}
	if s := c.stmts.get(query); s != nil {
		return c.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return c.tx.ExecContext(ctx, query, args...)
}

func (c txConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if c.detach {
		ctx = context.WithoutCancel(ctx)
	}
	if s := c.stmts.get(query); s != nil {
		return c.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return c.tx.QueryContext(ctx, query, args...)
}

func (c txConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if c.detach {
		ctx = context.WithoutCancel(ctx)
	}
	if s := c.stmts.get(query); s != nil {
		return c.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return c.tx.QueryRowContext(ctx, query, args...)
}
