package storetest

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func claim(tb testing.TB, s regcase.Store, now time.Time, lease time.Duration, limit int) []*regcase.Delivery {
	tb.Helper()
	ds, err := s.ClaimDeliveries(tb.Context(), now, lease, limit)
	if err != nil {
		tb.Fatalf("ClaimDeliveries: %v", err)
	}
	return ds
}

func recordAttempt(tb testing.TB, s regcase.Store, d *regcase.Delivery, a *regcase.DeliveryAttempt) {
	tb.Helper()
	if err := s.RecordAttempt(tb.Context(), d, a); err != nil {
		tb.Fatalf("RecordAttempt: %v", err)
	}
}

func listAttempts(tb testing.TB, s regcase.Store, deliveryID string) []*regcase.DeliveryAttempt {
	tb.Helper()
	as, err := s.ListAttempts(tb.Context(), deliveryID)
	if err != nil {
		tb.Fatalf("ListAttempts: %v", err)
	}
	return as
}

// sortedIDs returns ids sorted ascending: the order of ClaimDeliveries.
func sortedIDs(ids ...string) []string {
	out := append([]string{}, ids...)
	sort.Strings(out)
	return out
}

// testDeliveryLifecycle claims deliveries as a worker pool does: due ones
// only, each once per lease, again once the lease ran out.
func testDeliveryLifecycle(t *testing.T, open opener) {
	s := open(t).Store
	w := newWebhook(t)
	insertWebhooks(t, s, w)
	first := newDelivery(t, w.ID, func(d *regcase.Delivery) { d.NextAttemptAt = t0 })
	second := newDelivery(t, w.ID, func(d *regcase.Delivery) { d.NextAttemptAt = t0.Add(time.Minute) })
	notDue := newDelivery(t, w.ID, func(d *regcase.Delivery) { d.NextAttemptAt = t0.Add(time.Hour) })
	dead := newDelivery(t, w.ID, func(d *regcase.Delivery) { d.Status, d.NextAttemptAt = regcase.DeliveryDead, t0 })
	insertDeliveries(t, s, second, notDue, first, dead)

	now := t0.Add(2 * time.Minute)
	const lease = 30 * time.Second
	got := claim(t, s, now, lease, 10)
	wantIDs(t, deliveryIDs(got), sortedIDs(first.ID, second.ID))
	for _, d := range got {
		want := *first
		if d.ID == second.ID {
			want = *second
		}
		want.NextAttemptAt = now.Add(lease)
		wantNoDiff(t, "claimed delivery", d, &want)
		wantNoDiff(t, "stored claimed delivery", getDelivery(t, s, d.ID), &want)
	}
	if got := claim(t, s, now, lease, 10); len(got) != 0 {
		t.Errorf("claimed %v again at once, want none until the lease runs out", deliveryIDs(got))
	}
	if got := claim(t, s, now.Add(lease-time.Microsecond), lease, 10); len(got) != 0 {
		t.Errorf("claimed %v again just before the lease ran out, want none", deliveryIDs(got))
	}
	later, long := now.Add(lease), 10*time.Hour
	if got := claim(t, s, later, long, 1); len(got) != 1 {
		t.Errorf("claimed %d after the lease ran out with limit 1, want 1", len(got))
	}
	if got := claim(t, s, later, long, 10); len(got) != 1 {
		t.Errorf("claimed %d after the lease ran out, want the other one", len(got))
	}
	if got := claim(t, s, t0.Add(20*time.Hour), lease, 0); len(got) != 0 {
		t.Errorf("claimed %d with limit 0", len(got))
	}
	// The earliest due goes first when the limit bites: notDue (due at
	// t0+1h) before first and second (due at later+10h), though its ID is
	// the greatest.
	if got := claim(t, s, t0.Add(20*time.Hour), lease, 1); len(got) != 1 || got[0].ID != notDue.ID {
		t.Errorf("claimed %v with limit 1, want the earliest due %s", deliveryIDs(got), notDue.ID)
	}
	wantNoDiff(t, "dead delivery", getDelivery(t, s, dead.ID), dead)
}

