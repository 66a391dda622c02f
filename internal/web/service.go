package web

import (
	"context"
	"crypto/ed25519"
	"io"

	"github.com/regcase/regcase/internal/regcase"
)

// Service is what the console needs of the domain, declared here where it
// is used (*regcase.Service implements it).
type Service interface {
	ActorNames(ctx context.Context) (map[string]string, error)
	AddCaseAttachment(ctx context.Context, a regcase.Actor, caseID, filename string, body io.Reader) (*regcase.Attachment, error)
	AddNote(ctx context.Context, a regcase.Actor, caseID, body string) (*regcase.Note, error)
	AddPublicAttachment(ctx context.Context, a regcase.Actor, tracking, secret, filename string, body io.Reader) (*regcase.Attachment, error)
	AddReportAttachment(ctx context.Context, a regcase.Actor, reportID, filename string, body io.Reader) (*regcase.Attachment, error)
	Assign(ctx context.Context, a regcase.Actor, id string, version int64, assignee string) (*regcase.Case, error)
	AttachmentMaxBytes() int64
	Authenticate(ctx context.Context, secret string) (regcase.Actor, error)
	CaseAudit(ctx context.Context, a regcase.Actor, caseID string, afterID int64, limit int) ([]*regcase.AuditRecord, error)
	CaseMessages(ctx context.Context, a regcase.Actor, caseID string) (*regcase.CaseThread, error)
	Categories() []string
	CheckTokenHash(ctx context.Context, h []byte) (regcase.Actor, error)
	CreateToken(ctx context.Context, a regcase.Actor, name string, role regcase.Role) (*regcase.APIToken, string, error)
	Dashboard(ctx context.Context, a regcase.Actor) (*regcase.Dashboard, regcase.DashboardQuery, error)
	Dismiss(ctx context.Context, a regcase.Actor, id, reason string) (*regcase.Report, error)
	GetCase(ctx context.Context, a regcase.Actor, id string) (*regcase.Case, error)
	AdoptContactEmail(ctx context.Context, a regcase.Actor, email string) (bool, error)
	GetContact(ctx context.Context, a regcase.Actor) (*regcase.OfficerContact, error)
	GetReport(ctx context.Context, a regcase.Actor, id string, withPII bool) (*regcase.Report, *regcase.Reporter, error)
	Lifecycle() *regcase.Lifecycle
	ListAudit(ctx context.Context, a regcase.Actor, f regcase.AuditFilter) ([]*regcase.AuditRecord, error)
	ListCaseAttachments(ctx context.Context, a regcase.Actor, caseID string) ([]*regcase.Attachment, error)
	ListCases(ctx context.Context, a regcase.Actor, f regcase.CaseFilter) ([]*regcase.Case, error)
	ListNotes(ctx context.Context, a regcase.Actor, caseID, cursor string, limit int) ([]*regcase.Note, error)
	ListReportAttachments(ctx context.Context, a regcase.Actor, reportID string) ([]*regcase.Attachment, error)
	ListReports(ctx context.Context, a regcase.Actor, f regcase.ReportFilter) ([]*regcase.Report, error)
	ListTokens(ctx context.Context, a regcase.Actor) ([]*regcase.APIToken, error)
	OpenAttachment(ctx context.Context, a regcase.Actor, id string) (*regcase.Attachment, io.Reader, error)
	PauseSLA(ctx context.Context, a regcase.Actor, id string, version int64, reason string) (*regcase.Case, error)
	PostCaseMessage(ctx context.Context, a regcase.Actor, caseID, reportID, body string) (*regcase.MessageView, error)
	PostPublicMessage(ctx context.Context, a regcase.Actor, tracking, secret, body string) (*regcase.MessageView, error)
	PriorityChoices(a regcase.Actor, c *regcase.Case) []regcase.Priority
	PublicStatusOf(ctx context.Context, tracking, secret string) (*regcase.PublicStatus, error)
	PublicThread(ctx context.Context, a regcase.Actor, tracking, secret string) (*regcase.Thread, error)
	ResumeSLA(ctx context.Context, a regcase.Actor, id string, version int64) (*regcase.Case, error)
	RevokeToken(ctx context.Context, a regcase.Actor, id string) error
	SetContact(ctx context.Context, a regcase.Actor, in regcase.ContactInput) (*regcase.OfficerContact, error)
	Submit(ctx context.Context, a regcase.Actor, in regcase.SubmitReport, idemKey string) (*regcase.Submission, error)
	Transition(ctx context.Context, a regcase.Actor, id string, version int64, in regcase.TransitionInput) (*regcase.Case, error)
	Triage(ctx context.Context, a regcase.Actor, reportID string, in regcase.TriageInput) (*regcase.Report, *regcase.Case, error)
	UpdateCase(ctx context.Context, a regcase.Actor, id string, version int64, p regcase.CasePatch) (*regcase.Case, error)
	VerifyAudit(ctx context.Context, a regcase.Actor, pub ed25519.PublicKey) (*regcase.VerifyResult, error)
}

var _ Service = (*regcase.Service)(nil)
