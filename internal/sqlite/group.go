package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// Group commit. SQLite has one writer, and a commit costs an fsync of the
// WAL (synchronous=FULL) whatever it carries, so InTx does not run each
// caller's function in a transaction of its own: callers queue their
// functions ("jobs") to one writer goroutine, which takes every job waiting
// (up to maxGroup) and runs them in ONE transaction, each inside a
// SAVEPOINT of its own, then commits once for the whole group. While a
// group commits the next one queues up, so the cost of a commit is shared
// by as many callers as arrive during it, and nothing waits for a group to
// fill.
//
// Each job stays atomic on its own: a job whose function fails (or panics)
// is rolled back to its savepoint and the others commit. When the
// transaction itself becomes unusable (a ROLLBACK TO or RELEASE fails, or
// COMMIT fails), the whole group is rolled back and every job not yet
// answered is run again in a transaction of its own. A caller is answered
// only after the COMMIT that holds its changes succeeded (or once its job
// is known to have failed and been rolled back), so a success is never
// reported for changes that were later rolled back.
//
// Statements run with the caller's context stripped of its cancellation
// (context.WithoutCancel): a canceled context interrupts SQLite, which
// rolls back the whole transaction, the other callers' changes with it. A
// caller whose context is done before its job starts is skipped and gets
// the context's error.

const (
	// maxGroup bounds the jobs of one transaction: the first caller of a
	// group waits for at most this many functions before its commit.
	maxGroup = 64
	// savepoint is the name of the one savepoint open at any time (each
	// job's is released before the next job starts).
	savepoint = "regcase_job"
)

// errClosed answers callers of a closed database.
var errClosed = &regcase.Error{Code: regcase.EUnavailable, Message: "the database is closed"}

// job is one caller's function waiting for the writer.
type job struct {
	ctx   context.Context
	fn    func(regcase.Tx) error
	err   error
	panic any // non-nil: fn panicked with this value, re-raised in the caller
	done  chan struct{}
}

// GroupStats counts the writer's work since Open.
type GroupStats struct {
	Groups  int64 // transactions committed or attempted by the writer
	Jobs    int64 // functions run (a job run again alone counts twice)
	Retried int64 // jobs run again alone after their group's transaction broke
}

// writer owns the write connection's transactions.
type writer struct {
	conn    *sql.DB
	stmts   *stmtCache
	jobs    chan *job
	mu      sync.RWMutex // held (read) while sending to jobs; Close takes it to stop the sends
	closed  bool
	stop    chan struct{}
	stopped chan struct{}

	groups, jobsRun, retried atomic.Int64
}

func newWriter(conn *sql.DB, stmts *stmtCache) *writer {
	w := &writer{conn: conn, stmts: stmts, jobs: make(chan *job, maxGroup),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go w.run()
	return w
}

// submit queues fn and waits for its answer.
func (w *writer) submit(ctx context.Context, fn func(regcase.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return translate(err, "begin", "database")
	}
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	select {
	case w.jobs <- j:
	case <-ctx.Done(): // not queued: nothing of fn ran
		w.mu.RUnlock()
		return translate(ctx.Err(), "begin", "database")
	}
	w.mu.RUnlock()
	<-j.done
	if j.panic != nil {
		panic(j.panic)
	}
	return j.err
}

// close stops accepting jobs, lets the writer finish every job already
// queued and waits for it to exit.
func (w *writer) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.stopped
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.stopped
}

func (w *writer) stats() GroupStats {
	return GroupStats{Groups: w.groups.Load(), Jobs: w.jobsRun.Load(), Retried: w.retried.Load()}
}

func (w *writer) run() {
	defer close(w.stopped)
	for {
		var first *job
		select {
		case first = <-w.jobs:
		case <-w.stop:
			// No sender is left (close holds the lock): finish what is queued.
			for {
				select {
				case j := <-w.jobs:
					w.runGroup(w.collect(j), false)
				default:
					return
				}
			}
		}
		w.runGroup(w.collect(first), false)
	}
}

// collect returns first and every job already queued behind it, at most
// maxGroup in all.
func (w *writer) collect(first *job) []*job {
	group := []*job{first}
	for len(group) < maxGroup {
		select {
		case j := <-w.jobs:
			group = append(group, j)
		default:
			return group
		}
	}
	return group
}

