package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

// caseColumns is the select list scanCase reads (from cases aliased c).
const caseColumns = `c.id, c.number, c.title, c.subject_name, c.subject_registry_id,
	c.category, c.priority, c.status, c.assignee, c.opened_at, c.updated_at,
	c.closed_at, c.resolution, c.details, c.due_at, c.paused_at, c.pause_reason,
	c.paused_total, c.breached_at, c.version,
	c.ack_due_at, c.ack_met_at, c.ack_warned_at, c.ack_breached_at,
	c.feedback_due_at, c.feedback_met_at, c.feedback_warned_at, c.feedback_breached_at`

// caseReportIDs is the extra column that fills ReportIDs, oldest link first.
const caseReportIDs = `, ARRAY(SELECT cr.report_id FROM case_reports cr
	WHERE cr.case_id = c.id ORDER BY cr.linked_at, cr.report_id)`

// scanCase reads caseColumns, and the report ids when withReports.
func scanCase(row pgx.Row, withReports bool) (*regcase.Case, error) {
	var c regcase.Case
	var details []byte
	var pausedUS int64
	dest := []any{&c.ID, &c.Number, &c.Title, &c.Subject.Name, &c.Subject.RegistryID,
		&c.Category, &c.Priority, &c.Status, &c.Assignee, &c.OpenedAt, &c.UpdatedAt,
		&c.ClosedAt, &c.Resolution, &details, &c.SLA.DueAt, &c.SLA.PausedAt, &c.SLA.PauseReason,
		&pausedUS, &c.SLA.BreachedAt, &c.Version}
	for _, dd := range []*regcase.Deadline{&c.Deadlines.Acknowledge, &c.Deadlines.Feedback} {
		dest = append(dest, &dd.DueAt, &dd.MetAt, &dd.WarnedAt, &dd.BreachedAt)
	}
	if withReports {
		dest = append(dest, &c.ReportIDs)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	// Details is never nil on reads, so callers may add to it.
	c.Details = map[string]json.RawMessage{}
	if len(details) > 0 {
		if err := json.Unmarshal(details, &c.Details); err != nil {
			return nil, fmt.Errorf("decode details of case %s: %w", c.ID, err)
		}
		if c.Details == nil { // the JSON null
			c.Details = map[string]json.RawMessage{}
		}
	}
	if len(c.ReportIDs) == 0 {
		c.ReportIDs = nil
	}
	c.SLA.PausedTotal = time.Duration(pausedUS) * time.Microsecond
	c.OpenedAt = utc(c.OpenedAt)
	c.UpdatedAt = utc(c.UpdatedAt)
	c.ClosedAt = utcPtr(c.ClosedAt)
	c.SLA.DueAt = utc(c.SLA.DueAt)
	c.SLA.PausedAt = utcPtr(c.SLA.PausedAt)
	c.SLA.BreachedAt = utcPtr(c.SLA.BreachedAt)
	for _, dd := range []*regcase.Deadline{&c.Deadlines.Acknowledge, &c.Deadlines.Feedback} {
		dd.DueAt, dd.MetAt, dd.WarnedAt, dd.BreachedAt = utcPtr(dd.DueAt), utcPtr(dd.MetAt), utcPtr(dd.WarnedAt), utcPtr(dd.BreachedAt)
	}
	return &c, nil
}

// encodeDetails returns the details as JSON text, nil (SQL NULL) when empty.
func encodeDetails(d map[string]json.RawMessage) (any, error) {
	if len(d) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, regcase.FieldError("details", "case details are not valid JSON")
	}
	return string(b), nil
}

// GetCase returns the case with ReportIDs filled (ENotFound).
func (db *DB) GetCase(ctx context.Context, id string) (*regcase.Case, error) {
	c, err := scanCase(db.pool.QueryRow(ctx,
		`SELECT `+caseColumns+caseReportIDs+` FROM cases c WHERE c.id = $1`, id), true)
	if err != nil {
		return nil, translate(err, "get case", "case")
	}
	return c, nil
}

