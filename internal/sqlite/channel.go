package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// placeholders returns "?, ?, …" for n values (n > 0).
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anySlice(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// InsertMessage stores a message (ENotFound if its report does not exist).
func (t *tx) InsertMessage(ctx context.Context, m *regcase.Message) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO report_messages (id, report_id, from_reporter, author, body_cipher, wrapped_key, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.ReportID, m.FromReporter, m.Author, m.BodyCipher, m.WrappedKey, fmtTime(m.CreatedAt))
	return translate(err, "insert message", "message")
}

// ListMessages returns the messages of the reports, ID ascending, at most
// regcase.MaxThread.
func (db *DB) ListMessages(ctx context.Context, reportIDs []string) ([]*regcase.Message, error) {
	out := []*regcase.Message{}
	if len(reportIDs) == 0 {
		return out, nil
	}
	rows, err := db.r.QueryContext(ctx, `
		SELECT id, report_id, from_reporter, author, body_cipher, wrapped_key, created_at FROM report_messages
		WHERE report_id IN (`+placeholders(len(reportIDs))+`)
		ORDER BY id LIMIT `+strconv.Itoa(regcase.MaxThread), anySlice(reportIDs)...)
	if err != nil {
		return nil, translate(err, "list messages", "message")
	}
	out, err = collect(rows, func(s scanner) (*regcase.Message, error) {
		var (
			m       regcase.Message
			created string
			d       decoder
		)
		if err := s.Scan(&m.ID, &m.ReportID, &m.FromReporter, &m.Author, &m.BodyCipher, &m.WrappedKey, &created); err != nil {
			return nil, err
		}
		m.CreatedAt = d.time(created)
		return &m, d.err
	})
	if err != nil {
		return nil, translate(err, "list messages", "message")
	}
	return out, nil
}

// ReadMarker returns reader's marker on the case ("" when none).
func (db *DB) ReadMarker(ctx context.Context, reader, caseID string) (string, error) {
	var id string
	err := db.r.QueryRowContext(ctx, `SELECT last_read_id FROM message_reads WHERE reader = ? AND case_id = ?`, reader, caseID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, translate(err, "read marker", "case")
}

// MarkRead moves the marker forward (never back).
func (t *tx) MarkRead(ctx context.Context, reader, caseID, messageID string, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO message_reads (reader, case_id, last_read_id, read_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (reader, case_id) DO UPDATE SET last_read_id = excluded.last_read_id, read_at = excluded.read_at
		WHERE excluded.last_read_id > message_reads.last_read_id`,
		reader, caseID, messageID, fmtTime(at))
	return translate(err, "mark read", "case")
}

// InsertAttachment stores an attachment's metadata.
func (t *tx) InsertAttachment(ctx context.Context, a *regcase.Attachment) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO attachments (id, report_id, case_id, filename, content_type, size, sha256, chunks, wrapped_key, uploaded_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, nullString(a.ReportID), nullString(a.CaseID), a.FilenameCipher, a.ContentType, a.Size, a.SHA256, a.Chunks,
		a.WrappedKey, a.UploadedBy, fmtTime(a.CreatedAt))
	return translate(err, "insert attachment", "attachment")
}

// InsertAttachmentChunk stores one sealed chunk.
func (t *tx) InsertAttachmentChunk(ctx context.Context, id string, seq int, data []byte) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO attachment_chunks (attachment_id, seq, data) VALUES (?, ?, ?)`, id, seq, data)
	return translate(err, "insert attachment chunk", "attachment")
}

const attachmentCols = `id, coalesce(report_id, ''), coalesce(case_id, ''), filename, content_type, size, sha256, chunks, wrapped_key, uploaded_by, created_at`

func scanAttachment(s scanner) (*regcase.Attachment, error) {
	var (
		a       regcase.Attachment
		created string
		d       decoder
	)
	if err := s.Scan(&a.ID, &a.ReportID, &a.CaseID, &a.FilenameCipher, &a.ContentType, &a.Size, &a.SHA256, &a.Chunks,
		&a.WrappedKey, &a.UploadedBy, &created); err != nil {
		return nil, err
	}
	a.CreatedAt = d.time(created)
	return &a, d.err
}

func queryAttachments(ctx context.Context, q querier, where string, args ...any) ([]*regcase.Attachment, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, translate(err, "list attachments", "attachment")
	}
	out, err := collect(rows, scanAttachment)
	if err != nil {
		return nil, translate(err, "list attachments", "attachment")
	}
	return out, nil
}

// ListAttachments returns the attachments of the reports and of the case.
func (db *DB) ListAttachments(ctx context.Context, reportIDs []string, caseID string) ([]*regcase.Attachment, error) {
	where, args := "case_id = ?", []any{caseID}
	if len(reportIDs) > 0 {
		where += " OR report_id IN (" + placeholders(len(reportIDs)) + ")"
		args = append(args, anySlice(reportIDs)...)
	}
	return queryAttachments(ctx, db.r, where, args...)
}

// GetAttachment returns one attachment's metadata (ENotFound).
func (db *DB) GetAttachment(ctx context.Context, id string) (*regcase.Attachment, error) {
	a, err := scanAttachment(db.r.QueryRowContext(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "no attachment %s", id)
	}
	return a, translate(err, "get attachment", "attachment")
}

// AttachmentChunk returns one sealed chunk (ENotFound).
func (db *DB) AttachmentChunk(ctx context.Context, id string, seq int) ([]byte, error) {
	var data []byte
	err := db.r.QueryRowContext(ctx, `SELECT data FROM attachment_chunks WHERE attachment_id = ? AND seq = ?`, id, seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regcase.Errorf(regcase.ENotFound, "attachment %s has no chunk %d", id, seq)
	}
	return data, translate(err, "get attachment chunk", "attachment")
}

// EraseReporterContent deletes the report's messages, attachments and
// chunks.
func (t *tx) EraseReporterContent(ctx context.Context, reportID string) (int64, []*regcase.Attachment, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM report_messages WHERE report_id = ?`, reportID)
	if err != nil {
		return 0, nil, translate(err, "erase messages", "message")
	}
	msgs, err := res.RowsAffected()
	if err != nil {
		return 0, nil, translate(err, "erase messages", "message")
	}
	atts, err := queryAttachments(ctx, t.tx, "report_id = ?", reportID)
	if err != nil {
		return 0, nil, err
	}
	if _, err := t.tx.ExecContext(ctx, `
		DELETE FROM attachment_chunks WHERE attachment_id IN (SELECT id FROM attachments WHERE report_id = ?)`, reportID); err != nil {
		return 0, nil, translate(err, "erase attachment chunks", "attachment")
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM attachments WHERE report_id = ?`, reportID); err != nil {
		return 0, nil, translate(err, "erase attachments", "attachment")
	}
	return msgs, atts, nil
}
