package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// newDeadEvent returns a dead letter of ev by handler, dead at t0.
func newDeadEvent(tb testing.TB, handler string, ev *regcase.Event) *regcase.DeadEvent {
	tb.Helper()
	return &regcase.DeadEvent{Handler: handler, Event: *ev, Reason: "receiver said no — ünïcode", Deliveries: 5, DeadAt: t0}
}

func insertDeadEvent(tb testing.TB, s regcase.Store, d *regcase.DeadEvent) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error { return tx.InsertDeadEvent(tb.Context(), d) })
	if d.ID <= 0 {
		tb.Fatalf("dead event ID = %d, want one set by the store", d.ID)
	}
}

func replayDeadEvent(tb testing.TB, s regcase.Store, id int64, at time.Time) (*regcase.DeadEvent, error) {
	tb.Helper()
	var d *regcase.DeadEvent
	err := s.InTx(tb.Context(), func(tx regcase.Tx) error {
		var err error
		d, err = tx.ReplayDeadEvent(tb.Context(), id, at)
		return err
	})
	return d, err
}

// outboxRow returns the unpublished outbox row of eventID (nil if none).
func outboxRow(tb testing.TB, s regcase.Store, eventID string) *regcase.OutboxEvent {
	tb.Helper()
	for _, e := range pendingOutbox(tb, s) {
		if e.ID == eventID {
			return e
		}
	}
	return nil
}

