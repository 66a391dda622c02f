package regcase

import (
	"context"
	"time"
)

// Store is what the domain needs from a database. One implementation per
// engine (postgres, sqlite); both pass the same suite in internal/storetest.
//
// Error contract for every method: ENotFound when a single row asked for by
// key does not exist; EConflict for unique violations except the ones named
// below; EUnavailable when the database cannot be reached; driver errors are
// never returned bare (wrap them with Internal).
type Store interface {
	Reader
	PipelineStore
	PeopleStore
	// InTx runs fn in one transaction and commits when fn returns nil; any
	// error (or panic) rolls back. Transient serialization failures and
	// deadlocks are retried a bounded number of times by the store, so fn
	// must be safe to run again.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Intake stores a new report, the FIRST record of its own audit chain
	// (rec.Chain must be new; the store seals rec with Seal(0, nil) and sets
	// rec.ID) and its outbox event, atomically — the hot path of public
	// intake, in one round trip where the engine allows. A duplicate
	// IdempotencyKey returns ErrIdempotencyKeyTaken.
	Intake(ctx context.Context, r *Report, rec *AuditRecord, ev *Event) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// SchemaVersion returns the highest applied migration version (0 if none).
	SchemaVersion(ctx context.Context) (int64, error)
	// Close releases the connections.
	Close() error
}

// Reader holds the reads that need no transaction.
type Reader interface {
	TreeReader
	GetReport(ctx context.Context, id string) (*Report, error)
	GetReportByTracking(ctx context.Context, code string) (*Report, error)
	GetReportByIdempotencyKey(ctx context.Context, key string) (*Report, error)
	// ListReports returns at most f.Limit reports, newest first (by ID,
	// descending), strictly after f.Cursor when set.
	ListReports(ctx context.Context, f ReportFilter) ([]*Report, error)
	// GetCase returns the case with ReportIDs filled.
	GetCase(ctx context.Context, id string) (*Case, error)
	// ListCases is keyset-paginated like ListReports (ReportIDs not filled).
	ListCases(ctx context.Context, f CaseFilter) ([]*Case, error)
	// ListNotes returns a case's notes oldest first, after the cursor (a
	// note ID), at most limit.
	ListNotes(ctx context.Context, caseID, cursor string, limit int) ([]*Note, error)
	// ListAudit returns records ordered by ID ascending with ID > f.AfterID.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditRecord, error)
	// ScanAudit calls fn for every audit record ordered by (Chain, Seq, ID).
	ScanAudit(ctx context.Context, fn func(*AuditRecord) error) error
	// AuditHeads returns the recorded head of every chain.
	AuditHeads(ctx context.Context) (map[string]ChainHead, error)
	// ListCheckpoints returns every checkpoint, ID ascending, heads filled.
	ListCheckpoints(ctx context.Context) ([]*Checkpoint, error)
	// GetTokenByHash returns the token whose secret hashes to hash.
	GetTokenByHash(ctx context.Context, hash []byte) (*APIToken, error)
	ListTokens(ctx context.Context) ([]*APIToken, error)
	ChannelReader
}

// ChannelReader holds the reads of the reporter channel: messages and
// evidence attachments.
type ChannelReader interface {
	// ListMessages returns the messages of the given reports, ID ascending
	// (IDs are time-ordered), at most MaxThread.
	ListMessages(ctx context.Context, reportIDs []string) ([]*Message, error)
	// ReadMarker returns the ID of the newest message reader has seen on
	// the case ("" when none).
	ReadMarker(ctx context.Context, reader, caseID string) (string, error)
	// ListAttachments returns the attachments of the given reports and of
	// the case (caseID may be ""), ID ascending, without content.
	ListAttachments(ctx context.Context, reportIDs []string, caseID string) ([]*Attachment, error)
	// GetAttachment returns one attachment's metadata (ENotFound).
	GetAttachment(ctx context.Context, id string) (*Attachment, error)
	// AttachmentChunk returns the sealed chunk seq (0, 1, …) of an
	// attachment (ENotFound).
	AttachmentChunk(ctx context.Context, id string, seq int) ([]byte, error)
}

// ChannelTx holds the writes of the reporter channel.
type ChannelTx interface {
	// InsertMessage stores a message (ENotFound if its report does not exist).
	InsertMessage(ctx context.Context, m *Message) error
	// MarkRead moves reader's marker on the case forward to messageID (a
	// marker never moves back).
	MarkRead(ctx context.Context, reader, caseID, messageID string, at time.Time) error
	// InsertAttachment stores an attachment's metadata; its chunks follow
	// with InsertAttachmentChunk in the same transaction.
	InsertAttachment(ctx context.Context, a *Attachment) error
	InsertAttachmentChunk(ctx context.Context, id string, seq int, data []byte) error
	// EraseReporterContent deletes every message of the report and every
	// attachment of the report with its chunks, and returns how many
	// messages and which attachments went.
	EraseReporterContent(ctx context.Context, reportID string) (messages int64, attachments []*Attachment, err error)
}

