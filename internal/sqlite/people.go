package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/dbutil"
	"github.com/regcase/regcase/internal/regcase"
)

// Contacts, notifications, the statutory-deadline scan and the dashboard
// aggregates (see regcase.PeopleStore).

// GetContact returns an officer's contact (ENotFound if none).
func (db *DB) GetContact(ctx context.Context, actorID string) (*regcase.OfficerContact, error) {
	c, err := scanContact(db.r.QueryRowContext(ctx,
		`SELECT actor_id, role, email, notify, updated_at FROM officer_contacts WHERE actor_id = ?`, actorID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "no contact for %s", actorID)
	}
	if err != nil {
		return nil, translate(err, "get contact", "contact")
	}
	return c, nil
}

func scanContact(s scanner) (*regcase.OfficerContact, error) {
	var (
		c       regcase.OfficerContact
		updated string
		d       decoder
	)
	if err := s.Scan(&c.ActorID, &c.Role, &c.Email, &c.Notify, &updated); err != nil {
		return nil, err
	}
	c.UpdatedAt = d.time(updated)
	return &c, d.err
}

// NotifiableContacts returns the contacts of role that want notifications
// and whose token is not revoked, actor id ascending.
func (db *DB) NotifiableContacts(ctx context.Context, role regcase.Role) ([]*regcase.OfficerContact, error) {
	rows, err := db.r.QueryContext(ctx, `
		SELECT c.actor_id, c.role, c.email, c.notify, c.updated_at FROM officer_contacts c
		WHERE c.role = ? AND c.notify = 1
		  AND NOT EXISTS (SELECT 1 FROM api_tokens t
		                  WHERE c.actor_id = 'token:' || t.id AND t.revoked_at IS NOT NULL)
		ORDER BY c.actor_id`, string(role))
	if err != nil {
		return nil, translate(err, "notifiable contacts", "contact")
	}
	list, err := collect(rows, scanContact)
	if err != nil {
		return nil, translate(err, "notifiable contacts", "contact")
	}
	return list, nil
}

// PutContact creates or replaces a contact.
func (t *tx) PutContact(ctx context.Context, c *regcase.OfficerContact) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO officer_contacts (actor_id, role, email, notify, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (actor_id) DO UPDATE SET role = excluded.role, email = excluded.email,
			notify = excluded.notify, updated_at = excluded.updated_at`,
		c.ActorID, string(c.Role), c.Email, c.Notify, fmtTime(c.UpdatedAt))
	return translate(err, "put contact", "contact")
}

const notificationColumns = `id, event_id, recipient, kind, data, status, attempts, next_attempt_at,
	last_error, sent_at, created_at`

func scanNotification(s scanner) (*regcase.Notification, error) {
	var (
		n                   regcase.Notification
		data, next, created string
		sent                sql.NullString
		d                   decoder
	)
	if err := s.Scan(&n.ID, &n.EventID, &n.Recipient, &n.Kind, &data, &n.Status, &n.Attempts, &next,
		&n.LastError, &sent, &created); err != nil {
		return nil, err
	}
	n.Data = []byte(data)
	n.NextAttemptAt, n.SentAt, n.CreatedAt = d.time(next), d.timePtr(sent), d.time(created)
	return &n, d.err
}

// InsertNotification stores a notification; a duplicate (event, recipient)
// is EConflict and leaves the transaction usable.
func (t *tx) InsertNotification(ctx context.Context, n *regcase.Notification) error {
	data := string(n.Data)
	if data == "" {
		data = "{}"
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO notifications (`+notificationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, recipient) DO NOTHING`,
		n.ID, n.EventID, n.Recipient, n.Kind, data, string(n.Status), n.Attempts, fmtTime(n.NextAttemptAt),
		n.LastError, fmtTimePtr(n.SentAt), fmtTime(n.CreatedAt))
	if err != nil {
		return translate(err, "insert notification", "notification")
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return regcase.Errorf(regcase.EConflict, "the event already has a notification to %s", n.Recipient)
	}
	return nil
}

// ClaimNotifications claims due pending notifications in one statement on
// the one write connection: claims never overlap.
func (db *DB) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*regcase.Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.w.QueryContext(ctx, `
		UPDATE notifications SET next_attempt_at = ?
		WHERE id IN (
			SELECT id FROM notifications
			WHERE status = 'pending' AND next_attempt_at <= ?
			ORDER BY next_attempt_at LIMIT ?)
		RETURNING `+notificationColumns, fmtTime(now.Add(lease)), fmtTime(now), limit)
	if err != nil {
		return nil, translate(err, "claim notifications", "notification")
	}
	list, err := collect(rows, scanNotification)
	if err != nil {
		return nil, translate(err, "claim notifications", "notification")
	}
	return list, nil
}

// UpdateNotification writes the retry state of n (skipped once sent).
func (db *DB) UpdateNotification(ctx context.Context, n *regcase.Notification) error {
	res, err := db.w.ExecContext(ctx, `
		UPDATE notifications SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, sent_at = ?
		WHERE id = ? AND status <> 'sent'`,
		string(n.Status), n.Attempts, fmtTime(n.NextAttemptAt), n.LastError, fmtTimePtr(n.SentAt), n.ID)
	if err != nil {
		return translate(err, "update notification", "notification")
	}
	if k, _ := res.RowsAffected(); k == 0 {
		var exists bool
		if err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notifications WHERE id = ?)`, n.ID).Scan(&exists); err != nil {
			return translate(err, "update notification", "notification")
		}
		if !exists {
			return regcase.Errorf(regcase.ENotFound, "notification %s not found", n.ID)
		}
	}
	return nil
}

