package regcase

import (
	"context"
	"encoding/json"
	"time"
)

// This file is the store contract of the event pipeline: the outbox relay,
// idempotent handlers, webhook subscriptions and deliveries, dead letters,
// leases and the SLA scan. Both engines implement it and pass the same
// suite (internal/storetest).

// OutboxEvent is one outbox row: an Event with its position. Seq orders the
// outbox; for events of one aggregate it is also commit order, because every
// change of an aggregate locks its row before writing its event.
type OutboxEvent struct {
	Seq int64
	Event
	CreatedAt   time.Time
	PublishedAt *time.Time
}

// Webhook is a subscription: deliveries of matching events to URL, signed
// with a secret (Standard Webhooks). The secret is stored sealed with the
// platform key (SecretCipher); it is shown once, at creation.
type Webhook struct {
	ID          string
	URL         string
	EventTypes  []string // exact types or prefixes ending in "*"; empty = every event
	Description string
	// SecretCipher is the AES-GCM sealed secret bytes (see Keyring.SealSecret).
	SecretCipher []byte
	CreatedAt    time.Time
	CreatedBy    string
	DeletedAt    *time.Time // deleted subscriptions get no new deliveries
}

// DeliveryStatus is where one delivery stands.
type DeliveryStatus string

// The delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // waiting for its next attempt
	DeliveryDelivered DeliveryStatus = "delivered" // a 2xx answer was received
	DeliveryDead      DeliveryStatus = "dead"      // attempts exhausted; redeliverable on request
)

// Delivery is one event for one subscription, with its retry state. The
// payload is frozen at fan-out, so a redelivery sends the same bytes with
// the same webhook-id (the event ID).
type Delivery struct {
	ID            string
	WebhookID     string
	EventID       string
	EventType     string
	Payload       json.RawMessage // CloudEvents 1.0 structured JSON
	Status        DeliveryStatus
	Attempts      int // attempts since the last (re)delivery request
	NextAttemptAt time.Time
	LastAttemptAt *time.Time
	LastStatus    int    // HTTP status of the last attempt (0 = no answer)
	LastError     string // why the last attempt failed ("" if it did not)
	DeliveredAt   *time.Time
	CreatedAt     time.Time
}

// DeliveryAttempt is one HTTP attempt of a delivery (the history).
type DeliveryAttempt struct {
	ID         int64 // set by the store
	DeliveryID string
	At         time.Time
	Duration   time.Duration
	StatusCode int    // 0 when no answer came
	Error      string // "" on success
}

// AttemptRecord is one attempt with the delivery state it leads to.
type AttemptRecord struct {
	Delivery *Delivery
	Attempt  *DeliveryAttempt
}

// DeadEvent is an event a handler gave up on after its delivery limit.
type DeadEvent struct {
	ID         int64 // set by the store
	Handler    string
	Event      Event // the whole event (Event.ID identifies it)
	Reason     string
	Deliveries int
	DeadAt     time.Time
	ReplayedAt *time.Time
}

// DeliveryFilter selects deliveries, newest first (ID descending).
type DeliveryFilter struct {
	WebhookID string
	Status    DeliveryStatus // "" = any
	Cursor    string         // deliveries with ID < Cursor
	Limit     int
}

// DeadEventFilter selects dead events, newest first (ID descending).
type DeadEventFilter struct {
	Handler  string
	Replayed *bool // nil = both
	Cursor   int64 // dead events with ID < Cursor (0 = from the newest)
	Limit    int
}

