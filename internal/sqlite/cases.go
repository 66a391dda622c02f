package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

const caseColumns = `id, number, title, subject_name, subject_registry_id, category,
	priority, status, assignee, opened_at, updated_at, closed_at, resolution,
	details, due_at, paused_at, pause_reason, paused_total_us, breached_at, version,
	ack_due_at, ack_met_at, ack_warned_at, ack_breached_at,
	feedback_due_at, feedback_met_at, feedback_warned_at, feedback_breached_at`

func scanCase(s scanner) (*regcase.Case, error) {
	var (
		c                        regcase.Case
		opened, updated, due     string
		closed, paused, breached sql.NullString
		details                  string
		pausedTotalUS            int64
		dl                       [8]sql.NullString
	)
	err := s.Scan(&c.ID, &c.Number, &c.Title, &c.Subject.Name, &c.Subject.RegistryID, &c.Category,
		&c.Priority, &c.Status, &c.Assignee, &opened, &updated, &closed, &c.Resolution,
		&details, &due, &paused, &c.SLA.PauseReason, &pausedTotalUS, &breached, &c.Version,
		&dl[0], &dl[1], &dl[2], &dl[3], &dl[4], &dl[5], &dl[6], &dl[7])
	if err != nil {
		return nil, err
	}
	var d decoder
	c.OpenedAt = d.time(opened)
	c.UpdatedAt = d.time(updated)
	c.ClosedAt = d.timePtr(closed)
	c.SLA.DueAt = d.time(due)
	c.SLA.PausedAt = d.timePtr(paused)
	c.SLA.PausedTotal = time.Duration(pausedTotalUS) * time.Microsecond
	c.SLA.BreachedAt = d.timePtr(breached)
	for i, dd := range []*regcase.Deadline{&c.Deadlines.Acknowledge, &c.Deadlines.Feedback} {
		dd.DueAt, dd.MetAt, dd.WarnedAt, dd.BreachedAt = d.timePtr(dl[4*i]), d.timePtr(dl[4*i+1]), d.timePtr(dl[4*i+2]), d.timePtr(dl[4*i+3])
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := json.Unmarshal([]byte(details), &c.Details); err != nil {
		return nil, fmt.Errorf("decode details of case %s: %w", c.ID, err)
	}
	return &c, nil
}

// encodeDetails stores Details as a JSON object ("{}" when empty).
func encodeDetails(d map[string]json.RawMessage) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", regcase.Internal(fmt.Errorf("sqlite: encode case details: %w", err))
	}
	return string(b), nil
}

// getCase reads a case and its linked reports (ENotFound if none).
func getCase(ctx context.Context, q querier, id string) (*regcase.Case, error) {
	var ids string
	c, err := scanCase(withColumn{q.QueryRowContext(ctx, `SELECT `+caseColumns+`,
		(SELECT json_group_array(report_id ORDER BY linked_at, report_id) FROM case_reports WHERE case_id = cases.id)
		FROM cases WHERE id = ?`, id), &ids})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "case %s not found", id)
	}
	if err != nil {
		return nil, translate(err, "get case", "case")
	}
	c.ReportIDs = []string{}
	if err := json.Unmarshal([]byte(ids), &c.ReportIDs); err != nil {
		return nil, translate(err, "get case reports", "report")
	}
	return c, nil
}

// withColumn scans one more column after the ones its scanner is asked for.
type withColumn struct {
	s     scanner
	extra any
}

func (w withColumn) Scan(dest ...any) error { return w.s.Scan(append(dest, w.extra)...) }

// GetCase returns the case with ReportIDs filled, oldest link first
// (ENotFound if none): one statement, so case and links come from one
// snapshot.
func (db *DB) GetCase(ctx context.Context, id string) (*regcase.Case, error) {
	return getCase(ctx, db.r, id)
}

