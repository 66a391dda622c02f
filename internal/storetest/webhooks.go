package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// newWebhook returns a valid subscription created at t0, changed by mods.
func newWebhook(tb testing.TB, mods ...func(*regcase.Webhook)) *regcase.Webhook {
	tb.Helper()
	w := &regcase.Webhook{
		ID:           newID(),
		URL:          "https://hooks.example.org/regcase?token=abc",
		EventTypes:   []string{"gov.regcase.case.*", "gov.regcase.report.received"},
		Description:  "Case events — ünïcode ✓",
		SecretCipher: []byte{0x00, 0x01, 0xfe, 0xff, 0x7f},
		CreatedAt:    t0,
		CreatedBy:    "admin-1",
	}
	for _, m := range mods {
		m(w)
	}
	return w
}

// newDelivery returns a pending delivery to webhookID due at t0, changed
// by mods.
func newDelivery(tb testing.TB, webhookID string, mods ...func(*regcase.Delivery)) *regcase.Delivery {
	tb.Helper()
	eventID := newID()
	d := &regcase.Delivery{
		ID:            newID(),
		WebhookID:     webhookID,
		EventID:       eventID,
		EventType:     "gov.regcase.case.opened",
		Payload:       json.RawMessage(`{"specversion":"1.0","id":"` + eventID + `",  "data": {"b":1, "a":"ü"}}`),
		Status:        regcase.DeliveryPending,
		NextAttemptAt: t0,
		CreatedAt:     t0,
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

func insertWebhooks(tb testing.TB, s regcase.Store, ws ...*regcase.Webhook) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error {
		for _, w := range ws {
			if err := tx.InsertWebhook(tb.Context(), w); err != nil {
				return fmt.Errorf("insert webhook %s: %w", w.ID, err)
			}
		}
		return nil
	})
}

func insertDeliveries(tb testing.TB, s regcase.Store, ds ...*regcase.Delivery) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error {
		for _, d := range ds {
			if err := tx.InsertDelivery(tb.Context(), d); err != nil {
				return fmt.Errorf("insert delivery %s: %w", d.ID, err)
			}
		}
		return nil
	})
}

func getDelivery(tb testing.TB, s regcase.Store, id string) *regcase.Delivery {
	tb.Helper()
	d, err := s.GetDelivery(tb.Context(), id)
	if err != nil {
		tb.Fatalf("GetDelivery(%s): %v", id, err)
	}
	return d
}

func webhookIDs(ws []*regcase.Webhook) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