// PipelineStore is the part of Store that the pipeline uses outside of
// domain transactions.
type PipelineStore interface {
	// PendingOutbox returns at most limit unpublished events, Seq ascending.
	PendingOutbox(ctx context.Context, limit int) ([]*OutboxEvent, error)
	// MarkPublished stamps published_at on the given outbox rows (rows
	// already stamped keep their first stamp).
	MarkPublished(ctx context.Context, seqs []int64, at time.Time) error
	// PruneOutbox deletes at most limit rows published before before and
	// returns how many went.
	PruneOutbox(ctx context.Context, before time.Time, limit int) (int64, error)
	// RepublishLost makes unpublished again (at most limit) events published
	// in [after, before) that handler has neither processed nor
	// dead-lettered, and returns how many. The relay calls it with before =
	// the time of the oldest entry still in the stream: such events are no
	// longer in the stream, yet were never handled — the broker lost them
	// (a Redis crash between its last fsync and our mark, a failover, a
	// flush). Handlers dedupe, so a false positive costs a redelivery.
	RepublishLost(ctx context.Context, handler string, after, before time.Time, limit int) (int64, error)
	// OutboxStats returns the number of unpublished events and the creation
	// time of the oldest (nil when none).
	OutboxStats(ctx context.Context) (backlog int64, oldest *time.Time, err error)

	// AcquireLease takes or renews the named lease for holder until now+ttl
	// and reports whether holder has it: true when the lease is free,
	// expired, or already holder's. Leases elect one relay and one SLA
	// scanner among replicas; the clock is the database's.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it (no error otherwise).
	ReleaseLease(ctx context.Context, name, holder string) error

	// ClaimDeliveries picks at most limit pending deliveries whose
	// NextAttemptAt <= now, moves their NextAttemptAt to now+lease (so that
	// no other worker picks them until the lease runs out) and returns them
	// (Payload filled). Concurrent callers never get the same delivery
	// (FOR UPDATE SKIP LOCKED on PostgreSQL).
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Delivery, error)
	// RecordAttempt appends a to the history of d and writes d's Status,
	// Attempts, NextAttemptAt, LastAttemptAt, LastStatus, LastError and
	// DeliveredAt, in one transaction. A delivered delivery is never
	// changed back (the write is skipped, nil returned) — two late workers
	// cannot undo a success.
	RecordAttempt(ctx context.Context, d *Delivery, a *DeliveryAttempt) error
	// RecordAttempts is RecordAttempt for many deliveries at once, in one
	// round trip where the engine allows (one transaction: all or none).
	RecordAttempts(ctx context.Context, recs []AttemptRecord) error
	// ReleaseDeliveries sets NextAttemptAt = now for the given pending
	// deliveries (a worker handing back claims it will not finish).
	ReleaseDeliveries(ctx context.Context, ids []string, now time.Time) error

	// OverdueCases returns the IDs of at most limit cases that are open
	// (ClosedAt nil), not paused, not yet marked breached and due before
	// now, earliest due first.
	OverdueCases(ctx context.Context, now time.Time, limit int) ([]string, error)

	// Webhook reads.
	GetWebhook(ctx context.Context, id string) (*Webhook, error) // deleted ones too
	ListWebhooks(ctx context.Context) ([]*Webhook, error)        // not deleted, CreatedAt ascending
	GetDelivery(ctx context.Context, id string) (*Delivery, error)
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	// ListAttempts returns a delivery's attempts, oldest first.
	ListAttempts(ctx context.Context, deliveryID string) ([]*DeliveryAttempt, error)
	ListDeadEvents(ctx context.Context, f DeadEventFilter) ([]*DeadEvent, error)
	GetDeadEvent(ctx context.Context, id int64) (*DeadEvent, error)
}

