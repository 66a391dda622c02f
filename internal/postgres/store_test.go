package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regcase/regcase/internal/regcase"
)

func TestAppendAudit(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)

	t.Run("ChainsLink", func(t *testing.T) {
		r1 := appendOne(t, db.App, "case:a")
		r2 := appendOne(t, db.App, "case:a")
		o1 := appendOne(t, db.App, "case:b")
		if r1.Seq != 1 || r2.Seq != 2 || o1.Seq != 1 {
			t.Errorf("seqs = %d, %d, %d; want 1, 2, 1", r1.Seq, r2.Seq, o1.Seq)
		}
		if !bytes.Equal(r1.PrevHash, make([]byte, regcase.HashSize)) || !bytes.Equal(r2.PrevHash, r1.Hash) {
			t.Error("records are not chained: want zero prev hash, then the first record's hash")
		}
		if !(r1.ID < r2.ID && r2.ID < o1.ID) {
			t.Errorf("ids = %d, %d, %d; want increasing", r1.ID, r2.ID, o1.ID)
		}
		heads, err := db.App.AuditHeads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h := heads["case:a"]; h.Seq != 2 || !bytes.Equal(h.Hash, r2.Hash) {
			t.Errorf("head of case:a = %d %x, want 2 %x", h.Seq, h.Hash, r2.Hash)
		}
	})
	t.Run("DataRoundTripsByteForByte", func(t *testing.T) {
		r := appendOne(t, db.App, "case:bytes")
		recs, err := db.App.ListAudit(ctx, regcase.AuditFilter{Chain: "case:bytes"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(recs[0].Data), `{"b":1,"a":"x"}`; got != want {
			t.Errorf("data = %s, want %s", got, want)
		}
		if !bytes.Equal(recs[0].ComputeHash(), r.Hash) {
			t.Error("the record read back does not hash to its stored hash")
		}
	})
	t.Run("RollbackLeavesNoGap", func(t *testing.T) {
		r0 := appendOne(t, db.App, "case:rb")
		err := db.App.InTx(ctx, func(tx regcase.Tx) error {
			if err := tx.AppendAudit(ctx, &regcase.AuditRecord{Chain: "case:rb", Action: "x"}); err != nil {
				return err
			}
			return errors.New("abort")
		})
		if err == nil {
			t.Fatal("InTx succeeded")
		}
		r := appendOne(t, db.App, "case:rb")
		if r.Seq != r0.Seq+1 || !bytes.Equal(r.PrevHash, r0.Hash) {
			t.Errorf("after a rollback seq = %d, want %d chained to the last committed record", r.Seq, r0.Seq+1)
		}
	})
	t.Run("OtherChainsDoNotWait", func(t *testing.T) {
		held := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.App.InTx(ctx, func(tx regcase.Tx) error {
				if err := tx.AppendAudit(ctx, &regcase.AuditRecord{Chain: "case:slow", Action: "x"}); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		// Another chain appends while case:slow's head is locked.
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := db.App.InTx(tctx, func(tx regcase.Tx) error {
			return tx.AppendAudit(tctx, &regcase.AuditRecord{Chain: "case:fast", Action: "x"})
		})
		cancel()
		if err != nil {
			t.Errorf("append to another chain while one is locked: %v", err)
		}
		// The same chain waits.
		tctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
		err = db.App.InTx(tctx, func(tx regcase.Tx) error {
			return tx.AppendAudit(tctx, &regcase.AuditRecord{Chain: "case:slow", Action: "x"})
		})
		cancel()
		if got, want := regcase.ErrorCodeOf(err), regcase.EUnavailable; got != want {
			t.Errorf("append to the locked chain: %v (%s), want to wait until the deadline (%s)", err, got, want)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestInTx(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)

	t.Run("RetriesSerializationFailure", func(t *testing.T) {
		calls := 0
		err := db.App.InTx(ctx, func(tx regcase.Tx) error {
			calls++
			if calls < 3 {
				return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: codeSerializationFailure})
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("InTx = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("BoundedRetries", func(t *testing.T) {
		calls := 0
		err := db.App.InTx(ctx, func(tx regcase.Tx) error {
			calls++
			return &pgconn.PgError{Code: codeDeadlockDetected}
		})
		if err == nil || calls != maxTxAttempts {
			t.Errorf("InTx = %v after %d calls, want an error after %d", err, calls, maxTxAttempts)
		}
	})
	t.Run("RealDeadlockIsRetried", func(t *testing.T) {
		testDeadlockRetried(t, db)
	})
	t.Run("PanicRollsBack", func(t *testing.T) {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic was swallowed")
				}
			}()
			_ = db.App.InTx(ctx, func(tx regcase.Tx) error {
				if err := tx.AppendAudit(ctx, &regcase.AuditRecord{Chain: "case:panic", Action: "x"}); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		heads, err := db.App.AuditHeads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := heads["case:panic"]; ok {
			t.Error("the panicking transaction was committed")
		}
		if n := db.App.Pool().Stat().AcquiredConns(); n != 0 {
			t.Errorf("%d connections still acquired after the panic", n)
		}
	})
}

// testDeadlockRetried makes two transactions append to two chains in
// opposite orders; PostgreSQL aborts one with 40P01 and InTx reruns it.
func testDeadlockRetried(t *testing.T, db *testDB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	appendOne(t, db.App, "dl:1")
	appendOne(t, db.App, "dl:2")
	barrier := make(chan struct{}, 2)
	run := func(first, second string) (int, error) {
		calls := 0
		err := db.App.InTx(ctx, func(tx regcase.Tx) error {
			calls++
			if err := tx.AppendAudit(ctx, &regcase.AuditRecord{Chain: first, Action: "x"}); err != nil {
				return err
			}
			if calls == 1 {
				barrier <- struct{}{}
				for len(barrier) < 2 && ctx.Err() == nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
			return tx.AppendAudit(ctx, &regcase.AuditRecord{Chain: second, Action: "x"})
		})
		return calls, err
	}
	type result struct {
		calls int
		err   error
	}
	results := make(chan result, 2)
	go func() { c, err := run("dl:1", "dl:2"); results <- result{c, err} }()
	go func() { c, err := run("dl:2", "dl:1"); results <- result{c, err} }()
	total := 0
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("InTx: %v", r.err)
		}
		total += r.calls
	}
	if total < 3 {
		t.Errorf("%d calls in all, want a retry after the deadlock", total)
	}
	heads, err := db.App.AuditHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if heads["dl:1"].Seq != 3 || heads["dl:2"].Seq != 3 {
		t.Errorf("heads = %d, %d; want 3, 3", heads["dl:1"].Seq, heads["dl:2"].Seq)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("ErrInvalidURLHidesPassword", func(t *testing.T) {
		_, err := Open(ctx, "postgres://u:s3cret@host:notaport/db", Options{})
		if got, want := regcase.ErrorCodeOf(err), regcase.EInvalid; got != want {
			t.Fatalf("Open = %v (%s), want %s", err, got, want)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		db, err := Open(ctx, "postgres://u:p@127.0.0.1:1/db?connect_timeout=2", Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, want := regcase.ErrorCodeOf(db.Ping(ctx)), regcase.EUnavailable; got != want {
			t.Errorf("Ping code = %s, want %s", got, want)
		}
		_, err = db.GetReport(ctx, "x")
		if got, want := regcase.ErrorCodeOf(err), regcase.EUnavailable; got != want {
			t.Errorf("GetReport code = %s, want %s", got, want)
		}
	})
	t.Run("ErrClosed", func(t *testing.T) {
		db := newMigratedDB(t)
		db.App.Close()
		if got, want := regcase.ErrorCodeOf(db.App.Ping(ctx)), regcase.EUnavailable; got != want {
			t.Errorf("Ping after Close = %s, want %s", got, want)
		}
	})
	t.Run("ErrIdempotencyKeyTaken", func(t *testing.T) {
		db := newMigratedDB(t)
		insert := func(id, tracking string) error {
			return db.App.InTx(ctx, func(tx regcase.Tx) error {
				return tx.InsertReport(ctx, &regcase.Report{ID: id, TrackingCode: tracking, Channel: regcase.ChannelWeb,
					Status: regcase.ReportReceived, IdempotencyKey: "k1"})
			})
		}
		if err := insert("r1", "T1"); err != nil {
			t.Fatal(err)
		}
		if err := insert("r2", "T2"); !errors.Is(err, regcase.ErrIdempotencyKeyTaken) {
			t.Errorf("duplicate key: %v, want ErrIdempotencyKeyTaken", err)
		}
		err := insert("r3", "T1")
		if got, want := regcase.ErrorCodeOf(err), regcase.EConflict; got != want || errors.Is(err, regcase.ErrIdempotencyKeyTaken) {
			t.Errorf("duplicate tracking code: %v (%s), want a plain %s", err, got, want)
		}
	})
	t.Run("ErrInternalWrapsCause", func(t *testing.T) {
		err := translate(errors.New("odd"), "op", "thing")
		var e *regcase.Error
		if !errors.As(err, &e) || e.Code != regcase.EInternal || !strings.Contains(e.Err.Error(), "postgres: op: odd") {
			t.Errorf("translate = %#v, want EInternal wrapping the cause", err)
		}
	})
}

func TestInsertEventKeepsBytes(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)
	data := `{"z": 1, "a": [1,  2], "s": "<&>"}`
	events := []*regcase.Event{
		{ID: "e1", Type: "gov.regcase.case.created", Source: "/regcase", Subject: "cases/1", Time: time.Now(), Data: []byte(data), PartitionKey: "1"},
		{ID: "e2", Type: "gov.regcase.case.created", Source: "/regcase", Time: time.Now()},
	}
	err := db.App.InTx(ctx, func(tx regcase.Tx) error {
		for _, e := range events {
			if err := tx.InsertEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got1 string
	var got2 *string
	err = db.Bypass.QueryRow(ctx, `SELECT (SELECT data::text FROM outbox WHERE event_id = 'e1'), (SELECT data::text FROM outbox WHERE event_id = 'e2')`).Scan(&got1, &got2)
	if err != nil {
		t.Fatal(err)
	}
	if got1 != data || got2 != nil {
		t.Errorf("stored data = %q and %v, want %q and NULL", got1, got2, data)
	}
	err = db.App.InTx(ctx, func(tx regcase.Tx) error {
		return tx.InsertEvent(ctx, &regcase.Event{ID: "e3", Type: "t", Source: "/s", Time: time.Now(), Data: []byte("{not json")})
	})
	if got, want := regcase.ErrorCodeOf(err), regcase.EInvalid; got != want {
		t.Errorf("invalid JSON data: %v (%s), want %s", err, got, want)
	}
}
