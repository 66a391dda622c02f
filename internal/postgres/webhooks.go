package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

const webhookColumns = `id, url, event_types, description, secret_cipher, created_at, created_by, deleted_at`

func scanWebhook(row pgx.Row) (*regcase.Webhook, error) {
	var w regcase.Webhook
	err := row.Scan(&w.ID, &w.URL, &w.EventTypes, &w.Description, &w.SecretCipher, &w.CreatedAt, &w.CreatedBy, &w.DeletedAt)
	if err != nil {
		return nil, err
	}
	if w.EventTypes == nil {
		w.EventTypes = []string{}
	}
	w.CreatedAt = utc(w.CreatedAt)
	w.DeletedAt = utcPtr(w.DeletedAt)
	return &w, nil
}

// activeWebhooks lists the subscriptions that are not deleted, oldest
// first (ID breaks ties).
func activeWebhooks(ctx context.Context, q querier, op string) ([]*regcase.Webhook, error) {
	rows, err := q.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE deleted_at IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err, op, "webhook")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Webhook, error) { return scanWebhook(row) })
	if err != nil {
		return nil, translate(err, op, "webhook")
	}
	return list, nil
}

// GetWebhook returns a subscription, deleted or not (ENotFound).
func (db *DB) GetWebhook(ctx context.Context, id string) (*regcase.Webhook, error) {
	w, err := scanWebhook(db.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
	if err != nil {
		return nil, translate(err, "get webhook", "webhook")
	}
	return w, nil
}

// ListWebhooks returns the subscriptions that are not deleted, CreatedAt
// ascending.
func (db *DB) ListWebhooks(ctx context.Context) ([]*regcase.Webhook, error) {
	return activeWebhooks(ctx, db.pool, "list webhooks")
}

// ActiveWebhooks returns the subscriptions that are not deleted, as the
// transaction sees them, CreatedAt ascending.
func (t *tx) ActiveWebhooks(ctx context.Context) ([]*regcase.Webhook, error) {
	return activeWebhooks(ctx, t.tx, "active webhooks")
}

// InsertWebhook stores a subscription (EConflict on a duplicate ID). Nil
// EventTypes are stored as the empty list.
func (t *tx) InsertWebhook(ctx context.Context, w *regcase.Webhook) error {
	types := w.EventTypes
	if types == nil {
		types = []string{}
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		w.ID, w.URL, types, w.Description, w.SecretCipher, w.CreatedAt, w.CreatedBy, w.DeletedAt)
	return translate(err, "insert webhook", "webhook")
}

// DeleteWebhook sets DeletedAt and turns the subscription's pending
// deliveries dead ("subscription deleted"), in one statement. ENotFound if
// there is no such subscription or it is already deleted.
func (t *tx) DeleteWebhook(ctx context.Context, id string, at time.Time) error {
	var deleted bool
	err := t.tx.QueryRow(ctx, `
		WITH w AS (
			UPDATE webhooks SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING id
		), d AS (
			UPDATE webhook_deliveries SET status = 'dead', last_error = 'subscription deleted'
			WHERE webhook_id IN (SELECT id FROM w) AND status = 'pending'
		)
		SELECT EXISTS (SELECT 1 FROM w)`, id, at).Scan(&deleted)
	if err != nil {
		return translate(err, "delete webhook", "webhook")
	}
	if !deleted {
		return regcase.Errorf(regcase.ENotFound, "webhook not found")
	}
	return nil
}

// deliveryColumns is the select list scanDelivery reads (from
// webhook_deliveries aliased d).
const deliveryColumns = `d.id, d.webhook_id, d.event_id, d.event_type, d.payload, d.status,
	d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error,
	d.delivered_at, d.created_at`

func scanDelivery(row pgx.Row) (*regcase.Delivery, error) {
	var d regcase.Delivery
	var payload []byte
	err := row.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &payload, &d.Status,
		&d.Attempts, &d.NextAttemptAt, &d.LastAttemptAt, &d.LastStatus, &d.LastError,
		&d.DeliveredAt, &d.CreatedAt)
	if err != nil {
		return nil, err
	}
	d.Payload = payload
	d.NextAttemptAt = utc(d.NextAttemptAt)
	d.LastAttemptAt = utcPtr(d.LastAttemptAt)
	d.DeliveredAt = utcPtr(d.DeliveredAt)
	d.CreatedAt = utc(d.CreatedAt)
	return &d, nil
}