// MaxThread bounds the messages one thread read returns.
const MaxThread = 500

// Tx is a unit of work. Every change and its audit record and outbox event
// are written through one Tx, so either all happen or none.
type Tx interface {
	PipelineTx
	ChannelTx
	PeopleTx
	TreeTx
	// InsertReport stores a new report. A duplicate IdempotencyKey returns
	// ErrIdempotencyKeyTaken (compare with errors.Is).
	InsertReport(ctx context.Context, r *Report) error
	// LockReport reads a report and locks it until the transaction ends.
	LockReport(ctx context.Context, id string) (*Report, error)
	// UpdateReport writes Status, DismissReason, CaseID, UpdatedAt,
	// ReporterCipher, WrappedKey, ErasedAt, IdempotencyKey ("" = NULL) and
	// RequestHash (nil = NULL).
	UpdateReport(ctx context.Context, r *Report) error
	// NextCaseNumber returns the next value of a gap-tolerant counter (> 0).
	NextCaseNumber(ctx context.Context) (int64, error)
	InsertCase(ctx context.Context, c *Case) error
	// LockCase reads a case (ReportIDs filled) and locks it until the
	// transaction ends.
	LockCase(ctx context.Context, id string) (*Case, error)
	// UpdateCase writes every mutable field and sets Version to
	// prevVersion+1 only if the stored version is prevVersion; otherwise it
	// returns EPreconditionFailed.
	UpdateCase(ctx context.Context, c *Case, prevVersion int64) error
	// LinkReport records that the report belongs to the case (idempotent).
	LinkReport(ctx context.Context, caseID, reportID string, at time.Time) error
	InsertNote(ctx context.Context, n *Note) error
	// AppendAudit locks the head of r.Chain (creating the chain on its first
	// record), calls r.Seal with the head, inserts the record (setting r.ID)
	// and moves the head. Appends to different chains never wait on each
	// other.
	AppendAudit(ctx context.Context, r *AuditRecord) error
	// InsertEvent writes a domain event to the outbox.
	InsertEvent(ctx context.Context, e *Event) error
	// InsertToken stores a token; RevokeToken sets RevokedAt (ENotFound if
	// no such token, EConflict if already revoked).
	InsertToken(ctx context.Context, t *APIToken) error
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken records the last use of a token (best effort callers).
	TouchToken(ctx context.Context, id string, at time.Time) error
	// LastCheckpoint returns the newest checkpoint (ENotFound if none) and
	// takes the checkpoint lock so that one writer checkpoints at a time.
	LastCheckpoint(ctx context.Context) (*Checkpoint, error)
	// PendingHeads returns the heads of chains that moved since they were
	// last checkpointed.
	PendingHeads(ctx context.Context) ([]ChainHead, error)
	// InsertCheckpoint stores c with its heads and marks those heads as
	// checkpointed. A duplicate ID returns EConflict.
	InsertCheckpoint(ctx context.Context, c *Checkpoint) error
}

// ErrIdempotencyKeyTaken is returned by Tx.InsertReport when another report
// holds the same idempotency key.
var ErrIdempotencyKeyTaken = &Error{Code: EConflict, Field: "Idempotency-Key", Message: "idempotency key already used"}

// Page bounds for list endpoints.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ReportFilter selects reports. Empty fields do not filter.
type ReportFilter struct {
	Status       ReportStatus
	Channel      Channel
	Category     string
	Subject      string // case-insensitive substring of subject name, or exact registry id
	CaseID       string
	ReceivedFrom *time.Time // inclusive
	ReceivedTo   *time.Time // exclusive
	Query        string     // case-insensitive substring of description, subject name or location
	Cursor       string     // return reports with ID < Cursor
	Limit        int
}

// CaseFilter selects cases. Empty fields do not filter.
type CaseFilter struct {
	Status     string
	Priority   Priority
	Assignee   string
	Category   string
	Subject    string // as in ReportFilter
	OpenedFrom *time.Time
	OpenedTo   *time.Time
	DueBefore  *time.Time
	Query      string // case-insensitive substring of title, number or subject name
	Cursor     string // return cases with ID < Cursor
	Limit      int
}

// AuditFilter selects audit records.
type AuditFilter struct {
	Chain   string
	AfterID int64
	Limit   int
}