// ListNotifications returns an event's notifications (every one when
// eventID is ""), recipient ascending, at most limit.
func (db *DB) ListNotifications(ctx context.Context, eventID string, limit int) ([]*regcase.Notification, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE ? = '' OR event_id = ? ORDER BY recipient, id LIMIT ?`, eventID, eventID, regcase.PageLimit(limit))
	if err != nil {
		return nil, translate(err, "list notifications", "notification")
	}
	list, err := collect(rows, scanNotification)
	if err != nil {
		return nil, translate(err, "list notifications", "notification")
	}
	return list, nil
}

// DueDeadlines returns open cases with a statutory deadline to warn about
// or to mark breached, ID ascending.
func (db *DB) DueDeadlines(ctx context.Context, now time.Time, warn time.Duration, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	n, w := fmtTime(now), fmtTime(now.Add(warn))
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM cases
		WHERE closed_at IS NULL AND (
			(ack_met_at IS NULL AND ((ack_breached_at IS NULL AND ack_due_at < ?) OR (ack_warned_at IS NULL AND ack_due_at < ?)))
			OR (feedback_met_at IS NULL AND ((feedback_breached_at IS NULL AND feedback_due_at < ?) OR (feedback_warned_at IS NULL AND feedback_due_at < ?))))
		ORDER BY id LIMIT ?`, n, w, n, w, limit)
	if err != nil {
		return nil, translate(err, "due deadlines", "dead letter")
	}
	ids, err := collect(rows, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
	if err != nil {
		return nil, translate(err, "due deadlines", "dead letter")
	}
	return ids, nil
}

// Dashboard computes the supervisor dashboard in four aggregate queries
// from one read snapshot.
func (db *DB) Dashboard(ctx context.Context, q regcase.DashboardQuery) (*regcase.Dashboard, error) {
	rtx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, translate(err, "dashboard", "case")
	}
	defer func() { _ = rtx.Rollback() }()
	out := &regcase.Dashboard{Ageing: make([]int64, len(q.AgeBounds)+1)}
	now := fmtTime(q.Now)

	// Backlog by state and priority, and the ageing buckets, of open
	// cases: one scan of the open-cases index.
	bucket, args := ageBucketSQL(q, func(t time.Time) any { return fmtTime(t) })
	rows, err := rtx.QueryContext(ctx, `SELECT status, priority, `+bucket+` AS b, COUNT(*) FROM cases
		WHERE closed_at IS NULL GROUP BY status, priority, b`, args...)
	if err != nil {
		return nil, translate(err, "dashboard backlog", "case")
	}
	cells, err := collect(rows, func(s scanner) (regcase.OpenCount, error) {
		var c regcase.OpenCount
		return c, s.Scan(&c.Status, &c.Priority, &c.AgeBucket, &c.Count)
	})
	if err != nil {
		return nil, translate(err, "dashboard backlog", "case")
	}
	out.AddOpen(cells)

	// Compliance of the SLA clock and of both statutory deadlines: small
	// partial-index ranges (see dbutil.ComplianceSQL).
	var cc dbutil.ComplianceCounts
	if err := rtx.QueryRowContext(ctx, dbutil.ComplianceSQL("?1"), now).Scan(cc.Dest()...); err != nil {
		return nil, translate(err, "dashboard compliance", "case")
	}
	cc.Fold(out, out.OpenCases)

	// Intake per week.
	out.WeekStart, out.Intake = q.IntakeWeeks()
	rows, err = rtx.QueryContext(ctx, `SELECT CAST((julianday(received_at) - julianday(?)) / 7 AS INTEGER) AS w, COUNT(*)
		FROM reports WHERE received_at >= ? AND received_at < ? GROUP BY w`,
		fmtTime(out.WeekStart), fmtTime(out.WeekStart), fmtTime(out.WeekStart.AddDate(0, 0, 7*len(out.Intake))))
	if err != nil {
		return nil, translate(err, "dashboard intake", "report")
	}
	if err := countInto(rows, out.Intake); err != nil {
		return nil, translate(err, "dashboard intake", "report")
	}
	return out, nil
}

// ageBucketSQL is the CASE expression numbering an open case's age bucket
// and its arguments (the bucket bounds as opening times).
func ageBucketSQL(q regcase.DashboardQuery, arg func(time.Time) any) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, len(q.AgeBounds))
	b.WriteString("CASE")
	for i, d := range q.AgeBounds {
		fmt.Fprintf(&b, " WHEN opened_at > ? THEN %d", i)
		args = append(args, arg(q.Now.Add(-d)))
	}
	fmt.Fprintf(&b, " ELSE %d END", len(q.AgeBounds))
	return b.String(), args
}

// countInto adds (index, count) rows to out, ignoring indexes out of range.
func countInto(rows *sql.Rows, out []int64) error {
	return each(rows, func(s scanner) error {
		var i, n int64
		if err := s.Scan(&i, &n); err != nil {
			return err
		}
		if i >= 0 && int(i) < len(out) {
			out[i] += n
		}
		return nil
	})
}