// outcome is what running one job inside a group did to the transaction.
type outcome int

const (
	applied outcome = iota // fn succeeded, its savepoint released
	failed                 // fn failed and was rolled back to its savepoint; the transaction is usable
	broken                 // the transaction is no longer usable
)

// runGroup runs the jobs in one transaction and answers each caller. alone
// is set when the group is one job run again after a broken group: it is
// not retried once more.
func (w *writer) runGroup(group []*job, alone bool) {
	w.groups.Add(1)
	sqlTx, err := w.begin()
	if err != nil {
		for _, j := range group {
			j.err = err
			close(j.done)
		}
		return
	}
	t := &tx{tx: traced{txConn{tx: sqlTx, stmts: w.stmts, detach: true}}}
	var ok, answered []*job
	finish := func() {
		for _, j := range answered {
			close(j.done)
		}
	}
	for i, j := range group {
		if err := j.ctx.Err(); err != nil {
			j.err = translate(err, "begin", "database")
			answered = append(answered, j)
			continue
		}
		w.jobsRun.Add(1)
		switch w.apply(sqlTx, t, j) {
		case applied:
			ok = append(ok, j)
		case failed:
			answered = append(answered, j)
		case broken:
			_ = sqlTx.Rollback()
			if j.err != nil || j.panic != nil { // fn's own failure stands
				answered = append(answered, j)
			} else {
				ok = append(ok, j)
			}
			w.retryAlone(append(ok, group[i+1:]...), alone, &answered, translate(errBrokenTx, "transaction", "record"))
			finish()
			return
		}
	}
	if err := sqlTx.Commit(); err != nil {
		w.retryAlone(ok, alone, &answered, translate(err, "commit", "database"))
		finish()
		return
	}
	answered = append(answered, ok...)
	finish()
}

// errBrokenTx is the cause reported when a savepoint could not be rolled
// back or released: the transaction ended under the job.
var errBrokenTx = errors.New("the transaction ended unexpectedly")

// retryAlone runs each job again in a transaction of its own, or, when the
// failed group already was a single retried job, answers it with err.
func (w *writer) retryAlone(jobs []*job, alone bool, answered *[]*job, err error) {
	if alone {
		for _, j := range jobs {
			j.err = err
			*answered = append(*answered, j)
		}
		return
	}
	for _, j := range jobs {
		w.retried.Add(1)
		j.err, j.panic = nil, nil
		w.runGroup([]*job{j}, true)
	}
}

// begin starts the group's transaction (BEGIN IMMEDIATE), waiting and
// trying again, txAttempts times in all, while another process holds the
// write lock past the busy timeout.
func (w *writer) begin() (*sql.Tx, error) {
	for attempt := 1; ; attempt++ {
		sqlTx, err := w.conn.BeginTx(context.Background(), nil)
		if err == nil {
			return sqlTx, nil
		}
		if !isBusy(err) || attempt == txAttempts {
			return nil, translate(err, "begin", "database")
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
}

// apply runs one job inside its own savepoint of sqlTx.
func (w *writer) apply(sqlTx *sql.Tx, t *tx, j *job) outcome {
	bg := context.Background()
	if _, err := sqlTx.ExecContext(bg, "SAVEPOINT "+savepoint); err != nil {
		return broken
	}
	j.panic, j.err = call(j.fn, t)
	if j.err == nil && j.panic == nil {
		if _, err := sqlTx.ExecContext(bg, "RELEASE "+savepoint); err != nil {
			return broken
		}
		return applied
	}
	if isBusy(j.err) && regcase.ErrorCodeOf(j.err) != regcase.EUnavailable {
		j.err = translate(j.err, "transaction", "record")
	}
	if _, err := sqlTx.ExecContext(bg, "ROLLBACK TO "+savepoint); err != nil {
		return broken
	}
	if _, err := sqlTx.ExecContext(bg, "RELEASE "+savepoint); err != nil {
		return broken
	}
	return failed
}

// call runs fn, turning a panic into a value for the caller's goroutine.
func call(fn func(regcase.Tx) error, t *tx) (p any, err error) {
	defer func() {
		if r := recover(); r != nil {
			p = r
		}
	}()
	return nil, fn(t)
}
