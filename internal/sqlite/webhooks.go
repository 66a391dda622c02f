package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

const webhookColumns = `id, url, event_types, description, secret_cipher, created_at, created_by, deleted_at`

func scanWebhook(s scanner) (*regcase.Webhook, error) {
	var (
		w       regcase.Webhook
		types   string
		created string
		deleted sql.NullString
		d       decoder
	)
	if err := s.Scan(&w.ID, &w.URL, &types, &w.Description, &w.SecretCipher, &created, &w.CreatedBy, &deleted); err != nil {
		return nil, err
	}
	w.CreatedAt = d.time(created)
	w.DeletedAt = d.timePtr(deleted)
	if d.err != nil {
		return nil, d.err
	}
	if err := json.Unmarshal([]byte(types), &w.EventTypes); err != nil {
		return nil, fmt.Errorf("decode event types of webhook %s: %w", w.ID, err)
	}
	if w.EventTypes == nil {
		w.EventTypes = []string{}
	}
	return &w, nil
}

// activeWebhooks lists the subscriptions that are not deleted, oldest
// first (ID breaks ties).
func activeWebhooks(ctx context.Context, q querier, op string) ([]*regcase.Webhook, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE deleted_at IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err, op, "webhook")
	}
	list, err := collect(rows, scanWebhook)
	if err != nil {
		return nil, translate(err, op, "webhook")
	}
	return list, nil
}

// GetWebhook returns a subscription, deleted or not (ENotFound if none).
func (db *DB) GetWebhook(ctx context.Context, id string) (*regcase.Webhook, error) {
	w, err := scanWebhook(db.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "webhook %s not found", id)
	}
	if err != nil {
		return nil, translate(err, "get webhook", "webhook")
	}
	return w, nil
}

// ListWebhooks returns the subscriptions that are not deleted, CreatedAt
// ascending.
func (db *DB) ListWebhooks(ctx context.Context) ([]*regcase.Webhook, error) {
	return activeWebhooks(ctx, db.r, "list webhooks")
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
	enc, err := jsonArray(types)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.URL, enc, w.Description, w.SecretCipher, fmtTime(w.CreatedAt), w.CreatedBy, fmtTimePtr(w.DeletedAt))
	return translate(err, "insert webhook", "webhook")
}

// DeleteWebhook sets DeletedAt and turns the subscription's pending
// deliveries dead ("subscription deleted"). ENotFound if there is no such
// subscription or it is already deleted.
func (t *tx) DeleteWebhook(ctx context.Context, id string, at time.Time) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, fmtTime(at), id)
	if err := checkUpdated("delete webhook", res, err, regcase.Errorf(regcase.ENotFound, "webhook %s not found", id)); err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'dead', last_error = 'subscription deleted'
		WHERE webhook_id = ? AND status = 'pending'`, id)
	return translate(err, "delete webhook", "webhook")
}

const deliveryColumns = `id, webhook_id, event_id, event_type, payload, status, attempts,
	next_attempt_at, last_attempt_at, last_status, last_error, delivered_at, created_at`

func scanDelivery(s scanner) (*regcase.Delivery, error) {
	var (
		del                      regcase.Delivery
		payload, next, created   string
		lastAttempt, deliveredAt sql.NullString
		d                        decoder
	)
	err := s.Scan(&del.ID, &del.WebhookID, &del.EventID, &del.EventType, &payload, &del.Status, &del.Attempts,
		&next, &lastAttempt, &del.LastStatus, &del.LastError, &deliveredAt, &created)
	if err != nil {
		return nil, err
	}
	del.Payload = json.RawMessage(payload)
	del.NextAttemptAt = d.time(next)
	del.LastAttemptAt = d.timePtr(lastAttempt)
	del.DeliveredAt = d.timePtr(deliveredAt)
	del.CreatedAt = d.time(created)
	return &del, d.err
}

// GetDelivery returns a delivery (ENotFound if none).
func (db *DB) GetDelivery(ctx context.Context, id string) (*regcase.Delivery, error) {
	d, err := scanDelivery(db.r.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "delivery %s not found", id)
	}
	if err != nil {
		return nil, translate(err, "get delivery", "delivery")
	}
	return d, nil
}

// ListDeliveries returns at most f.Limit (bounded by regcase.MaxLimit)
// deliveries matching f, ID descending, with ID < f.Cursor when set.
func (db *DB) ListDeliveries(ctx context.Context, f regcase.DeliveryFilter) ([]*regcase.Delivery, error) {
	w := newWhere()
	w.Eq("webhook_id", f.WebhookID)
	w.Eq("status", string(f.Status))
	if f.Cursor != "" {
		w.Add("id < " + w.Arg(f.Cursor))
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries`+w.SQL()+
		` ORDER BY id DESC LIMIT `+w.Arg(regcase.PageLimit(f.Limit)), w.Args...)
	if err != nil {
		return nil, translate(err, "list deliveries", "delivery")
	}
	list, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, translate(err, "list deliveries", "delivery")
	}
	return list, nil
}