func deadIDs(ds []*regcase.DeadEvent) []int64 {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func testDeadEvents(t *testing.T, open opener) {
	t.Run("InsertDeadEvent", func(t *testing.T) {
		t.Run("OKRoundTrip", func(t *testing.T) {
			s := open(t).Store
			ev := newEvent(t)
			ev.Data = json.RawMessage(`{"z": 1, "a" :[true,null]}`)
			want := newDeadEvent(t, "fanout", ev)
			insertDeadEvent(t, s, want)
			bare := newDeadEvent(t, "sla", &regcase.Event{ID: newID(), Type: "gov.regcase.case.opened", Source: "/regcase", Time: t0})
			insertDeadEvent(t, s, bare)
			if bare.ID <= want.ID {
				t.Errorf("dead event IDs %d then %d, want increasing", want.ID, bare.ID)
			}
			for _, w := range []*regcase.DeadEvent{want, bare} {
				got, err := s.GetDeadEvent(t.Context(), w.ID)
				if err != nil {
					t.Fatal(err)
				}
				wantNoDiff(t, "dead event", got, w)
				if !bytes.Equal(got.Event.Data, w.Event.Data) {
					t.Errorf("data = %q, want %q byte for byte", got.Event.Data, w.Event.Data)
				}
			}
		})
		t.Run("ErrConflictUnreplayedTwice", func(t *testing.T) {
			s := open(t).Store
			ev := newEvent(t)
			insertDeadEvent(t, s, newDeadEvent(t, "fanout", ev))
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				return tx.InsertDeadEvent(t.Context(), newDeadEvent(t, "fanout", ev))
			})
			wantCode(t, err, regcase.EConflict)
			// Another handler may give up on the same event too.
			insertDeadEvent(t, s, newDeadEvent(t, "sla", ev))
		})
		t.Run("OKTransactionGoesOnAfterConflict", func(t *testing.T) {
			s := open(t).Store
			ev := newEvent(t)
			insertDeadEvent(t, s, newDeadEvent(t, "fanout", ev))
			other := newDeadEvent(t, "sla", ev)
			mustTx(t, s, func(tx regcase.Tx) error {
				wantCode(t, tx.InsertDeadEvent(t.Context(), newDeadEvent(t, "fanout", ev)), regcase.EConflict)
				return tx.InsertDeadEvent(t.Context(), other)
			})
			if _, err := s.GetDeadEvent(t.Context(), other.ID); err != nil {
				t.Errorf("dead event inserted after a conflict: %v", err)
			}
		})
		t.Run("OKAgainAfterReplay", func(t *testing.T) {
			s := open(t).Store
			ev := newEvent(t)
			d := newDeadEvent(t, "fanout", ev)
			insertDeadEvent(t, s, d)
			if _, err := replayDeadEvent(t, s, d.ID, day(1)); err != nil {
				t.Fatal(err)
			}
			again := newDeadEvent(t, "fanout", ev)
			insertDeadEvent(t, s, again)
			if again.ID == d.ID {
				t.Error("the second dead letter reused the first's ID")
			}
		})
	})
	t.Run("GetDeadEvent", func(t *testing.T) {
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := open(t).Store.GetDeadEvent(t.Context(), 424242)
			wantCode(t, err, regcase.ENotFound)
		})
	})
	t.Run("ReplayDeadEvent", func(t *testing.T) {
		t.Run("OKPublishedEventUnpublishedAgain", func(t *testing.T) {
			s := open(t).Store
			ev := newEvent(t)
			insertEvents(t, s, newEvent(t), ev, newEvent(t))
			before := outboxRow(t, s, ev.ID)
			var seqs []int64
			for _, e := range pendingOutbox(t, s) {
				seqs = append(seqs, e.Seq)
			}
			markPublished(t, s, t0, seqs...)
			d := newDeadEvent(t, "fanout", ev)
			insertDeadEvent(t, s, d)

			at := day(1)
			got, err := replayDeadEvent(t, s, d.ID, at)
			if err != nil {
				t.Fatalf("ReplayDeadEvent: %v", err)
			}
			want := *d
			want.ReplayedAt = &at
			wantNoDiff(t, "replayed dead event", got, &want)
			stored, err := s.GetDeadEvent(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantNoDiff(t, "stored replayed dead event", stored, &want)

			evs := pendingOutbox(t, s)
			if len(evs) != 1 || evs[0].ID != ev.ID {
				t.Fatalf("pending after replay = %v, want only %s", eventIDs(evs), ev.ID)
			}
			if evs[0].Seq != before.Seq {
				t.Errorf("replayed event has seq %d, want its own %d", evs[0].Seq, before.Seq)
			}
			wantNoDiff(t, "replayed event", evs[0].Event, *ev)
			if !evs[0].CreatedAt.After(before.CreatedAt) {
				t.Errorf("created_at of the replayed row = %v, want later than its first %v (the backlog age counts from the replay)",
					evs[0].CreatedAt, before.CreatedAt)
			}
		})
		t.Run("OKPrunedEventInsertedAgain", func(t *testing.T) {
			s := open(t).Store
			ev := newEvent(t)
			ev.Data = json.RawMessage(`{"kept" : "as is",  "n":1.0}`)
			insertEvents(t, s, ev)
			old := pendingOutbox(t, s)[0]
			markPublished(t, s, t0, old.Seq)
			if n := prune(t, s, day(1), 10); n != 1 {
				t.Fatalf("pruned %d, want 1", n)
			}
			d := newDeadEvent(t, "fanout", ev)
			insertDeadEvent(t, s, d)
			if _, err := replayDeadEvent(t, s, d.ID, day(1)); err != nil {
				t.Fatalf("ReplayDeadEvent: %v", err)
			}
			evs := pendingOutbox(t, s)
			if len(evs) != 1 {
				t.Fatalf("pending after replay = %d events, want 1", len(evs))
			}
			wantNoDiff(t, "re-inserted event", evs[0].Event, *ev)
			if !bytes.Equal(evs[0].Data, ev.Data) {
				t.Errorf("data = %q, want %q byte for byte", evs[0].Data, ev.Data)
			}
			if evs[0].Seq <= old.Seq {
				t.Errorf("re-inserted seq %d, want after the pruned %d", evs[0].Seq, old.Seq)
			}
		})
		t.Run("OKUnpublishedEventStaysOnce", func(t *testing.T) {
			s := open(t).Store
			ev := newEvent(t)
			ev.Data = nil
			insertEvents(t, s, ev)
			before := pendingOutbox(t, s)
			d := newDeadEvent(t, "fanout", ev)
			insertDeadEvent(t, s, d)
			if _, err := replayDeadEvent(t, s, d.ID, day(1)); err != nil {
				t.Fatalf("ReplayDeadEvent: %v", err)
			}
			after := pendingOutbox(t, s)
			if len(after) != 1 || after[0].Seq != before[0].Seq || !after[0].CreatedAt.Equal(before[0].CreatedAt) {
				t.Errorf("pending after replaying an unpublished event changed: %d rows", len(after))
			}
			wantNoDiff(t, "event", after[0].Event, *ev)
		})
		t.Run("ErrConflictReplayedTwice", func(t *testing.T) {
			s := open(t).Store
			d := newDeadEvent(t, "fanout", newEvent(t))
			insertDeadEvent(t, s, d)
			if _, err := replayDeadEvent(t, s, d.ID, day(1)); err != nil {
				t.Fatal(err)
			}
			markPublished(t, s, day(1), pendingOutbox(t, s)[0].Seq)
			_, err := replayDeadEvent(t, s, d.ID, day(2))
			wantCode(t, err, regcase.EConflict)
			got, err := s.GetDeadEvent(t.Context(), d.ID)
			if err != nil || got.ReplayedAt == nil || !got.ReplayedAt.Equal(day(1)) {
				t.Errorf("ReplayedAt = %v, %v; want the first replay's %v", got.ReplayedAt, err, day(1))
			}
			if n := len(pendingOutbox(t, s)); n != 0 {
				t.Errorf("a refused replay left %d pending events", n)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := replayDeadEvent(t, open(t).Store, 424242, day(1))
			wantCode(t, err, regcase.ENotFound)
		})
		t.Run("OKRollbackKeepsDeadLetter", func(t *testing.T) {
			s := open(t).Store
			d := newDeadEvent(t, "fanout", newEvent(t))
			insertDeadEvent(t, s, d)
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				if _, err := tx.ReplayDeadEvent(t.Context(), d.ID, day(1)); err != nil {
					return err
				}
				return errBoom // the audit record failed
			})
			if !errors.Is(err, errBoom) {
				t.Fatalf("InTx = %v, want errBoom", err)
			}
			got, err := s.GetDeadEvent(t.Context(), d.ID)
			if err != nil || got.ReplayedAt != nil {
				t.Errorf("ReplayedAt after a rollback = %v, %v; want nil", got.ReplayedAt, err)
			}
			if n := len(pendingOutbox(t, s)); n != 0 {
				t.Errorf("a rolled-back replay left %d pending events", n)
			}
		})
	})
	t.Run("ListDeadEvents", func(t *testing.T) { testListDeadEvents(t, open) })
}

