package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// insertEvents writes evs to the outbox, one transaction for all.
func insertEvents(tb testing.TB, s regcase.Store, evs ...*regcase.Event) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error {
		for _, e := range evs {
			if err := tx.InsertEvent(tb.Context(), e); err != nil {
				return fmt.Errorf("insert event %s: %w", e.ID, err)
			}
		}
		return nil
	})
}

// pendingOutbox returns every unpublished outbox event.
func pendingOutbox(tb testing.TB, s regcase.Store) []*regcase.OutboxEvent {
	tb.Helper()
	evs, err := s.PendingOutbox(tb.Context(), 1000)
	if err != nil {
		tb.Fatalf("PendingOutbox: %v", err)
	}
	return evs
}

// eventIDs returns the event IDs of evs, in order.
func eventIDs(evs []*regcase.OutboxEvent) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

func markPublished(tb testing.TB, s regcase.Store, at time.Time, seqs ...int64) {
	tb.Helper()
	if err := s.MarkPublished(tb.Context(), seqs, at); err != nil {
		tb.Fatalf("MarkPublished: %v", err)
	}
}

func prune(tb testing.TB, s regcase.Store, before time.Time, limit int) int64 {
	tb.Helper()
	n, err := s.PruneOutbox(tb.Context(), before, limit)
	if err != nil {
		tb.Fatalf("PruneOutbox: %v", err)
	}
	return n
}

// markProcessed runs MarkProcessed in its own transaction.
func markProcessed(tb testing.TB, s regcase.Store, handler, eventID string, at time.Time) bool {
	tb.Helper()
	var first bool
	mustTx(tb, s, func(tx regcase.Tx) error {
		var err error
		first, err = tx.MarkProcessed(tb.Context(), handler, eventID, at)
		return err
	})
	return first
}