// InsertDelivery stores a new delivery. A second delivery of the same event
// to the same subscription (or a duplicate ID) is EConflict; an unknown
// subscription ENotFound.
func (t *tx) InsertDelivery(ctx context.Context, d *regcase.Delivery) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (`+deliveryColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.WebhookID, d.EventID, d.EventType, string(d.Payload), string(d.Status), d.Attempts,
		fmtTime(d.NextAttemptAt), fmtTimePtr(d.LastAttemptAt), d.LastStatus, d.LastError,
		fmtTimePtr(d.DeliveredAt), fmtTime(d.CreatedAt))
	return translate(err, "insert delivery", "delivery")
}

// ClaimDeliveries picks at most limit pending deliveries due at now, moves
// their NextAttemptAt to now+lease and returns them, ID ascending, in one
// statement on the one write connection: claims never overlap.
func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*regcase.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.w.QueryContext(ctx, `
		UPDATE webhook_deliveries SET next_attempt_at = ?
		WHERE id IN (
			SELECT id FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= ?
			ORDER BY next_attempt_at LIMIT ?)
		RETURNING `+deliveryColumns, fmtTime(now.Add(lease)), fmtTime(now), limit)
	if err != nil {
		return nil, translate(err, "claim deliveries", "delivery")
	}
	list, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, translate(err, "claim deliveries", "delivery")
	}
	slices.SortFunc(list, func(a, b *regcase.Delivery) int { return strings.Compare(a.ID, b.ID) })
	return list, nil
}

// RecordAttempts records each attempt in turn (SQLite has one writer; the
// batching that saves round trips on PostgreSQL buys nothing here).
func (db *DB) RecordAttempts(ctx context.Context, recs []regcase.AttemptRecord) error {
	for _, r := range recs {
		if err := db.RecordAttempt(ctx, r.Delivery, r.Attempt); err != nil {
			return err
		}
	}
	return nil
}

// RecordAttempt appends a (setting a.ID) and writes d's retry state in one
// transaction; the write of d is skipped when the stored delivery is
// already delivered (a late failure never undoes a success). ENotFound if
// there is no such delivery; EInvalid if a belongs to another delivery.
func (db *DB) RecordAttempt(ctx context.Context, d *regcase.Delivery, a *regcase.DeliveryAttempt) error {
	if a.DeliveryID == "" {
		a.DeliveryID = d.ID
	}
	if a.DeliveryID != d.ID {
		return regcase.Errorf(regcase.EInvalid, "attempt of delivery %s recorded on delivery %s", a.DeliveryID, d.ID)
	}
	return db.writeTx(ctx, func(t *tx) error {
		err := t.tx.QueryRowContext(ctx, `
			INSERT INTO webhook_attempts (delivery_id, at, duration_us, status_code, error)
			VALUES (?, ?, ?, ?, ?) RETURNING id`,
			d.ID, fmtTime(a.At), a.Duration.Microseconds(), a.StatusCode, a.Error).Scan(&a.ID)
		if err != nil {
			return translate(err, "record attempt", "delivery attempt")
		}
		_, err = t.tx.ExecContext(ctx, `
			UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
				last_attempt_at = ?, last_status = ?, last_error = ?, delivered_at = ?
			WHERE id = ? AND status <> 'delivered'`,
			string(d.Status), d.Attempts, fmtTime(d.NextAttemptAt), fmtTimePtr(d.LastAttemptAt),
			d.LastStatus, d.LastError, fmtTimePtr(d.DeliveredAt), d.ID)
		return translate(err, "record attempt", "delivery attempt")
	})
}

// ReleaseDeliveries sets NextAttemptAt = now on the given deliveries that
// are still pending.
func (db *DB) ReleaseDeliveries(ctx context.Context, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := jsonArray(ids)
	if err != nil {
		return err
	}
	_, err = db.w.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = ?
		WHERE status = 'pending' AND id IN (SELECT value FROM json_each(?))`, fmtTime(now), keys)
	return translate(err, "release deliveries", "delivery")
}

// RedeliverDelivery makes a delivered or dead delivery pending again with
// Attempts 0, NextAttemptAt at and no DeliveredAt (LastAttemptAt,
// LastStatus and LastError still describe the last attempt), and returns
// it. ENotFound if missing, EConflict if it is pending.
func (t *tx) RedeliverDelivery(ctx context.Context, id string, at time.Time) (*regcase.Delivery, error) {
	d, err := scanDelivery(t.tx.QueryRowContext(ctx, `
		UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, delivered_at = NULL
		WHERE id = ? AND status <> 'pending'
		RETURNING `+deliveryColumns, fmtTime(at), id))
	if errors.Is(err, sql.ErrNoRows) {
		var exists bool
		if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?)`, id).Scan(&exists); err != nil {
			return nil, translate(err, "redeliver", "delivery")
		}
		if !exists {
			return nil, regcase.Errorf(regcase.ENotFound, "delivery %s not found", id)
		}
		return nil, regcase.Errorf(regcase.EConflict, "delivery %s is already pending", id)
	}
	if err != nil {
		return nil, translate(err, "redeliver", "delivery")
	}
	return d, nil
}

// ListAttempts returns a delivery's attempts, oldest first (none for an
// unknown delivery).
func (db *DB) ListAttempts(ctx context.Context, deliveryID string) ([]*regcase.DeliveryAttempt, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, delivery_id, at, duration_us, status_code, error
		FROM webhook_attempts WHERE delivery_id = ? ORDER BY id`, deliveryID)
	if err != nil {
		return nil, translate(err, "list attempts", "delivery attempt")
	}
	list, err := collect(rows, func(s scanner) (*regcase.DeliveryAttempt, error) {
		var (
			a  regcase.DeliveryAttempt
			at string
			us int64
			d  decoder
		)
		if err := s.Scan(&a.ID, &a.DeliveryID, &at, &us, &a.StatusCode, &a.Error); err != nil {
			return nil, err
		}
		a.At = d.time(at)
		a.Duration = time.Duration(us) * time.Microsecond
		return &a, d.err
	})
	if err != nil {
		return nil, translate(err, "list attempts", "delivery attempt")
	}
	return list, nil
}