// ListCases returns at most f.Limit cases (DefaultLimit when unset,
// MaxLimit at most), ID descending, with ID < f.Cursor when set. ReportIDs
// are not filled.
func (db *DB) ListCases(ctx context.Context, f regcase.CaseFilter) ([]*regcase.Case, error) {
	w := newWhere()
	w.Eq("c.status", f.Status)
	w.Eq("c.priority", string(f.Priority))
	w.Eq("c.assignee", f.Assignee)
	w.Eq("c.category", f.Category)
	if f.Subject != "" {
		w.Subject(f.Subject)
	}
	if f.OpenedFrom != nil {
		w.Add("c.opened_at >= " + w.Arg(*f.OpenedFrom))
	}
	if f.OpenedTo != nil {
		w.Add("c.opened_at < " + w.Arg(*f.OpenedTo))
	}
	if f.DueBefore != nil {
		w.Add("c.due_at < " + w.Arg(*f.DueBefore))
	}
	if f.Query != "" {
		w.Text(f.Query, "c.title", "c.number", "c.subject_name")
	}
	if f.Cursor != "" {
		w.Add("c.id < " + w.Arg(f.Cursor))
	}
	sql := `SELECT ` + caseColumns + ` FROM cases c` + w.SQL() +
		` ORDER BY c.id DESC LIMIT ` + w.Arg(regcase.PageLimit(f.Limit))
	rows, err := db.pool.Query(ctx, sql, w.Args...)
	if err != nil {
		return nil, translate(err, "list cases", "case")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Case, error) { return scanCase(row, false) })
	if err != nil {
		return nil, translate(err, "list cases", "case")
	}
	return list, nil
}

