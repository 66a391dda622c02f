package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/regcase/regcase/internal/regcase"
)

const reportColumns = `id, tracking_code, status_secret_hash, channel, category,
	subject_name, subject_registry_id, description, location, occurred_at,
	received_at, updated_at, status, dismiss_reason, case_id, has_reporter,
	reporter_cipher, wrapped_key, erased_at, idempotency_key, request_hash`

func scanReport(s scanner) (*regcase.Report, error) {
	var (
		r                               regcase.Report
		received, updated               string
		occurred, erased, caseID, idemp sql.NullString
	)
	err := s.Scan(&r.ID, &r.TrackingCode, &r.StatusSecretHash, &r.Channel, &r.Category,
		&r.Subject.Name, &r.Subject.RegistryID, &r.Description, &r.Location, &occurred,
		&received, &updated, &r.Status, &r.DismissReason, &caseID, &r.HasReporter,
		&r.ReporterCipher, &r.WrappedKey, &erased, &idemp, &r.RequestHash)
	if err != nil {
		return nil, err
	}
	var d decoder
	r.OccurredAt = d.timePtr(occurred)
	r.ReceivedAt = d.time(received)
	r.UpdatedAt = d.time(updated)
	r.ErasedAt = d.timePtr(erased)
	r.CaseID = caseID.String
	r.IdempotencyKey = idemp.String
	return &r, d.err
}

// getReport reads one report by a unique column; notFound is the error
// when there is none.
func getReport(ctx context.Context, q querier, col, val string, notFound error) (*regcase.Report, error) {
	r, err := scanReport(q.QueryRowContext(ctx,
		`SELECT `+reportColumns+` FROM reports WHERE `+col+` = ?`, val))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, translate(err, "get report", "report")
	}
	return r, nil
}

// GetReport returns the report with id (ENotFound if none).
func (db *DB) GetReport(ctx context.Context, id string) (*regcase.Report, error) {
	return getReport(ctx, db.r, "id", id, regcase.Errorf(regcase.ENotFound, "report %s not found", id))
}

// GetReportByTracking returns the report with the tracking code (ENotFound
// if none).
func (db *DB) GetReportByTracking(ctx context.Context, code string) (*regcase.Report, error) {
	return getReport(ctx, db.r, "tracking_code", code, regcase.Errorf(regcase.ENotFound, "no report has this tracking code"))
}

// GetReportByIdempotencyKey returns the report submitted with key (ENotFound
// if none).
func (db *DB) GetReportByIdempotencyKey(ctx context.Context, key string) (*regcase.Report, error) {
	if key == "" {
		return nil, regcase.Errorf(regcase.ENotFound, "no report has this idempotency key")
	}
	return getReport(ctx, db.r, "idempotency_key", key, regcase.Errorf(regcase.ENotFound, "no report has this idempotency key"))
}

// ListReports returns at most f.Limit (bounded by regcase.MaxLimit) reports
// matching f, by ID descending, with ID < f.Cursor when set.
func (db *DB) ListReports(ctx context.Context, f regcase.ReportFilter) ([]*regcase.Report, error) {
	w := newWhere()
	w.Eq("status", string(f.Status))
	w.Eq("channel", string(f.Channel))
	w.Eq("category", f.Category)
	w.Eq("case_id", f.CaseID)
	if f.Subject != "" {
		w.Subject(f.Subject)
	}
	if f.ReceivedFrom != nil {
		w.Add("received_at >= " + w.Arg(fmtTime(*f.ReceivedFrom)))
	}
	if f.ReceivedTo != nil {
		w.Add("received_at < " + w.Arg(fmtTime(*f.ReceivedTo)))
	}
	if f.Query != "" {
		w.Text(f.Query, "description", "subject_name", "location")
	}
	if f.Cursor != "" {
		w.Add("id < " + w.Arg(f.Cursor))
	}
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+reportColumns+` FROM reports`+w.SQL()+` ORDER BY id DESC LIMIT `+w.Arg(regcase.PageLimit(f.Limit)),
		w.Args...)
	if err != nil {
		return nil, translate(err, "list reports", "report")
	}
	reports, err := collect(rows, scanReport)
	if err != nil {
		return nil, translate(err, "list reports", "report")
	}
	return reports, nil
}

// InsertReport stores a new report. A duplicate idempotency key returns
// regcase.ErrIdempotencyKeyTaken; a duplicate ID or tracking code EConflict.
func (t *tx) InsertReport(ctx context.Context, r *regcase.Report) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO reports (`+reportColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TrackingCode, r.StatusSecretHash, string(r.Channel), r.Category,
		r.Subject.Name, r.Subject.RegistryID, r.Description, r.Location, fmtTimePtr(r.OccurredAt),
		fmtTime(r.ReceivedAt), fmtTime(r.UpdatedAt), string(r.Status), r.DismissReason, nullString(r.CaseID), r.HasReporter,
		r.ReporterCipher, r.WrappedKey, fmtTimePtr(r.ErasedAt), nullString(r.IdempotencyKey), r.RequestHash)
	return translate(err, "insert report", "report")
}

// LockReport reads a report inside the transaction (ENotFound if none); the
// transaction's write lock already excludes every other writer.
func (t *tx) LockReport(ctx context.Context, id string) (*regcase.Report, error) {
	return getReport(ctx, t.tx, "id", id, regcase.Errorf(regcase.ENotFound, "report %s not found", id))
}

// UpdateReport writes Status, DismissReason, CaseID, UpdatedAt,
// ReporterCipher, WrappedKey, ErasedAt, IdempotencyKey and RequestHash
// (ENotFound if no such report).
func (t *tx) UpdateReport(ctx context.Context, r *regcase.Report) error {
	res, err := t.tx.ExecContext(ctx, `
		UPDATE reports
		SET status = ?, dismiss_reason = ?, case_id = ?, updated_at = ?,
		    reporter_cipher = ?, wrapped_key = ?, erased_at = ?, idempotency_key = ?, request_hash = ?
		WHERE id = ?`,
		string(r.Status), r.DismissReason, nullString(r.CaseID), fmtTime(r.UpdatedAt),
		r.ReporterCipher, r.WrappedKey, fmtTimePtr(r.ErasedAt), nullString(r.IdempotencyKey), r.RequestHash, r.ID)
	return checkUpdated("update report", res, err, regcase.Errorf(regcase.ENotFound, "report %s not found", r.ID))
}

// checkUpdated translates the outcome of an UPDATE by key: notFound when it
// touched no row.
func checkUpdated(op string, res sql.Result, err error, notFound error) error {
	if err != nil {
		return translate(err, op, "record")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return translate(err, op, "record")
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// Intake stores a new report, the first record of its audit chain and its
// event in one write transaction (SQLite has one writer: no round trips to
// save).
func (db *DB) Intake(ctx context.Context, r *regcase.Report, rec *regcase.AuditRecord, ev *regcase.Event) error {
	return db.InTx(ctx, func(t regcase.Tx) error {
		if err := t.InsertReport(ctx, r); err != nil {
			return err
		}
		if err := t.AppendAudit(ctx, rec); err != nil {
			return err
		}
		return t.InsertEvent(ctx, ev)
	})
}