func testListDeadEvents(t *testing.T, open opener) {
	s := open(t).Store
	var all, fanout, replayed, unreplayedFanout []int64
	for i := range 7 {
		handler := "fanout"
		if i%3 == 1 {
			handler = "sla"
		}
		d := newDeadEvent(t, handler, newEvent(t))
		insertDeadEvent(t, s, d)
		all = append(all, d.ID)
		if handler == "fanout" {
			fanout = append(fanout, d.ID)
		}
		if i%2 == 0 {
			if _, err := replayDeadEvent(t, s, d.ID, day(1)); err != nil {
				t.Fatal(err)
			}
			replayed = append(replayed, d.ID)
		} else if handler == "fanout" {
			unreplayedFanout = append(unreplayedFanout, d.ID)
		}
	}
	desc := func(ids []int64) []int64 {
		out := make([]int64, len(ids))
		for i, id := range ids {
			out[len(ids)-1-i] = id
		}
		return out
	}
	list := func(t *testing.T, f regcase.DeadEventFilter) []int64 {
		t.Helper()
		got, err := s.ListDeadEvents(t.Context(), f)
		if err != nil {
			t.Fatalf("ListDeadEvents(%+v): %v", f, err)
		}
		return deadIDs(got)
	}
	wantInts := func(t *testing.T, got, want []int64) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("ids = %v, want %v", got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("ids = %v, want %v", got, want)
				return
			}
		}
	}
	t.Run("OKAll", func(t *testing.T) { wantInts(t, list(t, regcase.DeadEventFilter{}), desc(all)) })
	t.Run("OKHandler", func(t *testing.T) {
		wantInts(t, list(t, regcase.DeadEventFilter{Handler: "fanout"}), desc(fanout))
	})
	t.Run("OKReplayed", func(t *testing.T) {
		wantInts(t, list(t, regcase.DeadEventFilter{Replayed: ptr(true)}), desc(replayed))
	})
	t.Run("OKHandlerNotReplayed", func(t *testing.T) {
		wantInts(t, list(t, regcase.DeadEventFilter{Handler: "fanout", Replayed: ptr(false)}), desc(unreplayedFanout))
	})
	t.Run("OKPages", func(t *testing.T) {
		var got []int64
		f := regcase.DeadEventFilter{Limit: 3}
		for range len(all) {
			page := list(t, f)
			if len(page) > 3 {
				t.Fatalf("page of %d, want at most 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			f.Cursor = page[len(page)-1]
		}
		wantInts(t, got, desc(all))
	})
	t.Run("OKUnknownHandler", func(t *testing.T) {
		if got := list(t, regcase.DeadEventFilter{Handler: "nobody"}); len(got) != 0 {
			t.Errorf("dead events of an unknown handler = %v", got)
		}
	})
}