func collectDeliveries(rows pgx.Rows, op string) ([]*regcase.Delivery, error) {
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Delivery, error) { return scanDelivery(row) })
	if err != nil {
		return nil, translate(err, op, "delivery")
	}
	return list, nil
}

// GetDelivery returns a delivery (ENotFound).
func (db *DB) GetDelivery(ctx context.Context, id string) (*regcase.Delivery, error) {
	d, err := scanDelivery(db.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d WHERE d.id = $1`, id))
	if err != nil {
		return nil, translate(err, "get delivery", "delivery")
	}
	return d, nil
}

// ListDeliveries returns at most f.Limit deliveries (DefaultLimit when
// unset, MaxLimit at most), ID descending, with ID < f.Cursor when set.
func (db *DB) ListDeliveries(ctx context.Context, f regcase.DeliveryFilter) ([]*regcase.Delivery, error) {
	w := newWhere()
	w.Eq("d.webhook_id", f.WebhookID)
	w.Eq("d.status", string(f.Status))
	if f.Cursor != "" {
		w.Add("d.id < " + w.Arg(f.Cursor))
	}
	rows, err := db.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d`+w.SQL()+
		` ORDER BY d.id DESC LIMIT `+w.Arg(regcase.PageLimit(f.Limit)), w.Args...)
	if err != nil {
		return nil, translate(err, "list deliveries", "delivery")
	}
	return collectDeliveries(rows, "list deliveries")
}

// InsertDelivery stores a new delivery. A second delivery of the same event
// to the same subscription is EConflict and, because it is detected with
// ON CONFLICT DO NOTHING rather than a raised violation, leaves the
// transaction usable: fan-out skips it and goes on. A duplicate ID is
// EConflict too (and aborts the transaction); an unknown subscription
// ENotFound; a payload that is not JSON EInvalid.
func (t *tx) InsertDelivery(ctx context.Context, d *regcase.Delivery) error {
	tag, err := t.tx.Exec(ctx, `
		INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, status,
			attempts, next_attempt_at, last_attempt_at, last_status, last_error, delivered_at, created_at)
		VALUES ($1, $2, $3, $4, $5::json, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (webhook_id, event_id) DO NOTHING`,
		d.ID, d.WebhookID, d.EventID, d.EventType, string(d.Payload), string(d.Status),
		d.Attempts, d.NextAttemptAt, d.LastAttemptAt, d.LastStatus, d.LastError, d.DeliveredAt, d.CreatedAt)
	if err != nil {
		return translate(err, "insert delivery", "delivery")
	}
	if tag.RowsAffected() == 0 {
		return regcase.Errorf(regcase.EConflict, "the event already has a delivery to this webhook")
	}
	return nil
}

// ClaimDeliveries picks at most limit pending deliveries due at now, moves
// their NextAttemptAt to now+lease and returns them, ID ascending, in one
// statement. FOR UPDATE SKIP LOCKED makes concurrent claimers pass over
// each other's rows, and a row another claimer has just moved fails the
// recheck of next_attempt_at, so no delivery is handed out twice.
func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*regcase.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `
		UPDATE webhook_deliveries d SET next_attempt_at = $2
		FROM (
			SELECT id FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at LIMIT $3
			FOR UPDATE SKIP LOCKED
		) c
		WHERE d.id = c.id
		RETURNING `+deliveryColumns, now, now.Add(lease), limit)
	if err != nil {
		return nil, translate(err, "claim deliveries", "delivery")
	}
	list, err := collectDeliveries(rows, "claim deliveries")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b *regcase.Delivery) int { return strings.Compare(a.ID, b.ID) })
	return list, nil
}

// RecordAttempt appends a (setting a.ID) and writes d's retry state in one
// statement, hence one transaction; the write of d is skipped when the
// stored delivery is already delivered (a late failure never undoes a
// success). ENotFound if there is no such delivery; EInvalid if a belongs
// to another delivery.
func (db *DB) RecordAttempt(ctx context.Context, d *regcase.Delivery, a *regcase.DeliveryAttempt) error {
	if a.DeliveryID == "" {
		a.DeliveryID = d.ID
	}
	if a.DeliveryID != d.ID {
		return regcase.Errorf(regcase.EInvalid, "attempt of delivery %s recorded on delivery %s", a.DeliveryID, d.ID)
	}
	err := db.pool.QueryRow(ctx, recordAttemptSQL, recordAttemptArgs(d, a)...).Scan(&a.ID)
	return translate(err, "record attempt", "delivery")
}

