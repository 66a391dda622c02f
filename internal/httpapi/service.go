package httpapi

import (
	"context"
	"crypto/ed25519"
	"io"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// The interfaces below are what the API needs of the domain, declared here
// where they are used (*regcase.Service implements them all), so the
// handlers are tested against a fake (fake_test.go) without a database.

// Reports are the intake and triage use cases.
type Reports interface {
	Submit(ctx context.Context, a regcase.Actor, in regcase.SubmitReport, idemKey string) (*regcase.Submission, error)
	PublicStatusOf(ctx context.Context, tracking, secret string) (*regcase.PublicStatus, error)
	ListReports(ctx context.Context, a regcase.Actor, f regcase.ReportFilter) ([]*regcase.Report, error)
	GetReport(ctx context.Context, a regcase.Actor, id string, withPII bool) (*regcase.Report, *regcase.Reporter, error)
	Dismiss(ctx context.Context, a regcase.Actor, id, reason string) (*regcase.Report, error)
	Erase(ctx context.Context, a regcase.Actor, id, reason string) (*regcase.Report, error)
	Triage(ctx context.Context, a regcase.Actor, reportID string, in regcase.TriageInput) (*regcase.Report, *regcase.Case, error)
	Categories() []string
}

// Cases are the case use cases.
type Cases interface {
	ListCases(ctx context.Context, a regcase.Actor, f regcase.CaseFilter) ([]*regcase.Case, error)
	CreateCase(ctx context.Context, a regcase.Actor, in regcase.NewCase) (*regcase.Case, error)
	GetCase(ctx context.Context, a regcase.Actor, id string) (*regcase.Case, error)
	UpdateCase(ctx context.Context, a regcase.Actor, id string, version int64, p regcase.CasePatch) (*regcase.Case, error)
	Transition(ctx context.Context, a regcase.Actor, id string, version int64, in regcase.TransitionInput) (*regcase.Case, error)
	Assign(ctx context.Context, a regcase.Actor, id string, version int64, assignee string) (*regcase.Case, error)
	PauseSLA(ctx context.Context, a regcase.Actor, id string, version int64, reason string) (*regcase.Case, error)
	ResumeSLA(ctx context.Context, a regcase.Actor, id string, version int64) (*regcase.Case, error)
	ListNotes(ctx context.Context, a regcase.Actor, caseID, cursor string, limit int) ([]*regcase.Note, error)
	AddNote(ctx context.Context, a regcase.Actor, caseID, body string) (*regcase.Note, error)
	// AvailableTransitions lists what a may do with c now.
	AvailableTransitions(a regcase.Actor, c *regcase.Case) []regcase.Transition
	// Now is the clock the deadline states are computed against.
	Now() time.Time
}

// Audit reads and proves the audit log.
type Audit interface {
	ListAudit(ctx context.Context, a regcase.Actor, f regcase.AuditFilter) ([]*regcase.AuditRecord, error)
	CaseAudit(ctx context.Context, a regcase.Actor, caseID string, afterID int64, limit int) ([]*regcase.AuditRecord, error)
	VerifyAudit(ctx context.Context, a regcase.Actor, pub ed25519.PublicKey) (*regcase.VerifyResult, error)
	ListCheckpoints(ctx context.Context, a regcase.Actor) ([]*regcase.Checkpoint, error)
	LatestTreeCheckpoint(ctx context.Context, a regcase.Actor) (*regcase.TreeCheckpoint, error)
	ProveInclusion(ctx context.Context, a regcase.Actor, recordID, size int64) (*regcase.InclusionProof, error)
	ProveConsistency(ctx context.Context, a regcase.Actor, from, to int64) (*regcase.ConsistencyProof, error)
}

// Admin manages tokens, webhooks, dead letters and notification contacts.
type Admin interface {
	ListTokens(ctx context.Context, a regcase.Actor) ([]*regcase.APIToken, error)
	CreateToken(ctx context.Context, a regcase.Actor, name string, role regcase.Role) (*regcase.APIToken, string, error)
	RevokeToken(ctx context.Context, a regcase.Actor, id string) error
	ListWebhooks(ctx context.Context, a regcase.Actor) ([]*regcase.Webhook, error)
	CreateWebhook(ctx context.Context, a regcase.Actor, in regcase.NewWebhook) (*regcase.Webhook, string, error)
	GetWebhook(ctx context.Context, a regcase.Actor, id string) (*regcase.Webhook, error)
	DeleteWebhook(ctx context.Context, a regcase.Actor, id string) error
	ListDeliveries(ctx context.Context, a regcase.Actor, f regcase.DeliveryFilter) ([]*regcase.Delivery, error)
	GetDelivery(ctx context.Context, a regcase.Actor, webhookID, id string) (*regcase.Delivery, []*regcase.DeliveryAttempt, error)
	Redeliver(ctx context.Context, a regcase.Actor, webhookID, id string) (*regcase.Delivery, error)
	ListDeadEvents(ctx context.Context, a regcase.Actor, f regcase.DeadEventFilter) ([]*regcase.DeadEvent, error)
	GetDeadEvent(ctx context.Context, a regcase.Actor, id int64) (*regcase.DeadEvent, error)
	ReplayDeadEvent(ctx context.Context, a regcase.Actor, id int64) (*regcase.DeadEvent, error)
	GetContact(ctx context.Context, a regcase.Actor) (*regcase.OfficerContact, error)
	SetContact(ctx context.Context, a regcase.Actor, in regcase.ContactInput) (*regcase.OfficerContact, error)
}

// Channel is the reporter channel and the evidence files.
type Channel interface {
	PublicThread(ctx context.Context, a regcase.Actor, tracking, secret string) (*regcase.Thread, error)
	PostPublicMessage(ctx context.Context, a regcase.Actor, tracking, secret, body string) (*regcase.MessageView, error)
	CaseMessages(ctx context.Context, a regcase.Actor, caseID string) (*regcase.CaseThread, error)
	PostCaseMessage(ctx context.Context, a regcase.Actor, caseID, reportID, body string) (*regcase.MessageView, error)
	ListCaseAttachments(ctx context.Context, a regcase.Actor, caseID string) ([]*regcase.Attachment, error)
	ListReportAttachments(ctx context.Context, a regcase.Actor, reportID string) ([]*regcase.Attachment, error)
	AddPublicAttachment(ctx context.Context, a regcase.Actor, tracking, secret, filename string, body io.Reader) (*regcase.Attachment, error)
	AddCaseAttachment(ctx context.Context, a regcase.Actor, caseID, filename string, body io.Reader) (*regcase.Attachment, error)
	OpenAttachment(ctx context.Context, a regcase.Actor, id string) (*regcase.Attachment, io.Reader, error)
	// AttachmentMaxBytes bounds one evidence file.
	AttachmentMaxBytes() int64
}

// Auth resolves API tokens and says what logs keep of an address.
type Auth interface {
	Authenticate(ctx context.Context, secret string) (regcase.Actor, error)
	// KeptAddr is what the request log keeps of the caller's address.
	KeptAddr(a regcase.Actor) string
}

// Service is everything the server calls.
type Service interface {
	Reports
	Cases
	Audit
	Admin
	Channel
	Auth
}

var _ Service = (*regcase.Service)(nil)