func deliveryIDs(ds []*regcase.Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func testWebhooks(t *testing.T, open opener) {
	t.Run("GetWebhook", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := open(t).Store
			want := newWebhook(t)
			insertWebhooks(t, s, want)
			got, err := s.GetWebhook(t.Context(), want.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantNoDiff(t, "webhook", got, want)
		})
		t.Run("OKNoEventTypesIsEmpty", func(t *testing.T) {
			s := open(t).Store
			w := newWebhook(t, func(w *regcase.Webhook) { w.EventTypes = nil })
			insertWebhooks(t, s, w)
			got, err := s.GetWebhook(t.Context(), w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.EventTypes == nil || len(got.EventTypes) != 0 {
				t.Errorf("EventTypes = %#v, want an empty, non-nil list", got.EventTypes)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := open(t).Store.GetWebhook(t.Context(), newID())
			wantCode(t, err, regcase.ENotFound)
		})
	})
	t.Run("InsertWebhook", func(t *testing.T) {
		t.Run("ErrConflictDuplicateID", func(t *testing.T) {
			s := open(t).Store
			w := newWebhook(t)
			insertWebhooks(t, s, w)
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				return tx.InsertWebhook(t.Context(), newWebhook(t, func(d *regcase.Webhook) { d.ID = w.ID }))
			})
			wantCode(t, err, regcase.EConflict)
		})
	})
	t.Run("ListWebhooks", func(t *testing.T) {
		t.Run("OKActiveByCreation", func(t *testing.T) {
			s := open(t).Store
			second := newWebhook(t, func(w *regcase.Webhook) { w.CreatedAt = t0.Add(time.Hour) })
			first := newWebhook(t, func(w *regcase.Webhook) { w.CreatedAt = t0 })
			tieA := newWebhook(t, func(w *regcase.Webhook) { w.CreatedAt = t0.Add(2 * time.Hour) })
			tieB := newWebhook(t, func(w *regcase.Webhook) { w.CreatedAt = t0.Add(2 * time.Hour) })
			gone := newWebhook(t, func(w *regcase.Webhook) { w.CreatedAt = t0.Add(-time.Hour) })
			insertWebhooks(t, s, tieB, second, gone, tieA, first)
			mustTx(t, s, func(tx regcase.Tx) error { return tx.DeleteWebhook(t.Context(), gone.ID, day(1)) })
			want := []string{first.ID, second.ID, min(tieA.ID, tieB.ID), max(tieA.ID, tieB.ID)}

			got, err := s.ListWebhooks(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			wantIDs(t, webhookIDs(got), want)
			wantNoDiff(t, "listed webhook", got[0], first)
			mustTx(t, s, func(tx regcase.Tx) error {
				active, err := tx.ActiveWebhooks(t.Context())
				if err != nil {
					return err
				}
				wantIDs(t, webhookIDs(active), want)
				return nil
			})
		})
		t.Run("OKActiveSeesOwnTransaction", func(t *testing.T) {
			s := open(t).Store
			w := newWebhook(t)
			mustTx(t, s, func(tx regcase.Tx) error {
				if err := tx.InsertWebhook(t.Context(), w); err != nil {
					return err
				}
				active, err := tx.ActiveWebhooks(t.Context())
				if err != nil {
					return err
				}
				wantIDs(t, webhookIDs(active), []string{w.ID})
				return nil
			})
		})
		t.Run("OKEmpty", func(t *testing.T) {
			got, err := open(t).Store.ListWebhooks(t.Context())
			if err != nil || len(got) != 0 {
				t.Errorf("ListWebhooks = %d, %v; want none", len(got), err)
			}
		})
	})
	t.Run("DeleteWebhook", func(t *testing.T) {
		t.Run("OKPendingDeliveriesDie", func(t *testing.T) {
			s := open(t).Store
			w, other := newWebhook(t), newWebhook(t)
			insertWebhooks(t, s, w, other)
			pend := newDelivery(t, w.ID, func(d *regcase.Delivery) { d.Attempts, d.LastStatus, d.LastError = 2, 503, "503 Service Unavailable" })
			done := newDelivery(t, w.ID, func(d *regcase.Delivery) {
				d.Status, d.Attempts, d.DeliveredAt, d.LastAttemptAt, d.LastStatus = regcase.DeliveryDelivered, 1, ptr(t0), ptr(t0), 200
			})
			elsewhere := newDelivery(t, other.ID)
			insertDeliveries(t, s, pend, done, elsewhere)

			at := day(1)
			mustTx(t, s, func(tx regcase.Tx) error { return tx.DeleteWebhook(t.Context(), w.ID, at) })

			got, err := s.GetWebhook(t.Context(), w.ID)
			if err != nil {
				t.Fatalf("GetWebhook of a deleted webhook: %v", err)
			}
			want := *w
			want.DeletedAt = &at
			wantNoDiff(t, "deleted webhook", got, &want)

			wantDead := *pend
			wantDead.Status, wantDead.LastError = regcase.DeliveryDead, "subscription deleted"
			wantNoDiff(t, "pending delivery of the deleted webhook", getDelivery(t, s, pend.ID), &wantDead)
			wantNoDiff(t, "delivered delivery of the deleted webhook", getDelivery(t, s, done.ID), done)
			wantNoDiff(t, "delivery of another webhook", getDelivery(t, s, elsewhere.ID), elsewhere)
			claimed, err := s.ClaimDeliveries(t.Context(), day(2), time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			wantIDs(t, deliveryIDs(claimed), []string{elsewhere.ID})
		})
		t.Run("ErrNotFoundTwice", func(t *testing.T) {
			s := open(t).Store
			w := newWebhook(t)
			insertWebhooks(t, s, w)
			mustTx(t, s, func(tx regcase.Tx) error { return tx.DeleteWebhook(t.Context(), w.ID, day(1)) })
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.DeleteWebhook(t.Context(), w.ID, day(2)) })
			wantCode(t, err, regcase.ENotFound)
			got, err := s.GetWebhook(t.Context(), w.ID)
			if err != nil || got.DeletedAt == nil || !got.DeletedAt.Equal(day(1)) {
				t.Errorf("DeletedAt after a second delete = %v, %v; want the first, %v", got.DeletedAt, err, day(1))
			}
		})
		t.Run("ErrNotFoundMissing", func(t *testing.T) {
			s := open(t).Store
			err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.DeleteWebhook(t.Context(), newID(), day(1)) })
			wantCode(t, err, regcase.ENotFound)
		})
	})
}

