package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/regcase/regcase/internal/regcase"
)

var errBoom = errors.New("boom")

// holdWriter runs a job that keeps the writer busy until release is
// called, so that the jobs submitted meanwhile queue up into one group.
func holdWriter(tb testing.TB, db *DB) (release func()) {
	tb.Helper()
	running, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.InTx(context.Background(), func(regcase.Tx) error {
			close(running)
			<-hold
			return nil
		})
	}()
	<-running
	return func() {
		close(hold)
		if err := <-done; err != nil {
			tb.Errorf("holding job: %v", err)
		}
	}
}

// waitQueued waits until n jobs wait for the writer.
func waitQueued(tb testing.TB, db *DB, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(db.writer.jobs) < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d jobs queued after 10s, want %d", len(db.writer.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func testEvent() *regcase.Event {
	id := uuid.NewString()
	return &regcase.Event{ID: id, Type: "gov.regcase.report.received", Source: "/regcase", Subject: "reports/" + id,
		Time: time.Now().UTC(), Data: json.RawMessage(`{}`), PartitionKey: id}
}

// eventCount counts the committed outbox rows of an event.
func eventCount(tb testing.TB, db *DB, id string) int {
	tb.Helper()
	var n int
	if err := db.r.QueryRowContext(tb.Context(), `SELECT count(*) FROM outbox WHERE event_id = ?`, id).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// submitAll runs fns concurrently through InTx, each with its context,
// after the writer is held; it waits until all are queued, releases the
// writer and returns their errors.
func submitAll(t *testing.T, db *DB, ctxs []context.Context, fns []func(regcase.Tx) error, beforeRelease func()) []error {
	t.Helper()
	release := holdWriter(t, db)
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i := range fns {
		wg.Go(func() { errs[i] = db.InTx(ctxs[i], fns[i]) })
	}
	waitQueued(t, db, len(fns))
	if beforeRelease != nil {
		beforeRelease()
	}
	release()
	wg.Wait()
	return errs
}

// eventJobs returns n jobs that each insert an event of their own, with
// the test's context.
func eventJobs(t *testing.T, n int) ([]*regcase.Event, []func(regcase.Tx) error, []context.Context) {
	events := make([]*regcase.Event, n)
	fns := make([]func(regcase.Tx) error, n)
	ctxs := make([]context.Context, n)
	for i := range n {
		events[i], ctxs[i] = testEvent(), t.Context()
		fns[i] = insertEventFn(events[i])
	}
	return events, fns, ctxs
}

func insertEventFn(e *regcase.Event) func(regcase.Tx) error {
	return func(t regcase.Tx) error { return t.InsertEvent(context.Background(), e) }
}

// TestGroupCommitFailingJobKeepsOthers: in one group, a function that
// returns an error after writing and one that hits a unique violation are
// rolled back to their savepoints; the others commit, in one transaction.
func TestGroupCommitFailingJobKeepsOthers(t *testing.T) {
	db := migratedDB(t)
	taken := testEvent()
	if err := db.InTx(t.Context(), insertEventFn(taken)); err != nil {
		t.Fatal(err)
	}
	const n, failing, dup = 10, 3, 6
	events, fns, ctxs := eventJobs(t, n)
	fns[failing] = func(tx regcase.Tx) error {
		if err := tx.InsertEvent(context.Background(), events[failing]); err != nil {
			return err
		}
		return errBoom
	}
	fns[dup] = func(tx regcase.Tx) error {
		if err := tx.InsertEvent(context.Background(), events[dup]); err != nil {
			return err
		}
		return tx.InsertEvent(context.Background(), taken)
	}
	before := db.GroupStats()
	errs := submitAll(t, db, ctxs, fns, nil)
	after := db.GroupStats()

	for i, err := range errs {
		switch i {
		case failing:
			if !errors.Is(err, errBoom) {
				t.Errorf("failing job: err = %v, want errBoom", err)
			}
		case dup:
			if got := regcase.ErrorCodeOf(err); got != regcase.EConflict {
				t.Errorf("duplicate job: code = %q (%v), want %q", got, err, regcase.EConflict)
			}
		default:
			if err != nil {
				t.Errorf("job %d: %v, want nil", i, err)
			}
		}
		want := 1
		if i == failing || i == dup {
			want = 0
		}
		if got := eventCount(t, db, events[i].ID); got != want {
			t.Errorf("job %d: %d outbox rows, want %d", i, got, want)
		}
	}
	if got := eventCount(t, db, taken.ID); got != 1 {
		t.Errorf("the taken event has %d rows, want 1", got)
	}
	if g, j, r := after.Groups-before.Groups, after.Jobs-before.Jobs, after.Retried-before.Retried; g != 2 || j != n+1 || r != 0 {
		t.Errorf("writer ran %d groups, %d jobs, %d retries; want 2 (the holder, then all %d together), %d, 0", g, j, r, n, n+1)
	}
}

// TestGroupCommitBrokenTransactionRetriesOthers: a function that ends the
// transaction under the group (its savepoint can no longer be released)
// fails alone; every other job of the group is run again on its own and
// committed.
func TestGroupCommitBrokenTransactionRetriesOthers(t *testing.T) {
	db := migratedDB(t)
	const n, breaker = 8, 4
	events, fns, ctxs := eventJobs(t, n)
	fns[breaker] = func(t regcase.Tx) error {
		if err := t.InsertEvent(context.Background(), events[breaker]); err != nil {
			return err
		}
		_, err := t.(*tx).tx.q.(txConn).tx.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	before := db.GroupStats()
	errs := submitAll(t, db, ctxs, fns, nil)
	after := db.GroupStats()
	for i, err := range errs {
		want := 1
		if i == breaker {
			want = 0
			if err == nil {
				t.Errorf("breaking job: err = nil, want an error")
			}
		} else if err != nil {
			t.Errorf("job %d: %v, want nil", i, err)
		}
		if got := eventCount(t, db, events[i].ID); got != want {
			t.Errorf("job %d: %d outbox rows, want %d", i, got, want)
		}
	}
	if r := after.Retried - before.Retried; r != n {
		t.Errorf("%d jobs retried alone, want %d (the whole group)", r, n)
	}
	// The writer still works.
	if err := db.InTx(t.Context(), insertEventFn(testEvent())); err != nil {
		t.Errorf("InTx after a broken group: %v", err)
	}
}

// TestGroupCommitCanceledCaller: a caller whose context is canceled while
// its job waits is skipped with the context's error; a caller canceled
// while its function runs does not interrupt the transaction; the others
// commit either way.
func TestGroupCommitCanceledCaller(t *testing.T) {
	db := migratedDB(t)
	const n, queuedCancel, runningCancel = 6, 1, 4
	events := make([]*regcase.Event, n)
	fns := make([]func(regcase.Tx) error, n)
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		events[i] = testEvent()
		ctxs[i], cancels[i] = context.WithCancel(t.Context())
		defer cancels[i]()
		fns[i] = func(tx regcase.Tx) error { return tx.InsertEvent(ctxs[i], events[i]) }
	}
	fns[runningCancel] = func(tx regcase.Tx) error {
		cancels[runningCancel]()
		if err := tx.InsertEvent(ctxs[runningCancel], events[runningCancel]); err != nil {
			return fmt.Errorf("insert after the cancel: %w", err)
		}
		return tx.InsertEvent(ctxs[runningCancel], testEvent())
	}
	errs := submitAll(t, db, ctxs, fns, func() { cancels[queuedCancel]() })
	for i, err := range errs {
		want := 1
		if i == queuedCancel {
			want = 0
			if !errors.Is(err, context.Canceled) {
				t.Errorf("job canceled while queued: err = %v, want context.Canceled", err)
			}
		} else if err != nil {
			t.Errorf("job %d: %v, want nil", i, err)
		}
		if got := eventCount(t, db, events[i].ID); got != want {
			t.Errorf("job %d: %d outbox rows, want %d", i, got, want)
		}
	}
}

// TestCloseFinishesQueuedJobs: Close lets the jobs already queued commit;
// InTx after Close is EUnavailable.
func TestCloseFinishesQueuedJobs(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "regcase.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, db)
	const n = 3
	errs := make(chan error, n)
	for range n {
		go func() { errs <- db.InTx(context.Background(), insertEventFn(testEvent())) }()
	}
	waitQueued(t, db, n)
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	time.Sleep(20 * time.Millisecond) // let Close start waiting for the writer
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("queued job: %v, want nil (committed before Close returned)", err)
		}
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	err = db.InTx(t.Context(), insertEventFn(testEvent()))
	if got := regcase.ErrorCodeOf(err); got != regcase.EUnavailable {
		t.Errorf("InTx after Close: code %q (%v), want %q", got, err, regcase.EUnavailable)
	}
}

func TestSynchronous(t *testing.T) {
	for _, tc := range []struct {
		opt  Synchronous
		want int
	}{{"", 2}, {SynchronousFull, 2}, {SynchronousNormal, 1}} {
		t.Run(string(tc.opt), func(t *testing.T) {
			db, err := OpenWith(t.Context(), filepath.Join(t.TempDir(), "regcase.db"), Options{Synchronous: tc.opt})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var got int
			if err := db.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA synchronous = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("ErrUnknown", func(t *testing.T) {
		_, err := OpenWith(t.Context(), filepath.Join(t.TempDir(), "regcase.db"), Options{Synchronous: "OFF"})
		if got := regcase.ErrorCodeOf(err); got != regcase.EInvalid {
			t.Errorf("synchronous OFF: code %q (%v), want %q", got, err, regcase.EInvalid)
		}
	})
}