// RecordAttempts sends every attempt's statement in one pgx batch: one
// round trip, one implicit transaction.
func (db *DB) RecordAttempts(ctx context.Context, recs []regcase.AttemptRecord) error {
	if len(recs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range recs {
		if r.Attempt.DeliveryID == "" {
			r.Attempt.DeliveryID = r.Delivery.ID
		}
		if r.Attempt.DeliveryID != r.Delivery.ID {
			return regcase.Errorf(regcase.EInvalid, "attempt of delivery %s recorded on delivery %s", r.Attempt.DeliveryID, r.Delivery.ID)
		}
		b.Queue(recordAttemptSQL, recordAttemptArgs(r.Delivery, r.Attempt)...)
	}
	br := db.pool.SendBatch(ctx, b)
	for _, r := range recs {
		if err := br.QueryRow().Scan(&r.Attempt.ID); err != nil {
			_ = br.Close()
			return translate(err, "record attempts", "delivery")
		}
	}
	return translate(br.Close(), "record attempts", "delivery")
}

const recordAttemptSQL = `
		WITH a AS (
			INSERT INTO webhook_attempts (delivery_id, at, duration, status_code, error)
			VALUES ($1, $2, $3, $4, $5) RETURNING id
		), u AS (
			UPDATE webhook_deliveries SET status = $6, attempts = $7, next_attempt_at = $8,
				last_attempt_at = $9, last_status = $10, last_error = $11, delivered_at = $12
			WHERE id = $1 AND status <> 'delivered'
		)
		SELECT id FROM a`

func recordAttemptArgs(d *regcase.Delivery, a *regcase.DeliveryAttempt) []any {
	return []any{d.ID, a.At, a.Duration.Microseconds(), a.StatusCode, a.Error,
		string(d.Status), d.Attempts, d.NextAttemptAt, d.LastAttemptAt, d.LastStatus, d.LastError, d.DeliveredAt}
}

// ReleaseDeliveries sets NextAttemptAt = now on the given deliveries that
// are still pending, in one statement.
func (db *DB) ReleaseDeliveries(ctx context.Context, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.pool.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $2
		WHERE id = ANY($1) AND status = 'pending'`, ids, now)
	return translate(err, "release deliveries", "delivery")
}

// RedeliverDelivery makes a delivered or dead delivery pending again with
// Attempts 0, NextAttemptAt at and no DeliveredAt (LastAttemptAt,
// LastStatus and LastError still describe the last attempt), and returns
// it. ENotFound if missing, EConflict if it is pending.
func (t *tx) RedeliverDelivery(ctx context.Context, id string, at time.Time) (*regcase.Delivery, error) {
	d, err := scanDelivery(t.tx.QueryRow(ctx, `
		UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = $2, delivered_at = NULL
		WHERE d.id = $1 AND d.status <> 'pending'
		RETURNING `+deliveryColumns, id, at))
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)`, id).Scan(&exists); err != nil {
			return nil, translate(err, "redeliver", "delivery")
		}
		if !exists {
			return nil, regcase.Errorf(regcase.ENotFound, "delivery not found")
		}
		return nil, regcase.Errorf(regcase.EConflict, "delivery is already pending")
	}
	if err != nil {
		return nil, translate(err, "redeliver", "delivery")
	}
	return d, nil
}

// ListAttempts returns a delivery's attempts, oldest first (none for an
// unknown delivery).
func (db *DB) ListAttempts(ctx context.Context, deliveryID string) ([]*regcase.DeliveryAttempt, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, delivery_id, at, duration, status_code, error
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, translate(err, "list attempts", "attempt")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.DeliveryAttempt, error) {
		var a regcase.DeliveryAttempt
		var us int64
		if err := row.Scan(&a.ID, &a.DeliveryID, &a.At, &us, &a.StatusCode, &a.Error); err != nil {
			return nil, err
		}
		a.At = utc(a.At)
		a.Duration = time.Duration(us) * time.Microsecond
		return &a, nil
	})
	if err != nil {
		return nil, translate(err, "list attempts", "attempt")
	}
	return list, nil
}
