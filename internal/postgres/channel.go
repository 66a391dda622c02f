package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

// InsertMessage stores a message (ENotFound if its report does not exist).
func (t *tx) InsertMessage(ctx context.Context, m *regcase.Message) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO report_messages (id, report_id, from_reporter, author, body_cipher, wrapped_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		m.ID, m.ReportID, m.FromReporter, m.Author, m.BodyCipher, m.WrappedKey, m.CreatedAt)
	return translate(err, "insert message", "message")
}

// ListMessages returns the messages of the reports, ID ascending, at most
// regcase.MaxThread.
func (db *DB) ListMessages(ctx context.Context, reportIDs []string) ([]*regcase.Message, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, report_id, from_reporter, author, body_cipher, wrapped_key, created_at FROM report_messages
		WHERE report_id = ANY($1) ORDER BY id LIMIT $2`, reportIDs, regcase.MaxThread)
	if err != nil {
		return nil, translate(err, "list messages", "message")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Message, error) {
		var m regcase.Message
		if err := row.Scan(&m.ID, &m.ReportID, &m.FromReporter, &m.Author, &m.BodyCipher, &m.WrappedKey, &m.CreatedAt); err != nil {
			return nil, err
		}
		m.CreatedAt = utc(m.CreatedAt)
		return &m, nil
	})
	if err != nil {
		return nil, translate(err, "list messages", "message")
	}
	return list, nil
}

// ReadMarker returns reader's marker on the case ("" when none).
func (db *DB) ReadMarker(ctx context.Context, reader, caseID string) (string, error) {
	var id string
	err := db.pool.QueryRow(ctx, `SELECT last_read_id FROM message_reads WHERE reader = $1 AND case_id = $2`, reader, caseID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, translate(err, "read marker", "read marker")
}

// MarkRead moves the marker forward (never back).
func (t *tx) MarkRead(ctx context.Context, reader, caseID, messageID string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO message_reads (reader, case_id, last_read_id, read_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (reader, case_id) DO UPDATE SET last_read_id = excluded.last_read_id, read_at = excluded.read_at
		WHERE excluded.last_read_id > message_reads.last_read_id`,
		reader, caseID, messageID, at)
	return translate(err, "mark read", "read marker")
}

// InsertAttachment stores an attachment's metadata.
func (t *tx) InsertAttachment(ctx context.Context, a *regcase.Attachment) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO attachments (id, report_id, case_id, filename, content_type, size, sha256, chunks, wrapped_key, uploaded_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.ID, nullString(a.ReportID), nullString(a.CaseID), a.FilenameCipher, a.ContentType, a.Size, a.SHA256, a.Chunks,
		a.WrappedKey, a.UploadedBy, a.CreatedAt)
	return translate(err, "insert attachment", "attachment")
}

// InsertAttachmentChunk stores one sealed chunk.
func (t *tx) InsertAttachmentChunk(ctx context.Context, id string, seq int, data []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO attachment_chunks (attachment_id, seq, data) VALUES ($1, $2, $3)`, id, seq, data)
	return translate(err, "insert attachment chunk", "attachment chunk")
}

const attachmentCols = `id, coalesce(report_id, ''), coalesce(case_id, ''), filename, content_type, size, sha256, chunks, wrapped_key, uploaded_by, created_at`

func scanAttachment(row pgx.Row) (*regcase.Attachment, error) {
	var a regcase.Attachment
	if err := row.Scan(&a.ID, &a.ReportID, &a.CaseID, &a.FilenameCipher, &a.ContentType, &a.Size, &a.SHA256, &a.Chunks,
		&a.WrappedKey, &a.UploadedBy, &a.CreatedAt); err != nil {
		return nil, err
	}
	a.CreatedAt = utc(a.CreatedAt)
	return &a, nil
}

func queryAttachments(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args ...any) ([]*regcase.Attachment, error) {
	rows, err := q.Query(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, translate(err, "list attachments", "attachment")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Attachment, error) { return scanAttachment(row) })
	if err != nil {
		return nil, translate(err, "list attachments", "attachment")
	}
	return list, nil
}

// ListAttachments returns the attachments of the reports and of the case.
func (db *DB) ListAttachments(ctx context.Context, reportIDs []string, caseID string) ([]*regcase.Attachment, error) {
	return queryAttachments(ctx, db.pool, "case_id = $1 OR report_id = ANY($2)", caseID, reportIDs)
}

// GetAttachment returns one attachment's metadata (ENotFound).
func (db *DB) GetAttachment(ctx context.Context, id string) (*regcase.Attachment, error) {
	a, err := scanAttachment(db.pool.QueryRow(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE id = $1`, id))
	return a, translate(err, "get attachment", "attachment")
}

// AttachmentChunk returns one sealed chunk (ENotFound).
func (db *DB) AttachmentChunk(ctx context.Context, id string, seq int) ([]byte, error) {
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT data FROM attachment_chunks WHERE attachment_id = $1 AND seq = $2`, id, seq).Scan(&data)
	return data, translate(err, "get attachment chunk", "attachment chunk")
}

// EraseReporterContent deletes the report's messages, attachments and
// chunks (the chunks by the foreign key's ON DELETE CASCADE).
func (t *tx) EraseReporterContent(ctx context.Context, reportID string) (int64, []*regcase.Attachment, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM report_messages WHERE report_id = $1`, reportID)
	if err != nil {
		return 0, nil, translate(err, "erase messages", "message")
	}
	rows, err := t.tx.Query(ctx, `DELETE FROM attachments WHERE report_id = $1 RETURNING `+attachmentCols, reportID)
	if err != nil {
		return 0, nil, translate(err, "erase attachments", "attachment")
	}
	atts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*regcase.Attachment, error) { return scanAttachment(row) })
	if err != nil {
		return 0, nil, translate(err, "erase attachments", "attachment")
	}
	return tag.RowsAffected(), atts, nil
}