func testDeliveries(t *testing.T, open opener) {
	t.Run("InsertDelivery", func(t *testing.T) {
		t.Run("OKRoundTrip", func(t *testing.T) {
			s := open(t).Store
			w := newWebhook(t)
			insertWebhooks(t, s, w)
			want := newDelivery(t, w.ID, func(d *regcase.Delivery) {
				d.Status, d.Attempts, d.NextAttemptAt = regcase.DeliveryDead, 7, day(1)
				d.LastAttemptAt, d.LastStatus, d.LastError = ptr(day(1).Add(-time.Second)), 500, "500 Internal Server Error"
				d.CreatedAt = t0.Add(-time.Hour)
			})
			insertDeliveries(t, s, want)
			got := getDelivery(t, s, want.ID)
			wantNoDiff(t, "delivery", got, want)
			if !bytes.Equal(got.Payload, want.Payload) {
				t.Errorf("payload = %s, want %s byte for byte", got.Payload, want.Payload)
			}
		})
		t.Run("ErrConflictSameEventSameWebhook", func(t *testing.T) {
			s := open(t).Store
			w, other := newWebhook(t), newWebhook(t)
			insertWebhooks(t, s, w, other)
			d := newDelivery(t, w.ID)
			insertDeliveries(t, s, d)
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				return tx.InsertDelivery(t.Context(), newDelivery(t, w.ID, func(x *regcase.Delivery) { x.EventID = d.EventID }))
			})
			wantCode(t, err, regcase.EConflict)
			// The same event to another webhook is another delivery.
			insertDeliveries(t, s, newDelivery(t, other.ID, func(x *regcase.Delivery) { x.EventID = d.EventID }))
		})
		t.Run("OKTransactionGoesOnAfterConflict", func(t *testing.T) {
			// Fan-out skips the subscriptions that already have the event and
			// inserts the others in the same transaction.
			s := open(t).Store
			w, other := newWebhook(t), newWebhook(t)
			insertWebhooks(t, s, w, other)
			d := newDelivery(t, w.ID)
			insertDeliveries(t, s, d)
			next := newDelivery(t, other.ID, func(x *regcase.Delivery) { x.EventID = d.EventID })
			mustTx(t, s, func(tx regcase.Tx) error {
				err := tx.InsertDelivery(t.Context(), newDelivery(t, w.ID, func(x *regcase.Delivery) { x.EventID = d.EventID }))
				wantCode(t, err, regcase.EConflict)
				return tx.InsertDelivery(t.Context(), next)
			})
			wantNoDiff(t, "delivery inserted after a conflict", getDelivery(t, s, next.ID), next)
			wantNoDiff(t, "first delivery", getDelivery(t, s, d.ID), d)
		})
		t.Run("ErrConflictDuplicateID", func(t *testing.T) {
			s := open(t).Store
			w := newWebhook(t)
			insertWebhooks(t, s, w)
			d := newDelivery(t, w.ID)
			insertDeliveries(t, s, d)
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				return tx.InsertDelivery(t.Context(), newDelivery(t, w.ID, func(x *regcase.Delivery) { x.ID = d.ID }))
			})
			wantCode(t, err, regcase.EConflict)
		})
		t.Run("ErrNotFoundWebhook", func(t *testing.T) {
			s := open(t).Store
			err := s.InTx(t.Context(), func(tx regcase.Tx) error {
				return tx.InsertDelivery(t.Context(), newDelivery(t, newID()))
			})
			wantCode(t, err, regcase.ENotFound)
		})
	})
	t.Run("GetDelivery", func(t *testing.T) {
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := open(t).Store.GetDelivery(t.Context(), newID())
			wantCode(t, err, regcase.ENotFound)
		})
	})
	t.Run("Lifecycle", func(t *testing.T) { testDeliveryLifecycle(t, open) })
	t.Run("RecordAttempt", func(t *testing.T) { testRecordAttempt(t, open) })
	t.Run("RecordAttempts", func(t *testing.T) { testRecordAttempts(t, open) })
	t.Run("ReleaseDeliveries", func(t *testing.T) { testReleaseDeliveries(t, open) })
	t.Run("RedeliverDelivery", func(t *testing.T) { testRedeliver(t, open) })
	t.Run("ListDeliveries", func(t *testing.T) { testListDeliveries(t, open) })
	t.Run("ConcurrentClaimsNeverOverlap", func(t *testing.T) { testConcurrentClaims(t, open) })
}