// ListCases returns at most f.Limit (bounded by regcase.MaxLimit) cases
// matching f, by ID descending, with ID < f.Cursor when set. ReportIDs are
// not filled.
func (db *DB) ListCases(ctx context.Context, f regcase.CaseFilter) ([]*regcase.Case, error) {
	w := newWhere()
	w.Eq("status", f.Status)
	w.Eq("priority", string(f.Priority))
	w.Eq("assignee", f.Assignee)
	w.Eq("category", f.Category)
	if f.Subject != "" {
		w.Subject(f.Subject)
	}
	if f.OpenedFrom != nil {
		w.Add("opened_at >= " + w.Arg(fmtTime(*f.OpenedFrom)))
	}
	if f.OpenedTo != nil {
		w.Add("opened_at < " + w.Arg(fmtTime(*f.OpenedTo)))
	}
	if f.DueBefore != nil {
		w.Add("due_at < " + w.Arg(fmtTime(*f.DueBefore)))
	}
	if f.Query != "" {
		w.Text(f.Query, "title", "number", "subject_name")
	}
	if f.Cursor != "" {
		w.Add("id < " + w.Arg(f.Cursor))
	}
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+caseColumns+` FROM cases`+w.SQL()+` ORDER BY id DESC LIMIT `+w.Arg(regcase.PageLimit(f.Limit)),
		w.Args...)
	if err != nil {
		return nil, translate(err, "list cases", "case")
	}
	cases, err := collect(rows, scanCase)
	if err != nil {
		return nil, translate(err, "list cases", "case")
	}
	return cases, nil
}

// NextCaseNumber returns the next value of the case-number counter (1, 2,
// 3 …; a rolled-back transaction leaves no gap here, but callers must not
// rely on that).
func (t *tx) NextCaseNumber(ctx context.Context) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(ctx, `
		INSERT INTO counters (name, value) VALUES ('case_number', 1)
		ON CONFLICT (name) DO UPDATE SET value = value + 1
		RETURNING value`).Scan(&n)
	if err != nil {
		return 0, translate(err, "next case number", "case")
	}
	return n, nil
}

// InsertCase stores a new case as given, Version included (EConflict on a
// duplicate ID or number). ReportIDs are ignored: use LinkReport.
func (t *tx) InsertCase(ctx context.Context, c *regcase.Case) error {
	details, err := encodeDetails(c.Details)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `
		INSERT INTO cases (`+caseColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{c.ID, c.Number, c.Title, c.Subject.Name, c.Subject.RegistryID, c.Category,
			string(c.Priority), c.Status, c.Assignee, fmtTime(c.OpenedAt), fmtTime(c.UpdatedAt), fmtTimePtr(c.ClosedAt), c.Resolution,
			details, fmtTime(c.SLA.DueAt), fmtTimePtr(c.SLA.PausedAt), c.SLA.PauseReason, c.SLA.PausedTotal.Microseconds(), fmtTimePtr(c.SLA.BreachedAt), c.Version},
			deadlineArgs(&c.Deadlines)...)...)
	return translate(err, "insert case", "case")
}

// LockCase reads a case (ReportIDs filled) inside the transaction
// (ENotFound if none).
func (t *tx) LockCase(ctx context.Context, id string) (*regcase.Case, error) {
	return getCase(ctx, t.tx, id)
}

