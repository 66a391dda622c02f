package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

// reportColumns is the select list scanReport reads.
const reportColumns = `id, tracking_code, status_secret_hash, channel, category,
	subject_name, subject_registry_id, description, location, occurred_at,
	received_at, updated_at, status, dismiss_reason, coalesce(case_id, ''),
	has_reporter, reporter_cipher, wrapped_key, erased_at,
	coalesce(idempotency_key, ''), request_hash`

func scanReport(row pgx.Row) (*regcase.Report, error) {
	var r regcase.Report
	err := row.Scan(&r.ID, &r.TrackingCode, &r.StatusSecretHash, &r.Channel, &r.Category,
		&r.Subject.Name, &r.Subject.RegistryID, &r.Description, &r.Location, &r.OccurredAt,
		&r.ReceivedAt, &r.UpdatedAt, &r.Status, &r.DismissReason, &r.CaseID,
		&r.HasReporter, &r.ReporterCipher, &r.WrappedKey, &r.ErasedAt,
		&r.IdempotencyKey, &r.RequestHash)
	if err != nil {
		return nil, err
	}
	r.OccurredAt = utcPtr(r.OccurredAt)
	r.ReceivedAt = utc(r.ReceivedAt)
	r.UpdatedAt = utc(r.UpdatedAt)
	r.ErasedAt = utcPtr(r.ErasedAt)
	return &r, nil
}

// getReport reads one report by a unique column.
func getReport(ctx context.Context, q querier, op, sql string, arg any) (*regcase.Report, error) {
	r, err := scanReport(q.QueryRow(ctx, sql, arg))
	if err != nil {
		return nil, translate(err, op, "report")
	}
	return r, nil
}

// GetReport returns the report with id (ENotFound).
func (db *DB) GetReport(ctx context.Context, id string) (*regcase.Report, error) {
	return getReport(ctx, db.pool, "get report",
		`SELECT `+reportColumns+` FROM reports WHERE id = $1`, id)
}

// GetReportByTracking returns the report with the tracking code (ENotFound).
func (db *DB) GetReportByTracking(ctx context.Context, code string) (*regcase.Report, error) {
	return getReport(ctx, db.pool, "get report by tracking code",
		`SELECT `+reportColumns+` FROM reports WHERE tracking_code = $1`, code)
}

// GetReportByIdempotencyKey returns the report submitted with key
// (ENotFound, also for the empty key).
func (db *DB) GetReportByIdempotencyKey(ctx context.Context, key string) (*regcase.Report, error) {
	return getReport(ctx, db.pool, "get report by idempotency key",
		`SELECT `+reportColumns+` FROM reports WHERE idempotency_key = $1`, key)
}

// ListReports returns at most f.Limit reports (DefaultLimit when unset,
// MaxLimit at most), ID descending, with ID < f.Cursor when set.
func (db *DB) ListReports(ctx context.Context, f regcase.ReportFilter) ([]*regcase.Report, error) {
	w := newWhere()
	w.Eq("status", string(f.Status))
	w.Eq("channel", string(f.Channel))
	w.Eq("category", f.Category)
	if f.Subject != "" {
		w.Subject(f.Subject)
	}
	w.Eq("case_id", f.CaseID)
	if f.ReceivedFrom != nil {
		w.Add("received_at >= " + w.Arg(*f.ReceivedFrom))
	}
	if f.ReceivedTo != nil {
		w.Add("received_at < " + w.Arg(*f.ReceivedTo))
	}
	if f.Query != "" {
		w.Text(f.Query, "description", "subject_name", "location")
	}
	if f.Cursor != "" {
		w.Add("id < " + w.Arg(f.Cursor))
	}
	sql := `SELECT ` + reportColumns + ` FROM reports` + w.SQL() +
		` ORDER BY id DESC LIMIT ` + w.Arg(regcase.PageLimit(f.Limit))
	rows, err := db.pool.Query(ctx, sql, w.Args...)
	if err != nil {
		return nil, translate(err, "list reports", "report")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Report, error) { return scanReport(row) })
	if err != nil {
		return nil, translate(err, "list reports", "report")
	}
	return list, nil
}