// NextCaseNumber returns the next value of case_number_seq (> 0; numbers
// burnt by rolled-back transactions leave gaps).
func (t *tx) NextCaseNumber(ctx context.Context) (int64, error) {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT nextval('case_number_seq')`).Scan(&n); err != nil {
		return 0, translate(err, "next case number", "case number")
	}
	return n, nil
}

// InsertCase stores a new case (EConflict on a duplicate ID or number).
// ReportIDs are ignored: link reports with LinkReport.
func (t *tx) InsertCase(ctx context.Context, c *regcase.Case) error {
	details, err := encodeDetails(c.Details)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `
		INSERT INTO cases (id, number, title, subject_name, subject_registry_id,
			category, priority, status, assignee, opened_at, updated_at,
			closed_at, resolution, details, due_at, paused_at, pause_reason,
			paused_total, breached_at, version,
			ack_due_at, ack_met_at, ack_warned_at, ack_breached_at,
			feedback_due_at, feedback_met_at, feedback_warned_at, feedback_breached_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
			$16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)`,
		append([]any{c.ID, c.Number, c.Title, c.Subject.Name, c.Subject.RegistryID,
			c.Category, string(c.Priority), c.Status, c.Assignee, c.OpenedAt, c.UpdatedAt,
			c.ClosedAt, c.Resolution, details, c.SLA.DueAt, c.SLA.PausedAt, c.SLA.PauseReason,
			c.SLA.PausedTotal.Microseconds(), c.SLA.BreachedAt, c.Version}, deadlineArgs(&c.Deadlines)...)...)
	return translate(err, "insert case", "case")
}

// LockCase reads a case (ReportIDs filled) and locks its row until the
// transaction ends (ENotFound).
func (t *tx) LockCase(ctx context.Context, id string) (*regcase.Case, error) {
	c, err := scanCase(t.tx.QueryRow(ctx,
		`SELECT `+caseColumns+caseReportIDs+` FROM cases c WHERE c.id = $1 FOR UPDATE OF c`, id), true)
	if err != nil {
		return nil, translate(err, "lock case", "case")
	}
	return c, nil
}

// UpdateCase writes every mutable field (all but ID, Number and OpenedAt)
// and sets Version to prevVersion+1, in one statement, only if the stored
// version is prevVersion: otherwise EPreconditionFailed (ENotFound if there
// is no such case). On success c.Version is prevVersion+1.
func (t *tx) UpdateCase(ctx context.Context, c *regcase.Case, prevVersion int64) error {
	details, err := encodeDetails(c.Details)
	if err != nil {
		return err
	}
	var updated, exists bool
	err = t.tx.QueryRow(ctx, `
		WITH u AS (
			UPDATE cases SET title = $3, subject_name = $4, subject_registry_id = $5,
				category = $6, priority = $7, status = $8, assignee = $9, updated_at = $10,
				closed_at = $11, resolution = $12, details = $13, due_at = $14,
				paused_at = $15, pause_reason = $16, paused_total = $17, breached_at = $18,
				ack_due_at = $19, ack_met_at = $20, ack_warned_at = $21, ack_breached_at = $22,
				feedback_due_at = $23, feedback_met_at = $24, feedback_warned_at = $25, feedback_breached_at = $26,
				version = version + 1
			WHERE id = $1 AND version = $2
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM cases WHERE id = $1)`,
		append([]any{c.ID, prevVersion, c.Title, c.Subject.Name, c.Subject.RegistryID,
			c.Category, string(c.Priority), c.Status, c.Assignee, c.UpdatedAt,
			c.ClosedAt, c.Resolution, details, c.SLA.DueAt,
			c.SLA.PausedAt, c.SLA.PauseReason, c.SLA.PausedTotal.Microseconds(), c.SLA.BreachedAt},
			deadlineArgs(&c.Deadlines)...)...,
	).Scan(&updated, &exists)
	switch {
	case err != nil:
		return translate(err, "update case", "case")
	case updated:
		c.Version = prevVersion + 1
		return nil
	case !exists:
		return regcase.Errorf(regcase.ENotFound, "case not found")
	}
	return regcase.Errorf(regcase.EPreconditionFailed, "case was changed by someone else (version %d is stale)", prevVersion)
}

// deadlineArgs are the eight deadline columns, in the order of caseColumns.
func deadlineArgs(d *regcase.Deadlines) []any {
	return []any{d.Acknowledge.DueAt, d.Acknowledge.MetAt, d.Acknowledge.WarnedAt, d.Acknowledge.BreachedAt,
		d.Feedback.DueAt, d.Feedback.MetAt, d.Feedback.WarnedAt, d.Feedback.BreachedAt}
}

// LinkReport records that the report belongs to the case; linking twice is
// a no-op. ENotFound when the case or the report does not exist.
func (t *tx) LinkReport(ctx context.Context, caseID, reportID string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO case_reports (case_id, report_id, linked_at) VALUES ($1, $2, $3)
		ON CONFLICT (case_id, report_id) DO NOTHING`, caseID, reportID, at)
	return translate(err, "link report", "case report link")
}

// InsertNote stores a note (EConflict on a duplicate ID, ENotFound when the
// case does not exist).
func (t *tx) InsertNote(ctx context.Context, n *regcase.Note) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO notes (id, case_id, author, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
		n.ID, n.CaseID, n.Author, n.Body, n.CreatedAt)
	return translate(err, "insert note", "note")
}

// ListNotes returns a case's notes, ID ascending (oldest first), with ID >
// cursor when set, at most limit (DefaultLimit when unset, MaxLimit at
// most).
func (db *DB) ListNotes(ctx context.Context, caseID, cursor string, n int) ([]*regcase.Note, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, case_id, author, body, created_at FROM notes
		WHERE case_id = $1 AND id > $2 ORDER BY id LIMIT $3`, caseID, cursor, regcase.PageLimit(n))
	if err != nil {
		return nil, translate(err, "list notes", "note")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Note, error) {
		var n regcase.Note
		if err := row.Scan(&n.ID, &n.CaseID, &n.Author, &n.Body, &n.CreatedAt); err != nil {
			return nil, err
		}
		n.CreatedAt = utc(n.CreatedAt)
		return &n, nil
	})
	if err != nil {
		return nil, translate(err, "list notes", "note")
	}
	return list, nil
}