// PipelineTx is the part of Tx for pipeline effects that must commit with
// a handler's other writes or with an audit record.
type PipelineTx interface {
	// MarkProcessed records that handler has handled eventID and reports
	// whether this is the first time (false = already handled: do nothing).
	// The handler's effects are written in the same transaction, so an
	// event's effect happens exactly once however often it is delivered.
	MarkProcessed(ctx context.Context, handler, eventID string, at time.Time) (bool, error)
	// ActiveWebhooks returns the subscriptions that are not deleted.
	ActiveWebhooks(ctx context.Context) ([]*Webhook, error)
	// InsertDelivery stores a new delivery; a second delivery of the same
	// event to the same webhook returns EConflict and leaves the
	// transaction usable (ON CONFLICT DO NOTHING, not an aborted
	// transaction on PostgreSQL).
	InsertDelivery(ctx context.Context, d *Delivery) error
	// InsertWebhook stores a subscription.
	InsertWebhook(ctx context.Context, w *Webhook) error
	// DeleteWebhook sets DeletedAt (ENotFound if missing or already
	// deleted); its pending deliveries become dead with LastError
	// "subscription deleted".
	DeleteWebhook(ctx context.Context, id string, at time.Time) error
	// RedeliverDelivery makes a delivery pending again with Attempts 0 and
	// NextAttemptAt at (ENotFound if missing; EConflict if it is pending).
	RedeliverDelivery(ctx context.Context, id string, at time.Time) (*Delivery, error)
	// InsertDeadEvent records a dead letter (sets ID). A second dead letter
	// for the same handler and event while the first is not replayed
	// returns EConflict (the transaction stays usable).
	InsertDeadEvent(ctx context.Context, d *DeadEvent) error
	// ReplayDeadEvent stamps ReplayedAt on the dead letter (ENotFound if
	// missing, EConflict if already replayed) and makes its event
	// unpublished in the outbox again (re-inserting it from d.Event if the
	// row was pruned), so the relay sends it once more;
	// handlers that had handled it skip it by MarkProcessed.
	ReplayDeadEvent(ctx context.Context, id int64, at time.Time) (*DeadEvent, error)
}

// cloudEvent is the CloudEvents 1.0 structured-mode JSON form of an Event.
// requestid and partitionkey are extension attributes (partitionkey is the
// CloudEvents partitioning extension); traceparent and tracestate are the
// Distributed Tracing extension: the trace context of the event's creation.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data,omitempty"`
	RequestID       string          `json:"requestid,omitempty"`
	PartitionKey    string          `json:"partitionkey,omitempty"`
	TraceParent     string          `json:"traceparent,omitempty"`
	TraceState      string          `json:"tracestate,omitempty"`
}

// CloudEvent returns e in CloudEvents 1.0 structured JSON (the body of a
// stream message, a webhook delivery and a dead letter).
func (e *Event) CloudEvent() ([]byte, error) {
	data := e.Data
	if len(data) == 0 || string(data) == "null" {
		data = nil
	}
	return json.Marshal(cloudEvent{SpecVersion: "1.0", ID: e.ID, Source: e.Source, Type: e.Type, Subject: e.Subject,
		Time: e.Time.UTC().Format(time.RFC3339Nano), DataContentType: "application/json", Data: data,
		RequestID: e.RequestID, PartitionKey: e.PartitionKey, TraceParent: e.TraceParent, TraceState: e.TraceState})
}

// ParseCloudEvent is the inverse of CloudEvent (EInvalid when b is not one).
func ParseCloudEvent(b []byte) (*Event, error) {
	var ce cloudEvent
	if err := json.Unmarshal(b, &ce); err != nil {
		return nil, Errorf(EInvalid, "not a CloudEvent: %v", err)
	}
	if ce.SpecVersion != "1.0" || ce.ID == "" || ce.Type == "" || ce.Source == "" {
		return nil, Errorf(EInvalid, "not a CloudEvents 1.0 event (specversion, id, type and source are required)")
	}
	t, err := time.Parse(time.RFC3339Nano, ce.Time)
	if err != nil {
		return nil, Errorf(EInvalid, "CloudEvent time %q: %v", ce.Time, err)
	}
	return &Event{ID: ce.ID, Type: ce.Type, Source: ce.Source, Subject: ce.Subject, Time: t, Data: ce.Data,
		RequestID: ce.RequestID, PartitionKey: ce.PartitionKey, TraceParent: ce.TraceParent, TraceState: ce.TraceState}, nil
}