// InsertReport stores a new report in one statement. A duplicate
// IdempotencyKey returns regcase.ErrIdempotencyKeyTaken; a duplicate ID or
// tracking code EConflict. An empty IdempotencyKey or CaseID is stored as
// NULL.
func (t *tx) InsertReport(ctx context.Context, r *regcase.Report) error {
	_, err := t.tx.Exec(ctx, insertReportSQL, reportArgs(r)...)
	return translate(err, "insert report", "report")
}

const insertReportSQL = `
	INSERT INTO reports (id, tracking_code, status_secret_hash, channel, category,
		subject_name, subject_registry_id, description, location, occurred_at,
		received_at, updated_at, status, dismiss_reason, case_id,
		has_reporter, reporter_cipher, wrapped_key, erased_at,
		idempotency_key, request_hash)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
		$16, $17, $18, $19, $20, $21)`

func reportArgs(r *regcase.Report) []any {
	return []any{r.ID, r.TrackingCode, r.StatusSecretHash, string(r.Channel), r.Category,
		r.Subject.Name, r.Subject.RegistryID, r.Description, r.Location, r.OccurredAt,
		r.ReceivedAt, r.UpdatedAt, string(r.Status), r.DismissReason, nullString(r.CaseID),
		r.HasReporter, r.ReporterCipher, r.WrappedKey, r.ErasedAt,
		nullString(r.IdempotencyKey), r.RequestHash}
}

// Intake writes a new report, the first record of its audit chain and its
// event as ONE pipelined batch: PostgreSQL runs the statements of a batch
// in one implicit transaction, so it is atomic and costs one round trip.
func (db *DB) Intake(ctx context.Context, r *regcase.Report, rec *regcase.AuditRecord, ev *regcase.Event) error {
	rec.Seal(0, nil)
	b := &pgx.Batch{}
	b.Queue(insertReportSQL, reportArgs(r)...)
	b.Queue(`INSERT INTO audit_chains (chain, seq, head_hash, checkpointed_seq) VALUES ($1, 1, $2, 0)`, rec.Chain, rec.Hash)
	b.Queue(insertAuditRecordSQL+` RETURNING id`, auditArgs(rec)...).QueryRow(func(row pgx.Row) error { return row.Scan(&rec.ID) })
	b.Queue(insertEventSQL, eventArgs(ev)...)
	err := db.pool.SendBatch(ctx, b).Close()
	return translate(err, "intake", "report")
}

// LockReport reads a report and locks its row until the transaction ends
// (ENotFound).
func (t *tx) LockReport(ctx context.Context, id string) (*regcase.Report, error) {
	return getReport(ctx, t.tx, "lock report",
		`SELECT `+reportColumns+` FROM reports WHERE id = $1 FOR UPDATE`, id)
}

// UpdateReport writes Status, DismissReason, CaseID, UpdatedAt,
// ReporterCipher, WrappedKey, ErasedAt, IdempotencyKey and RequestHash
// (ENotFound).
func (t *tx) UpdateReport(ctx context.Context, r *regcase.Report) error {
	tag, err := t.tx.Exec(ctx, `
		UPDATE reports SET status = $2, dismiss_reason = $3, case_id = $4, updated_at = $5,
			reporter_cipher = $6, wrapped_key = $7, erased_at = $8, idempotency_key = $9, request_hash = $10
		WHERE id = $1`,
		r.ID, string(r.Status), r.DismissReason, nullString(r.CaseID), r.UpdatedAt,
		r.ReporterCipher, r.WrappedKey, r.ErasedAt, nullString(r.IdempotencyKey), r.RequestHash)
	if err != nil {
		return translate(err, "update report", "report")
	}
	if tag.RowsAffected() == 0 {
		return regcase.Errorf(regcase.ENotFound, "report not found")
	}
	return nil
}