func testListDeliveries(t *testing.T, open opener) {
	s := open(t).Store
	w1, w2 := newWebhook(t), newWebhook(t)
	insertWebhooks(t, s, w1, w2)
	var all, ofW1, deadOfW1, dead []string
	for i := range 7 {
		hook, status := w1.ID, regcase.DeliveryPending
		if i%3 == 2 {
			hook = w2.ID
		}
		if i%2 == 1 {
			status = regcase.DeliveryDead
		}
		d := newDelivery(t, hook, func(d *regcase.Delivery) { d.Status = status })
		insertDeliveries(t, s, d)
		all = append(all, d.ID)
		if hook == w1.ID {
			ofW1 = append(ofW1, d.ID)
		}
		if status == regcase.DeliveryDead {
			dead = append(dead, d.ID)
			if hook == w1.ID {
				deadOfW1 = append(deadOfW1, d.ID)
			}
		}
	}
	list := func(t *testing.T, f regcase.DeliveryFilter) []string {
		t.Helper()
		got, err := s.ListDeliveries(t.Context(), f)
		if err != nil {
			t.Fatalf("ListDeliveries(%+v): %v", f, err)
		}
		return deliveryIDs(got)
	}
	t.Run("OKAll", func(t *testing.T) { wantIDs(t, list(t, regcase.DeliveryFilter{}), idsDesc(all...)) })
	t.Run("OKWebhook", func(t *testing.T) {
		wantIDs(t, list(t, regcase.DeliveryFilter{WebhookID: w1.ID}), idsDesc(ofW1...))
	})
	t.Run("OKStatus", func(t *testing.T) {
		wantIDs(t, list(t, regcase.DeliveryFilter{Status: regcase.DeliveryDead}), idsDesc(dead...))
	})
	t.Run("OKWebhookAndStatus", func(t *testing.T) {
		wantIDs(t, list(t, regcase.DeliveryFilter{WebhookID: w1.ID, Status: regcase.DeliveryDead}), idsDesc(deadOfW1...))
		if got := list(t, regcase.DeliveryFilter{WebhookID: w1.ID, Status: regcase.DeliveryDelivered}); len(got) != 0 {
			t.Errorf("delivered deliveries = %v, want none", got)
		}
	})
	t.Run("OKPages", func(t *testing.T) {
		want := idsDesc(ofW1...)
		var got []string
		f := regcase.DeliveryFilter{WebhookID: w1.ID, Limit: 2}
		for range len(want) {
			page := list(t, f)
			if len(page) > 2 {
				t.Fatalf("page of %d, want at most 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			f.Cursor = page[len(page)-1]
		}
		wantIDs(t, got, want)
	})
	t.Run("OKUnknownWebhook", func(t *testing.T) {
		if got := list(t, regcase.DeliveryFilter{WebhookID: newID()}); len(got) != 0 {
			t.Errorf("deliveries of an unknown webhook = %v", got)
		}
	})
}