func testRecordAttempt(t *testing.T, open opener) {
	// setup stores a webhook and a claimed delivery.
	setup := func(t *testing.T) (regcase.Store, *regcase.Delivery) {
		s := open(t).Store
		w := newWebhook(t)
		insertWebhooks(t, s, w)
		insertDeliveries(t, s, newDelivery(t, w.ID))
		ds := claim(t, s, t0, time.Minute, 1)
		if len(ds) != 1 {
			t.Fatalf("claimed %d deliveries, want 1", len(ds))
		}
		return s, ds[0]
	}
	t.Run("OKSuccess", func(t *testing.T) {
		s, d := setup(t)
		at := t0.Add(time.Second)
		d.Status, d.Attempts, d.LastAttemptAt, d.LastStatus, d.DeliveredAt = regcase.DeliveryDelivered, 1, &at, 204, &at
		a := &regcase.DeliveryAttempt{DeliveryID: d.ID, At: at, Duration: 1500*time.Millisecond + 7*time.Microsecond, StatusCode: 204}
		recordAttempt(t, s, d, a)
		if a.ID <= 0 {
			t.Errorf("attempt ID = %d, want one set by the store", a.ID)
		}
		wantNoDiff(t, "delivered delivery", getDelivery(t, s, d.ID), d)
		as := listAttempts(t, s, d.ID)
		if len(as) != 1 {
			t.Fatalf("%d attempts, want 1", len(as))
		}
		wantNoDiff(t, "attempt", as[0], a)
		if got := claim(t, s, day(10), time.Minute, 10); len(got) != 0 {
			t.Errorf("claimed a delivered delivery: %v", deliveryIDs(got))
		}
	})
	t.Run("OKLateFailureDoesNotUndoSuccess", func(t *testing.T) {
		s, d := setup(t)
		slow := *d // a second worker that claimed the same delivery after its lease ran out
		at := t0.Add(time.Second)
		d.Status, d.Attempts, d.LastAttemptAt, d.LastStatus, d.DeliveredAt = regcase.DeliveryDelivered, 1, &at, 200, &at
		recordAttempt(t, s, d, &regcase.DeliveryAttempt{DeliveryID: d.ID, At: at, StatusCode: 200})

		late := at.Add(time.Minute)
		slow.Attempts, slow.LastAttemptAt, slow.LastStatus, slow.LastError = 1, &late, 0, "context deadline exceeded"
		slow.NextAttemptAt = late.Add(time.Minute)
		lateAttempt := &regcase.DeliveryAttempt{DeliveryID: d.ID, At: late, Duration: time.Second, Error: slow.LastError}
		recordAttempt(t, s, &slow, lateAttempt)
		// And a late dead verdict.
		slow.Status, slow.Attempts = regcase.DeliveryDead, 9
		recordAttempt(t, s, &slow, &regcase.DeliveryAttempt{DeliveryID: d.ID, At: late, Error: "gave up"})

		wantNoDiff(t, "delivery after late failures", getDelivery(t, s, d.ID), d)
		as := listAttempts(t, s, d.ID)
		if len(as) != 3 || as[1].ID != lateAttempt.ID || as[1].Error != lateAttempt.Error {
			t.Errorf("attempts = %d, want all 3 in order (the late ones are history too)", len(as))
		}
	})
	t.Run("OKFailureSchedulesRetry", func(t *testing.T) {
		s, d := setup(t)
		at := t0.Add(time.Second)
		d.Attempts, d.LastAttemptAt, d.LastStatus, d.LastError = 1, &at, 503, "503 Service Unavailable"
		d.NextAttemptAt = at.Add(10 * time.Second)
		recordAttempt(t, s, d, &regcase.DeliveryAttempt{DeliveryID: d.ID, At: at, Duration: time.Millisecond, StatusCode: 503, Error: d.LastError})
		wantNoDiff(t, "retrying delivery", getDelivery(t, s, d.ID), d)
		if got := claim(t, s, d.NextAttemptAt.Add(-time.Microsecond), time.Minute, 10); len(got) != 0 {
			t.Errorf("claimed before its next attempt: %v", deliveryIDs(got))
		}
		if got := claim(t, s, d.NextAttemptAt, time.Minute, 10); len(got) != 1 {
			t.Errorf("claimed %d at its next attempt, want 1", len(got))
		}
		// Out of attempts: dead, and never claimed again.
		d.Status, d.Attempts = regcase.DeliveryDead, 2
		recordAttempt(t, s, d, &regcase.DeliveryAttempt{DeliveryID: d.ID, At: at.Add(time.Minute), Error: "refused"})
		wantNoDiff(t, "dead delivery", getDelivery(t, s, d.ID), d)
		if got := claim(t, s, day(10), time.Minute, 10); len(got) != 0 {
			t.Errorf("claimed a dead delivery: %v", deliveryIDs(got))
		}
		if as := listAttempts(t, s, d.ID); len(as) != 2 || as[0].ID >= as[1].ID {
			t.Errorf("attempts = %d, want 2, oldest first", len(as))
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		s := open(t).Store
		d := newDelivery(t, newID())
		err := s.RecordAttempt(t.Context(), d, &regcase.DeliveryAttempt{DeliveryID: d.ID, At: t0})
		wantCode(t, err, regcase.ENotFound)
		if as := listAttempts(t, s, d.ID); len(as) != 0 {
			t.Errorf("attempts of an unknown delivery = %d", len(as))
		}
	})
}

func testReleaseDeliveries(t *testing.T, open opener) {
	s := open(t).Store
	w := newWebhook(t)
	insertWebhooks(t, s, w)
	a, b := newDelivery(t, w.ID), newDelivery(t, w.ID)
	done := newDelivery(t, w.ID, func(d *regcase.Delivery) { d.Status = regcase.DeliveryDelivered })
	insertDeliveries(t, s, a, b, done)
	if got := claim(t, s, t0, time.Hour, 10); len(got) != 2 {
		t.Fatalf("claimed %d, want 2", len(got))
	}
	back := t0.Add(time.Second)
	if err := s.ReleaseDeliveries(t.Context(), []string{a.ID, done.ID, newID()}, back); err != nil {
		t.Fatalf("ReleaseDeliveries: %v", err)
	}
	if err := s.ReleaseDeliveries(t.Context(), nil, back); err != nil {
		t.Errorf("ReleaseDeliveries(nil): %v", err)
	}
	wantIDs(t, deliveryIDs(claim(t, s, back, time.Hour, 10)), []string{a.ID})
	wantNoDiff(t, "delivered delivery", getDelivery(t, s, done.ID), done)
}

func testRedeliver(t *testing.T, open opener) {
	redeliver := func(s regcase.Store, id string, at time.Time) (*regcase.Delivery, error) {
		var d *regcase.Delivery
		err := s.InTx(t.Context(), func(tx regcase.Tx) error {
			var err error
			d, err = tx.RedeliverDelivery(t.Context(), id, at)
			return err
		})
		return d, err
	}
	t.Run("OK", func(t *testing.T) {
		s := open(t).Store
		w := newWebhook(t)
		insertWebhooks(t, s, w)
		done := newDelivery(t, w.ID, func(d *regcase.Delivery) {
			d.Status, d.Attempts, d.LastAttemptAt, d.LastStatus, d.DeliveredAt = regcase.DeliveryDelivered, 2, ptr(t0), 200, ptr(t0)
		})
		dead := newDelivery(t, w.ID, func(d *regcase.Delivery) {
			d.Status, d.Attempts, d.LastAttemptAt, d.LastStatus, d.LastError = regcase.DeliveryDead, 8, ptr(t0), 500, "500 Internal Server Error"
		})
		insertDeliveries(t, s, done, dead)
		at := day(1)
		for _, d := range []*regcase.Delivery{done, dead} {
			got, err := redeliver(s, d.ID, at)
			if err != nil {
				t.Fatalf("RedeliverDelivery(%s): %v", d.Status, err)
			}
			want := *d
			want.Status, want.Attempts, want.NextAttemptAt, want.DeliveredAt = regcase.DeliveryPending, 0, at, nil
			wantNoDiff(t, "redelivered "+string(d.Status), got, &want)
			wantNoDiff(t, "stored redelivered "+string(d.Status), getDelivery(t, s, d.ID), &want)
		}
		if got := claim(t, s, at.Add(-time.Microsecond), time.Minute, 10); len(got) != 0 {
			t.Errorf("claimed a redelivery before its time: %v", deliveryIDs(got))
		}
		wantIDs(t, deliveryIDs(claim(t, s, at, time.Minute, 10)), sortedIDs(done.ID, dead.ID))
	})
	t.Run("ErrConflictPending", func(t *testing.T) {
		s := open(t).Store
		w := newWebhook(t)
		insertWebhooks(t, s, w)
		d := newDelivery(t, w.ID)
		insertDeliveries(t, s, d)
		_, err := redeliver(s, d.ID, day(1))
		wantCode(t, err, regcase.EConflict)
		wantNoDiff(t, "pending delivery", getDelivery(t, s, d.ID), d)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := redeliver(open(t).Store, newID(), day(1))
		wantCode(t, err, regcase.ENotFound)
	})
}

// testConcurrentClaims runs claimers side by side until nothing is due and
// checks every delivery went to exactly one of them.
func testConcurrentClaims(t *testing.T, open opener) {
	s := open(t).Store
	w := newWebhook(t)
	insertWebhooks(t, s, w)
	const total, workers, batch = 120, 8, 7
	var ds []*regcase.Delivery
	for i := range total {
		ds = append(ds, newDelivery(t, w.ID, func(d *regcase.Delivery) { d.NextAttemptAt = t0.Add(time.Duration(i%5) * time.Millisecond) }))
	}
	insertDeliveries(t, s, ds...)

	var mu sync.Mutex
	owner := map[string]int{}
	var dupes []string
	errs := parallel(workers, func(i int) error {
		for {
			got, err := s.ClaimDeliveries(t.Context(), t0.Add(time.Second), time.Hour, batch)
			if err != nil {
				return fmt.Errorf("worker %d: %w", i, err)
			}
			if len(got) == 0 {
				return nil
			}
			if len(got) > batch {
				return fmt.Errorf("worker %d got %d deliveries, limit %d", i, len(got), batch)
			}
			mu.Lock()
			for _, d := range got {
				if prev, ok := owner[d.ID]; ok {
					dupes = append(dupes, fmt.Sprintf("%s (workers %d and %d)", d.ID, prev, i))
				}
				owner[d.ID] = i
			}
			mu.Unlock()
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if len(dupes) > 0 {
		t.Errorf("%d deliveries were claimed twice, e.g. %v", len(dupes), dupes[:min(3, len(dupes))])
	}
	if len(owner) != total {
		t.Errorf("%d deliveries claimed, want all %d", len(owner), total)
	}
	if got := claim(t, s, t0.Add(time.Second), time.Hour, 10); len(got) != 0 {
		t.Errorf("%d deliveries claimable after the workers stopped", len(got))
	}
}

func testRecordAttempts(t *testing.T, open opener) {
	s := open(t).Store
	w := newWebhook(t)
	insertWebhooks(t, s, w)
	d1, d2 := newDelivery(t, w.ID), newDelivery(t, w.ID)
	insertDeliveries(t, s, d1, d2)
	at := day(1)
	d1.Status, d1.Attempts, d1.LastAttemptAt, d1.LastStatus, d1.DeliveredAt = regcase.DeliveryDelivered, 1, &at, 204, &at
	d2.Status, d2.Attempts, d2.LastAttemptAt, d2.LastStatus, d2.LastError = regcase.DeliveryPending, 1, &at, 503, "HTTP 503"
	d2.NextAttemptAt = day(2)
	a1 := &regcase.DeliveryAttempt{At: at, Duration: 3 * time.Millisecond, StatusCode: 204}
	a2 := &regcase.DeliveryAttempt{At: at, Duration: 5 * time.Millisecond, StatusCode: 503, Error: "HTTP 503"}
	if err := s.RecordAttempts(t.Context(), []regcase.AttemptRecord{{Delivery: d1, Attempt: a1}, {Delivery: d2, Attempt: a2}}); err != nil {
		t.Fatalf("RecordAttempts: %v", err)
	}
	if a1.ID == 0 || a2.ID == 0 || a1.ID == a2.ID {
		t.Errorf("attempt IDs %d, %d: want two distinct IDs set", a1.ID, a2.ID)
	}
	if got := getDelivery(t, s, d1.ID); got.Status != regcase.DeliveryDelivered || got.Attempts != 1 || got.LastStatus != 204 {
		t.Errorf("d1 after RecordAttempts: %+v", got)
	}
	if got := getDelivery(t, s, d2.ID); got.Status != regcase.DeliveryPending || got.LastError != "HTTP 503" || !got.NextAttemptAt.Equal(day(2)) {
		t.Errorf("d2 after RecordAttempts: %+v", got)
	}
	if n := len(listAttempts(t, s, d2.ID)); n != 1 {
		t.Errorf("d2 has %d attempts, want 1", n)
	}
	if err := s.RecordAttempts(t.Context(), nil); err != nil {
		t.Errorf("RecordAttempts(nil): %v", err)
	}
}
