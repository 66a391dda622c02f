package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/dbutil"
	"github.com/regcase/regcase/internal/regcase"
)

// Contacts, notifications, the statutory-deadline scan and the dashboard
// aggregates (see regcase.PeopleStore).

const contactColumns = `c.actor_id, c.role, c.email, c.notify, c.updated_at`

func scanContact(row pgx.Row) (*regcase.OfficerContact, error) {
	var c regcase.OfficerContact
	if err := row.Scan(&c.ActorID, &c.Role, &c.Email, &c.Notify, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.UpdatedAt = utc(c.UpdatedAt)
	return &c, nil
}

// GetContact returns an officer's contact (ENotFound if none).
func (db *DB) GetContact(ctx context.Context, actorID string) (*regcase.OfficerContact, error) {
	c, err := scanContact(db.pool.QueryRow(ctx, `SELECT `+contactColumns+` FROM officer_contacts c WHERE c.actor_id = $1`, actorID))
	if err != nil {
		return nil, translate(err, "get contact", "contact")
	}
	return c, nil
}

// NotifiableContacts returns the contacts of role that want notifications
// and whose token is not revoked, actor id ascending.
func (db *DB) NotifiableContacts(ctx context.Context, role regcase.Role) ([]*regcase.OfficerContact, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+contactColumns+` FROM officer_contacts c
		WHERE c.role = $1 AND c.notify
		  AND NOT EXISTS (SELECT 1 FROM api_tokens t
		                  WHERE c.actor_id = 'token:' || t.id AND t.revoked_at IS NOT NULL)
		ORDER BY c.actor_id`, string(role))
	if err != nil {
		return nil, translate(err, "notifiable contacts", "contact")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.OfficerContact, error) { return scanContact(row) })
	if err != nil {
		return nil, translate(err, "notifiable contacts", "contact")
	}
	return list, nil
}

// PutContact creates or replaces a contact.
func (t *tx) PutContact(ctx context.Context, c *regcase.OfficerContact) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO officer_contacts (actor_id, role, email, notify, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (actor_id) DO UPDATE SET role = excluded.role, email = excluded.email,
			notify = excluded.notify, updated_at = excluded.updated_at`,
		c.ActorID, string(c.Role), c.Email, c.Notify, c.UpdatedAt)
	return translate(err, "put contact", "contact")
}

const notificationColumns = `id, event_id, recipient, kind, data, status, attempts, next_attempt_at,
	last_error, sent_at, created_at`

func scanNotification(row pgx.Row) (*regcase.Notification, error) {
	var n regcase.Notification
	var data []byte
	if err := row.Scan(&n.ID, &n.EventID, &n.Recipient, &n.Kind, &data, &n.Status, &n.Attempts, &n.NextAttemptAt,
		&n.LastError, &n.SentAt, &n.CreatedAt); err != nil {
		return nil, err
	}
	n.Data = data
	n.NextAttemptAt, n.SentAt, n.CreatedAt = utc(n.NextAttemptAt), utcPtr(n.SentAt), utc(n.CreatedAt)
	return &n, nil
}

func collectNotifications(rows pgx.Rows, op string) ([]*regcase.Notification, error) {
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Notification, error) { return scanNotification(row) })
	if err != nil {
		return nil, translate(err, op, "notification")
	}
	return list, nil
}

// InsertNotification stores a notification; a duplicate (event, recipient)
// is EConflict and leaves the transaction usable (ON CONFLICT DO NOTHING).
func (t *tx) InsertNotification(ctx context.Context, n *regcase.Notification) error {
	data := string(n.Data)
	if data == "" {
		data = "{}"
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO notifications (`+notificationColumns+`)
		VALUES ($1, $2, $3, $4, $5::json, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (event_id, recipient) DO NOTHING`,
		n.ID, n.EventID, n.Recipient, n.Kind, data, string(n.Status), n.Attempts, n.NextAttemptAt,
		n.LastError, n.SentAt, n.CreatedAt)
	if err != nil {
		return translate(err, "insert notification", "notification")
	}
	if tag.RowsAffected() == 0 {
		return regcase.Errorf(regcase.EConflict, "the event already has a notification to %s", n.Recipient)
	}
	return nil
}

// ClaimNotifications claims due pending notifications (FOR UPDATE SKIP
// LOCKED: concurrent workers never get the same one).
func (db *DB) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*regcase.Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `
		UPDATE notifications n SET next_attempt_at = $2
		FROM (
			SELECT id FROM notifications
			WHERE status = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at LIMIT $3
			FOR UPDATE SKIP LOCKED
		) c
		WHERE n.id = c.id
		RETURNING n.id, n.event_id, n.recipient, n.kind, n.data, n.status, n.attempts, n.next_attempt_at,
			n.last_error, n.sent_at, n.created_at`, now, now.Add(lease), limit)
	if err != nil {
		return nil, translate(err, "claim notifications", "notification")
	}
	return collectNotifications(rows, "claim notifications")
}