func testRelay(t *testing.T, open opener) {
	t.Run("PendingOutbox", func(t *testing.T) {
		t.Run("OKSeqOrderWholeEvents", func(t *testing.T) {
			s := open(t).Store
			odd := newEvent(t)
			odd.Data = json.RawMessage("{\"b\": 1,  \"a\":[1, 2.50], \"u\":\"\u00fc\\u00fc\"}") // kept as written
			bare := &regcase.Event{ID: newID(), Type: "gov.regcase.case.opened", Source: "/regcase", Time: t0.Add(time.Microsecond)}
			want := []*regcase.Event{newEvent(t), odd, bare}
			before := time.Now().Add(-time.Minute)
			insertEvents(t, s, want[0])
			insertEvents(t, s, want[1], want[2])

			got := pendingOutbox(t, s)
			if len(got) != len(want) {
				t.Fatalf("PendingOutbox = %d events, want %d", len(got), len(want))
			}
			for i, g := range got {
				wantNoDiff(t, "event "+g.ID, g.Event, *want[i])
				if !bytes.Equal(g.Data, want[i].Data) {
					t.Errorf("event %d data = %q, want %q byte for byte", i, g.Data, want[i].Data)
				}
				if i > 0 && g.Seq <= got[i-1].Seq {
					t.Errorf("seq %d after %d: want ascending", g.Seq, got[i-1].Seq)
				}
				if g.CreatedAt.Before(before) || g.CreatedAt.After(time.Now().Add(time.Minute)) || g.PublishedAt != nil {
					t.Errorf("event %d: created %v, published %v; want created now, unpublished", i, g.CreatedAt, g.PublishedAt)
				}
			}
		})
		t.Run("OKTraceContext", func(t *testing.T) {
			// The W3C trace context of the writer comes back as stored;
			// an event without one comes back without one.
			s := open(t).Store
			traced, bare := newEvent(t), newEvent(t)
			traced.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			traced.TraceState = "vendor=opaque-1,other=x"
			insertEvents(t, s, traced, bare)
			got := pendingOutbox(t, s)
			if len(got) != 2 {
				t.Fatalf("PendingOutbox = %d events, want 2", len(got))
			}
			wantNoDiff(t, "traced event", got[0].Event, *traced)
			wantNoDiff(t, "event without trace context", got[1].Event, *bare)
		})
		t.Run("OKLimit", func(t *testing.T) {
			s := open(t).Store
			evs := []*regcase.Event{newEvent(t), newEvent(t), newEvent(t)}
			insertEvents(t, s, evs...)
			got, err := s.PendingOutbox(t.Context(), 2)
			if err != nil {
				t.Fatal(err)
			}
			wantIDs(t, eventIDs(got), []string{evs[0].ID, evs[1].ID})
			if got, err := s.PendingOutbox(t.Context(), 0); err != nil || len(got) != 0 {
				t.Errorf("PendingOutbox(0) = %d events, %v; want none", len(got), err)
			}
		})
		t.Run("OKEmpty", func(t *testing.T) {
			if got := pending(t, open(t).Store); len(got) != 0 {
				t.Errorf("PendingOutbox on an empty outbox = %d events", len(got))
			}
		})
	})
	t.Run("MarkPublished", func(t *testing.T) {
		t.Run("OKFirstStampKept", func(t *testing.T) {
			s := open(t).Store
			evs := []*regcase.Event{newEvent(t), newEvent(t), newEvent(t), newEvent(t)}
			insertEvents(t, s, evs...)
			all := pendingOutbox(t, s)
			t1, t2 := day(1), day(2)
			markPublished(t, s, t1, all[0].Seq, all[1].Seq)
			wantIDs(t, eventIDs(pendingOutbox(t, s)), []string{evs[2].ID, evs[3].ID})
			// Again, with a later stamp, and an unknown seq: only the unstamped row moves.
			markPublished(t, s, t2, all[0].Seq, all[2].Seq, all[3].Seq+1000)
			wantIDs(t, eventIDs(pendingOutbox(t, s)), []string{evs[3].ID})
			// Pruning tells the stamps apart: seq 0 and 1 at t1, seq 2 at t2.
			if n := prune(t, s, t1.Add(time.Microsecond), 100); n != 2 {
				t.Errorf("pruned %d rows published before t1+1µs, want 2 (the first stamp must be kept)", n)
			}
			if n := prune(t, s, t2.Add(time.Microsecond), 100); n != 1 {
				t.Errorf("pruned %d rows published before t2+1µs, want 1", n)
			}
		})
		t.Run("OKNone", func(t *testing.T) {
			s := open(t).Store
			if err := s.MarkPublished(t.Context(), nil, t0); err != nil {
				t.Errorf("MarkPublished(nil): %v", err)
			}
		})
	})
	t.Run("RepublishLost", func(t *testing.T) {
		t.Run("OKOnlyUnhandledInWindow", func(t *testing.T) {
			s := open(t).Store
			evs := make([]*regcase.Event, 7)
			for i := range evs {
				evs[i] = newEvent(t)
			}
			insertEvents(t, s, evs...)
			all := pendingOutbox(t, s)
			// 0: before the window; 1-4: inside; 5: after it; 6: unpublished.
			markPublished(t, s, day(1), all[0].Seq)
			markPublished(t, s, day(3), all[1].Seq, all[2].Seq, all[3].Seq, all[4].Seq)
			markPublished(t, s, day(6), all[5].Seq)
			markProcessed(t, s, "webhooks", evs[1].ID, day(3)) // handled
			markProcessed(t, s, "other", evs[2].ID, day(3))    // handled by another group only
			insertDeadEvent(t, s, newDeadEvent(t, "webhooks", evs[3]))
			n, err := s.RepublishLost(t.Context(), "webhooks", day(2), day(5), 100)
			if err != nil {
				t.Fatalf("RepublishLost: %v", err)
			}
			if n != 2 {
				t.Errorf("RepublishLost = %d, want 2 (events 2 and 4)", n)
			}
			wantIDs(t, eventIDs(pendingOutbox(t, s)), []string{evs[2].ID, evs[4].ID, evs[6].ID})
			if n, _ := s.RepublishLost(t.Context(), "webhooks", day(2), day(5), 100); n != 0 {
				t.Errorf("second RepublishLost = %d, want 0 (they are unpublished now)", n)
			}
		})
		t.Run("OKBoundedByLimit", func(t *testing.T) {
			s := open(t).Store
			insertEvents(t, s, newEvent(t), newEvent(t), newEvent(t))
			all := pendingOutbox(t, s)
			markPublished(t, s, day(3), all[0].Seq, all[1].Seq, all[2].Seq)
			if n, err := s.RepublishLost(t.Context(), "webhooks", day(2), day(5), 2); err != nil || n != 2 {
				t.Errorf("RepublishLost(limit 2) = %d, %v; want 2", n, err)
			}
			if n, err := s.RepublishLost(t.Context(), "webhooks", day(2), day(5), 0); err != nil || n != 0 {
				t.Errorf("RepublishLost(limit 0) = %d, %v; want 0", n, err)
			}
		})
	})
	t.Run("PruneOutbox", func(t *testing.T) {
		t.Run("OKBoundedByLimit", func(t *testing.T) {
			s := open(t).Store
			var evs []*regcase.Event
			for range 6 {
				evs = append(evs, newEvent(t))
			}
			insertEvents(t, s, evs...)
			all := pendingOutbox(t, s)
			for i, e := range all[:5] {
				markPublished(t, s, t0.Add(time.Duration(i)*time.Second), e.Seq)
			}
			// Published at t0+4s is not before t0+4s: strictly before.
			before := t0.Add(4 * time.Second)
			for i, want := range []int64{2, 2, 0} {
				if n := prune(t, s, before, 2); n != want {
					t.Errorf("prune %d removed %d rows, want %d", i, n, want)
				}
			}
			if n := prune(t, s, before.Add(time.Second), 0); n != 0 {
				t.Errorf("prune with limit 0 removed %d rows", n)
			}
			if n := prune(t, s, day(100), 10); n != 1 {
				t.Errorf("last prune removed %d rows, want the one published row left", n)
			}
			// The unpublished event is never pruned.
			wantIDs(t, eventIDs(pendingOutbox(t, s)), []string{evs[5].ID})
			if n := prune(t, s, day(100), 10); n != 0 {
				t.Errorf("pruned %d rows of an outbox holding only an unpublished event", n)
			}
		})
		t.Run("OKForgetsProcessedEvents", func(t *testing.T) {
			s := open(t).Store
			// More old dedupe rows than the limit, and no outbox row at all: the
			// dedupe window still ends at before.
			var old []string
			for i := range 5 {
				id := newID()
				old = append(old, id)
				markProcessed(t, s, fmt.Sprintf("handler-%d", i%2), id, t0)
			}
			recent := newID()
			markProcessed(t, s, "handler-0", recent, day(2))
			if n := prune(t, s, day(1), 2); n != 0 {
				t.Errorf("pruned %d outbox rows of an empty outbox", n)
			}
			for i, id := range old {
				if !markProcessed(t, s, fmt.Sprintf("handler-%d", i%2), id, day(3)) {
					t.Errorf("event %d processed before the cutoff is still remembered after PruneOutbox", i)
				}
			}
			if markProcessed(t, s, "handler-0", recent, day(3)) {
				t.Error("event processed after the cutoff was forgotten by PruneOutbox")
			}
		})
	})
	t.Run("OutboxStats", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			n, oldest, err := s.OutboxStats(t.Context())
			if err != nil || n != 0 || oldest != nil {
				t.Fatalf("OutboxStats of an empty outbox = %d, %v, %v; want 0, nil, nil", n, oldest, err)
			}
			insertEvents(t, s, newEvent(t))
			insertEvents(t, s, newEvent(t), newEvent(t))
			all := pendingOutbox(t, s)
			n, oldest, err = s.OutboxStats(t.Context())
			if err != nil || n != 3 || oldest == nil || !oldest.Equal(all[0].CreatedAt) {
				t.Fatalf("OutboxStats = %d, %v, %v; want 3, %v", n, oldest, err, all[0].CreatedAt)
			}
			markPublished(t, s, t0, all[0].Seq)
			n, oldest, err = s.OutboxStats(t.Context())
			if err != nil || n != 2 || oldest == nil || !oldest.Equal(all[1].CreatedAt) {
				t.Errorf("OutboxStats after publishing the first = %d, %v, %v; want 2, %v", n, oldest, err, all[1].CreatedAt)
			}
			markPublished(t, s, t0, all[1].Seq, all[2].Seq)
			n, oldest, err = s.OutboxStats(t.Context())
			if err != nil || n != 0 || oldest != nil {
				t.Errorf("OutboxStats after publishing all = %d, %v, %v; want 0, nil", n, oldest, err)
			}
		})
	})
}

