package pipeline

import (
	"context"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// Handler applies one event's effect. Handle must be idempotent by event ID:
// write the effect in the transaction that calls Tx.MarkProcessed, and do
// nothing when that says the event was handled already.
type Handler interface {
	Name() string
	Handle(ctx context.Context, ev *regcase.Event) error
}

// BatchHandler is a Handler that can apply many events in one transaction
// (all or none); consumers use it for first deliveries and fall back to
// Handle per event when a batch fails.
type BatchHandler interface {
	Handler
	HandleBatch(ctx context.Context, evs []*regcase.Event) error
}

// WebhooksGroup is the handler (and consumer group) that fans events out to
// webhook subscriptions.
const WebhooksGroup = "webhooks"

// Fanout turns an event into one delivery per matching subscription, in one
// transaction with MarkProcessed. The deliveries it creates are claimed by
// this process (NextAttemptAt = now + lease) and handed to the Deliverer
// right away, so the usual path costs no polling delay; if this process
// dies, the lease runs out and any worker's poll picks them up.
type Fanout struct {
	Store     regcase.Store
	Deliverer *Deliverer
	NewID     func() string
	Now       func() time.Time
	Gate      Gate // bounds database use (nil: no bound)
}

// Name implements Handler.
func (f *Fanout) Name() string { return WebhooksGroup }

// Handle implements Handler.
func (f *Fanout) Handle(ctx context.Context, ev *regcase.Event) error {
	return f.HandleBatch(ctx, []*regcase.Event{ev})
}

// HandleBatch implements BatchHandler: every event of evs in one
// transaction (one commit instead of one per event).
func (f *Fanout) HandleBatch(ctx context.Context, evs []*regcase.Event) error {
	var created []*regcase.Delivery
	err := f.Gate.Do(ctx, func() error {
		return f.Store.InTx(ctx, func(tx regcase.Tx) error {
			created = created[:0]
			now := f.Now()
			var hooks []*regcase.Webhook
			loaded := false
			for _, ev := range evs {
				first, err := tx.MarkProcessed(ctx, WebhooksGroup, ev.ID, now)
				if err != nil {
					return err
				}
				if !first {
					continue
				}
				if !loaded {
					if hooks, err = tx.ActiveWebhooks(ctx); err != nil {
						return err
					}
					loaded = true
				}
				var body []byte // encoded once, and only for an event someone subscribed to
				for _, w := range hooks {
					if !w.Matches(ev.Type) {
						continue
					}
					if body == nil {
						if body, err = ev.CloudEvent(); err != nil {
							return err
						}
					}
					d := &regcase.Delivery{ID: f.NewID(), WebhookID: w.ID, EventID: ev.ID, EventType: ev.Type, Payload: body,
						Status: regcase.DeliveryPending, NextAttemptAt: now.Add(f.Deliverer.Lease), CreatedAt: now}
					if err := tx.InsertDelivery(ctx, d); err != nil {
						if regcase.ErrorCodeOf(err) == regcase.EConflict {
							continue
						}
						return err
					}
					created = append(created, d)
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	f.Deliverer.Offer(ctx, created)
	return nil
}