// UpdateNotification writes the retry state of n (skipped once sent).
func (db *DB) UpdateNotification(ctx context.Context, n *regcase.Notification) error {
	var exists bool
	err := db.pool.QueryRow(ctx, `
		WITH u AS (
			UPDATE notifications SET status = $2, attempts = $3, next_attempt_at = $4, last_error = $5, sent_at = $6
			WHERE id = $1 AND status <> 'sent'
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM notifications WHERE id = $1)`,
		n.ID, string(n.Status), n.Attempts, n.NextAttemptAt, n.LastError, n.SentAt).Scan(&exists)
	if err != nil {
		return translate(err, "update notification", "notification")
	}
	if !exists {
		return regcase.Errorf(regcase.ENotFound, "notification %s not found", n.ID)
	}
	return nil
}

// ListNotifications returns an event's notifications (every one when
// eventID is ""), recipient ascending, at most limit.
func (db *DB) ListNotifications(ctx context.Context, eventID string, limit int) ([]*regcase.Notification, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE $1 = '' OR event_id = $1 ORDER BY recipient, id LIMIT $2`, eventID, regcase.PageLimit(limit))
	if err != nil {
		return nil, translate(err, "list notifications", "notification")
	}
	return collectNotifications(rows, "list notifications")
}

// DueDeadlines returns open cases with a statutory deadline to warn about
// or to mark breached, ID ascending.
func (db *DB) DueDeadlines(ctx context.Context, now time.Time, warn time.Duration, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id FROM cases
		WHERE closed_at IS NULL AND (
			(ack_met_at IS NULL AND ((ack_breached_at IS NULL AND ack_due_at < $1) OR (ack_warned_at IS NULL AND ack_due_at < $2)))
			OR (feedback_met_at IS NULL AND ((feedback_breached_at IS NULL AND feedback_due_at < $1) OR (feedback_warned_at IS NULL AND feedback_due_at < $2))))
		ORDER BY id LIMIT $3`, now, now.Add(warn), limit)
	if err != nil {
		return nil, translate(err, "due deadlines", "case")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, translate(err, "due deadlines", "case")
	}
	return ids, nil
}

// Dashboard computes the supervisor dashboard in four aggregate queries in
// one REPEATABLE READ snapshot.
func (db *DB) Dashboard(ctx context.Context, q regcase.DashboardQuery) (*regcase.Dashboard, error) {
	rtx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, translate(err, "dashboard", "case")
	}
	defer func() { _ = rtx.Rollback(ctx) }()
	out := &regcase.Dashboard{Ageing: make([]int64, len(q.AgeBounds)+1)}

	// Backlog by state and priority, and the ageing buckets, of open
	// cases: one scan of the open-cases index.
	var b strings.Builder
	args := []any{}
	b.WriteString("CASE")
	for i, d := range q.AgeBounds {
		args = append(args, q.Now.Add(-d))
		fmt.Fprintf(&b, " WHEN opened_at > $%d THEN %d", len(args), i)
	}
	fmt.Fprintf(&b, " ELSE %d END", len(q.AgeBounds))
	rows, err := rtx.Query(ctx, `SELECT status, priority, `+b.String()+` AS b, count(*) FROM cases
		WHERE closed_at IS NULL GROUP BY status, priority, b`, args...)
	if err != nil {
		return nil, translate(err, "dashboard backlog", "case")
	}
	cells, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (regcase.OpenCount, error) {
		var c regcase.OpenCount
		return c, row.Scan(&c.Status, &c.Priority, &c.AgeBucket, &c.Count)
	})
	if err != nil {
		return nil, translate(err, "dashboard backlog", "case")
	}
	out.AddOpen(cells)

	// Compliance of the SLA clock and of both statutory deadlines: small
	// partial-index ranges (see dbutil.ComplianceSQL).
	var cc dbutil.ComplianceCounts
	if err := rtx.QueryRow(ctx, dbutil.ComplianceSQL("$1"), q.Now).Scan(cc.Dest()...); err != nil {
		return nil, translate(err, "dashboard compliance", "case")
	}
	cc.Fold(out, out.OpenCases)

	out.WeekStart, out.Intake = q.IntakeWeeks()
	rows, err = rtx.Query(ctx, `SELECT floor(extract(epoch FROM received_at - $1) / 604800)::bigint AS w, count(*)
		FROM reports WHERE received_at >= $1 AND received_at < $2 GROUP BY w`,
		out.WeekStart, out.WeekStart.AddDate(0, 0, 7*len(out.Intake)))
	if err != nil {
		return nil, translate(err, "dashboard intake", "report")
	}
	if err := countInto(rows, out.Intake); err != nil {
		return nil, translate(err, "dashboard intake", "report")
	}
	return out, nil
}

// countInto adds (index, count) rows to out, ignoring indexes out of range.
func countInto(rows pgx.Rows, out []int64) error {
	defer rows.Close()
	for rows.Next() {
		var i, n int64
		if err := rows.Scan(&i, &n); err != nil {
			return err
		}
		if i >= 0 && int(i) < len(out) {
			out[i] += n
		}
	}
	return rows.Err()
}