// UpdateCase writes every field but ID, Number and OpenedAt, and sets
// Version (in the database and in c) to prevVersion+1, only if the stored
// version is prevVersion: otherwise EPreconditionFailed, or ENotFound when
// there is no such case.
func (t *tx) UpdateCase(ctx context.Context, c *regcase.Case, prevVersion int64) error {
	details, err := encodeDetails(c.Details)
	if err != nil {
		return err
	}
	args := []any{c.Title, c.Subject.Name, c.Subject.RegistryID, c.Category,
		string(c.Priority), c.Status, c.Assignee, fmtTime(c.UpdatedAt), fmtTimePtr(c.ClosedAt),
		c.Resolution, details, fmtTime(c.SLA.DueAt), fmtTimePtr(c.SLA.PausedAt), c.SLA.PauseReason,
		c.SLA.PausedTotal.Microseconds(), fmtTimePtr(c.SLA.BreachedAt), prevVersion + 1}
	args = append(append(args, deadlineArgs(&c.Deadlines)...), c.ID, prevVersion)
	res, err := t.tx.ExecContext(ctx, `
		UPDATE cases
		SET title = ?, subject_name = ?, subject_registry_id = ?, category = ?,
		    priority = ?, status = ?, assignee = ?, updated_at = ?, closed_at = ?,
		    resolution = ?, details = ?, due_at = ?, paused_at = ?, pause_reason = ?,
		    paused_total_us = ?, breached_at = ?, version = ?,
		    ack_due_at = ?, ack_met_at = ?, ack_warned_at = ?, ack_breached_at = ?,
		    feedback_due_at = ?, feedback_met_at = ?, feedback_warned_at = ?, feedback_breached_at = ?
		WHERE id = ? AND version = ?`, args...)
	err = checkUpdated("update case", res, err, errStaleCase)
	if errors.Is(err, errStaleCase) {
		var exists bool
		if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM cases WHERE id = ?)`, c.ID).Scan(&exists); err != nil {
			return translate(err, "update case", "case")
		}
		if !exists {
			return regcase.Errorf(regcase.ENotFound, "case %s not found", c.ID)
		}
		return regcase.Errorf(regcase.EPreconditionFailed, "case %s was changed by someone else (version %d is stale)", c.ID, prevVersion)
	}
	if err != nil {
		return err
	}
	c.Version = prevVersion + 1
	return nil
}

// deadlineArgs are the eight deadline columns of caseColumns, in order.
func deadlineArgs(d *regcase.Deadlines) []any {
	out := make([]any, 0, 8)
	for _, dd := range []*regcase.Deadline{&d.Acknowledge, &d.Feedback} {
		out = append(out, fmtTimePtr(dd.DueAt), fmtTimePtr(dd.MetAt), fmtTimePtr(dd.WarnedAt), fmtTimePtr(dd.BreachedAt))
	}
	return out
}

// errStaleCase marks an UPDATE of a case that touched no row.
var errStaleCase = errors.New("no case with this id and version")

// LinkReport records that the report belongs to the case; linking again
// keeps the first link (and its time). ENotFound if either does not exist.
func (t *tx) LinkReport(ctx context.Context, caseID, reportID string, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO case_reports (case_id, report_id, linked_at) VALUES (?, ?, ?)
		ON CONFLICT (case_id, report_id) DO NOTHING`,
		caseID, reportID, fmtTime(at))
	return translate(err, "link report", "report")
}

// InsertNote stores a note (ENotFound if its case does not exist, EConflict
// on a duplicate ID).
func (t *tx) InsertNote(ctx context.Context, n *regcase.Note) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO notes (id, case_id, author, body, created_at) VALUES (?, ?, ?, ?, ?)`,
		n.ID, n.CaseID, n.Author, n.Body, fmtTime(n.CreatedAt))
	return translate(err, "insert note", "note")
}

// ListNotes returns at most limit (bounded by regcase.MaxLimit) notes of the
// case, by ID ascending (note IDs are time-ordered), with ID > cursor when
// set.
func (db *DB) ListNotes(ctx context.Context, caseID, cursor string, limit int) ([]*regcase.Note, error) {
	rows, err := db.r.QueryContext(ctx, `
		SELECT id, case_id, author, body, created_at FROM notes
		WHERE case_id = ? AND id > ?
		ORDER BY id
		LIMIT ?`, caseID, cursor, regcase.PageLimit(limit))
	if err != nil {
		return nil, translate(err, "list notes", "note")
	}
	notes, err := collect(rows, func(s scanner) (*regcase.Note, error) {
		var (
			n       regcase.Note
			created string
			d       decoder
		)
		if err := s.Scan(&n.ID, &n.CaseID, &n.Author, &n.Body, &created); err != nil {
			return nil, err
		}
		n.CreatedAt = d.time(created)
		return &n, d.err
	})
	if err != nil {
		return nil, translate(err, "list notes", "note")
	}
	return notes, nil
}