func testMarkProcessed(t *testing.T, open opener) {
	t.Run("OKFirstThenAlready", func(t *testing.T) {
		s := open(t).Store
		ev := newID()
		if !markProcessed(t, s, "fanout", ev, t0) {
			t.Error("first MarkProcessed = false, want true")
		}
		if markProcessed(t, s, "fanout", ev, t0.Add(time.Second)) {
			t.Error("second MarkProcessed = true, want false")
		}
		if !markProcessed(t, s, "sla", ev, t0) {
			t.Error("MarkProcessed by another handler = false, want true")
		}
	})
	t.Run("OKSameTransaction", func(t *testing.T) {
		s := open(t).Store
		mustTx(t, s, func(tx regcase.Tx) error {
			first, err := tx.MarkProcessed(t.Context(), "fanout", "ev-1", t0)
			if err != nil || !first {
				return fmt.Errorf("first = %v, %v", first, err)
			}
			again, err := tx.MarkProcessed(t.Context(), "fanout", "ev-1", t0)
			if err != nil || again {
				return fmt.Errorf("again in the same transaction = %v, %v", again, err)
			}
			return nil
		})
	})
	t.Run("OKRollbackForgets", func(t *testing.T) {
		s := open(t).Store
		err := s.InTx(t.Context(), func(tx regcase.Tx) error {
			if _, err := tx.MarkProcessed(t.Context(), "fanout", "ev-1", t0); err != nil {
				return err
			}
			return errBoom // the handler's effect failed
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx = %v, want errBoom", err)
		}
		if !markProcessed(t, s, "fanout", "ev-1", t0) {
			t.Error("MarkProcessed after a rolled-back one = false, want true")
		}
	})
	t.Run("OKConcurrentOnlyOneFirst", func(t *testing.T) {
		s := open(t).Store
		const n = 8
		firsts := make([]bool, n)
		errs := parallel(n, func(i int) error {
			return s.InTx(t.Context(), func(tx regcase.Tx) error {
				var err error
				firsts[i], err = tx.MarkProcessed(t.Context(), "fanout", "ev-race", t0)
				return err
			})
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, f := range firsts {
			if f {
				count++
			}
		}
		if count != 1 {
			t.Errorf("%d of %d concurrent MarkProcessed calls were first, want exactly 1", count, n)
		}
	})
}
