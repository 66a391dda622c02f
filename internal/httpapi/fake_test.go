package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// fake is the Service of the handler tests: every method records its name
// and returns err (when set) or a small canned value. Tokens are
// "rct_<role>", resolved to an actor of that role; authErr fails them all.
type fake struct {
	mu      sync.Mutex
	calls   []string
	err     error
	authErr error
}

var fakeTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fake) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.err
}

func (f *fake) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func fakeReport() *regcase.Report {
	return &regcase.Report{ID: "r1", TrackingCode: "ABCD-EFGH-JKMN", Channel: regcase.ChannelWeb, Category: "other",
		Subject: regcase.Subject{Name: "Acme"}, Description: "d", Status: regcase.ReportReceived, ReceivedAt: fakeTime, UpdatedAt: fakeTime}
}

func fakeCase() *regcase.Case {
	return &regcase.Case{ID: "c1", Number: "CASE-2026-000001", Title: "t", Subject: regcase.Subject{Name: "Acme"}, Category: "other",
		Priority: regcase.PriorityNormal, Status: "open", OpenedAt: fakeTime, UpdatedAt: fakeTime, Version: 3,
		Details: map[string]json.RawMessage{}, SLA: regcase.SLA{DueAt: fakeTime.Add(time.Hour)}}
}

func fakeAttachment() *regcase.Attachment {
	return &regcase.Attachment{ID: "a1", ReportID: "r1", Filename: "f.txt", ContentType: "text/plain", Size: 2, SHA256: []byte{1, 2}, CreatedAt: fakeTime}
}

func fakeMessage() *regcase.MessageView {
	return &regcase.MessageView{ID: "m1", ReportID: "r1", TrackingCode: "ABCD-EFGH-JKMN", Body: "hi", CreatedAt: fakeTime}
}

func fakeDelivery() *regcase.Delivery {
	return &regcase.Delivery{ID: "d1", WebhookID: "w1", EventID: "e1", EventType: "gov.regcase.case.opened", Status: regcase.DeliveryDead, CreatedAt: fakeTime}
}

func fakeDead() *regcase.DeadEvent {
	return &regcase.DeadEvent{ID: 7, Handler: "h", Event: regcase.Event{ID: "e1", Type: "gov.regcase.case.opened", Time: fakeTime}, Reason: "x", DeadAt: fakeTime}
}

func fakeTree() *regcase.TreeCheckpoint {
	return &regcase.TreeCheckpoint{Size: 2, Note: []byte("regcase.local/regcase/audit\n2\nAAAA\n"), Time: fakeTime}
}

func fakeContact() *regcase.OfficerContact {
	return &regcase.OfficerContact{ActorID: "token:t1", Role: regcase.RoleInvestigator, Email: "a@example.org", Notify: true, UpdatedAt: fakeTime}
}

func fakeWebhook() *regcase.Webhook {
	return &regcase.Webhook{ID: "w1", URL: "https://example.org/hook", CreatedAt: fakeTime, CreatedBy: "token:t1"}
}

func (f *fake) Submit(context.Context, regcase.Actor, regcase.SubmitReport, string) (*regcase.Submission, error) {
	if err := f.call("Submit"); err != nil {
		return nil, err
	}
	return &regcase.Submission{Report: fakeReport(), StatusSecret: "secret"}, nil
}

func (f *fake) PublicStatusOf(context.Context, string, string) (*regcase.PublicStatus, error) {
	if err := f.call("PublicStatusOf"); err != nil {
		return nil, err
	}
	return &regcase.PublicStatus{TrackingCode: "ABCD-EFGH-JKMN", Status: "received", ReceivedAt: fakeTime, UpdatedAt: fakeTime}, nil
}

func (f *fake) ListReports(context.Context, regcase.Actor, regcase.ReportFilter) ([]*regcase.Report, error) {
	if err := f.call("ListReports"); err != nil {
		return nil, err
	}
	return []*regcase.Report{fakeReport()}, nil
}

func (f *fake) GetReport(context.Context, regcase.Actor, string, bool) (*regcase.Report, *regcase.Reporter, error) {
	if err := f.call("GetReport"); err != nil {
		return nil, nil, err
	}
	return fakeReport(), nil, nil
}

func (f *fake) Dismiss(context.Context, regcase.Actor, string, string) (*regcase.Report, error) {
	if err := f.call("Dismiss"); err != nil {
		return nil, err
	}
	return fakeReport(), nil
}

func (f *fake) Erase(context.Context, regcase.Actor, string, string) (*regcase.Report, error) {
	if err := f.call("Erase"); err != nil {
		return nil, err
	}
	return fakeReport(), nil
}

func (f *fake) Triage(context.Context, regcase.Actor, string, regcase.TriageInput) (*regcase.Report, *regcase.Case, error) {
	if err := f.call("Triage"); err != nil {
		return nil, nil, err
	}
	return fakeReport(), fakeCase(), nil
}

func (f *fake) Categories() []string { return []string{"other"} }

func (f *fake) ListCases(context.Context, regcase.Actor, regcase.CaseFilter) ([]*regcase.Case, error) {
	if err := f.call("ListCases"); err != nil {
		return nil, err
	}
	return []*regcase.Case{fakeCase()}, nil
}

func (f *fake) caseResult(name string) (*regcase.Case, error) {
	if err := f.call(name); err != nil {
		return nil, err
	}
	return fakeCase(), nil
}

func (f *fake) CreateCase(context.Context, regcase.Actor, regcase.NewCase) (*regcase.Case, error) {
	return f.caseResult("CreateCase")
}

func (f *fake) GetCase(context.Context, regcase.Actor, string) (*regcase.Case, error) {
	return f.caseResult("GetCase")
}

func (f *fake) UpdateCase(context.Context, regcase.Actor, string, int64, regcase.CasePatch) (*regcase.Case, error) {
	return f.caseResult("UpdateCase")
}

func (f *fake) Transition(context.Context, regcase.Actor, string, int64, regcase.TransitionInput) (*regcase.Case, error) {
	return f.caseResult("Transition")
}

func (f *fake) Assign(context.Context, regcase.Actor, string, int64, string) (*regcase.Case, error) {
	return f.caseResult("Assign")
}

func (f *fake) PauseSLA(context.Context, regcase.Actor, string, int64, string) (*regcase.Case, error) {
	return f.caseResult("PauseSLA")
}

func (f *fake) ResumeSLA(context.Context, regcase.Actor, string, int64) (*regcase.Case, error) {
	return f.caseResult("ResumeSLA")
}

func (f *fake) ListNotes(context.Context, regcase.Actor, string, string, int) ([]*regcase.Note, error) {
	if err := f.call("ListNotes"); err != nil {
		return nil, err
	}
	return []*regcase.Note{{ID: "n1", Author: "token:t1", Body: "b", CreatedAt: fakeTime}}, nil
}

func (f *fake) AddNote(context.Context, regcase.Actor, string, string) (*regcase.Note, error) {
	if err := f.call("AddNote"); err != nil {
		return nil, err
	}
	return &regcase.Note{ID: "n1", Author: "token:t1", Body: "b", CreatedAt: fakeTime}, nil
}

func (f *fake) AvailableTransitions(regcase.Actor, *regcase.Case) []regcase.Transition {
	return []regcase.Transition{{To: "investigating", Requires: []string{"assignee"}}}
}

func (f *fake) Now() time.Time { return fakeTime }

func (f *fake) ListAudit(context.Context, regcase.Actor, regcase.AuditFilter) ([]*regcase.AuditRecord, error) {
	if err := f.call("ListAudit"); err != nil {
		return nil, err
	}
	return []*regcase.AuditRecord{{ID: 1, Chain: "case:c1", Seq: 1, Time: fakeTime, Action: "case.opened", Data: json.RawMessage(`{}`)}}, nil
}

func (f *fake) CaseAudit(context.Context, regcase.Actor, string, int64, int) ([]*regcase.AuditRecord, error) {
	if err := f.call("CaseAudit"); err != nil {
		return nil, err
	}
	return []*regcase.AuditRecord{{ID: 1, Chain: "case:c1", Seq: 1, Time: fakeTime, Action: "case.opened", Data: json.RawMessage(`{}`)}}, nil
}

func (f *fake) VerifyAudit(context.Context, regcase.Actor, ed25519.PublicKey) (*regcase.VerifyResult, error) {
	if err := f.call("VerifyAudit"); err != nil {
		return nil, err
	}
	return &regcase.VerifyResult{OK: true}, nil
}

func (f *fake) ListCheckpoints(context.Context, regcase.Actor) ([]*regcase.Checkpoint, error) {
	if err := f.call("ListCheckpoints"); err != nil {
		return nil, err
	}
	return []*regcase.Checkpoint{{ID: 1, Time: fakeTime, Heads: []regcase.ChainHead{{Chain: "case:c1", Seq: 1}}}}, nil
}

func (f *fake) LatestTreeCheckpoint(context.Context, regcase.Actor) (*regcase.TreeCheckpoint, error) {
	if err := f.call("LatestTreeCheckpoint"); err != nil {
		return nil, err
	}
	return fakeTree(), nil
}

func (f *fake) ProveInclusion(context.Context, regcase.Actor, int64, int64) (*regcase.InclusionProof, error) {
	if err := f.call("ProveInclusion"); err != nil {
		return nil, err
	}
	return &regcase.InclusionProof{RecordID: 1, RecordHash: []byte{1}, Checkpoint: fakeTree()}, nil
}

func (f *fake) ProveConsistency(context.Context, regcase.Actor, int64, int64) (*regcase.ConsistencyProof, error) {
	if err := f.call("ProveConsistency"); err != nil {
		return nil, err
	}
	return &regcase.ConsistencyProof{From: fakeTree(), To: fakeTree()}, nil
}

func (f *fake) ListTokens(context.Context, regcase.Actor) ([]*regcase.APIToken, error) {
	if err := f.call("ListTokens"); err != nil {
		return nil, err
	}
	return []*regcase.APIToken{{ID: "t1", Name: "n", Role: regcase.RoleAdmin, CreatedAt: fakeTime}}, nil
}

func (f *fake) CreateToken(context.Context, regcase.Actor, string, regcase.Role) (*regcase.APIToken, string, error) {
	if err := f.call("CreateToken"); err != nil {
		return nil, "", err
	}
	return &regcase.APIToken{ID: "t2", Name: "n", Role: regcase.RoleAuditor, CreatedAt: fakeTime}, "rct_new", nil
}

func (f *fake) RevokeToken(context.Context, regcase.Actor, string) error {
	return f.call("RevokeToken")
}

func (f *fake) ListWebhooks(context.Context, regcase.Actor) ([]*regcase.Webhook, error) {
	if err := f.call("ListWebhooks"); err != nil {
		return nil, err
	}
	return []*regcase.Webhook{fakeWebhook()}, nil
}

func (f *fake) CreateWebhook(context.Context, regcase.Actor, regcase.NewWebhook) (*regcase.Webhook, string, error) {
	if err := f.call("CreateWebhook"); err != nil {
		return nil, "", err
	}
	return fakeWebhook(), "whsec_x", nil
}

func (f *fake) GetWebhook(context.Context, regcase.Actor, string) (*regcase.Webhook, error) {
	if err := f.call("GetWebhook"); err != nil {
		return nil, err
	}
	return fakeWebhook(), nil
}

func (f *fake) DeleteWebhook(context.Context, regcase.Actor, string) error {
	return f.call("DeleteWebhook")
}

func (f *fake) ListDeliveries(context.Context, regcase.Actor, regcase.DeliveryFilter) ([]*regcase.Delivery, error) {
	if err := f.call("ListDeliveries"); err != nil {
		return nil, err
	}
	return []*regcase.Delivery{fakeDelivery()}, nil
}

func (f *fake) GetDelivery(context.Context, regcase.Actor, string, string) (*regcase.Delivery, []*regcase.DeliveryAttempt, error) {
	if err := f.call("GetDelivery"); err != nil {
		return nil, nil, err
	}
	return fakeDelivery(), []*regcase.DeliveryAttempt{{At: fakeTime, StatusCode: 500}}, nil
}

func (f *fake) Redeliver(context.Context, regcase.Actor, string, string) (*regcase.Delivery, error) {
	if err := f.call("Redeliver"); err != nil {
		return nil, err
	}
	return fakeDelivery(), nil
}

func (f *fake) ListDeadEvents(context.Context, regcase.Actor, regcase.DeadEventFilter) ([]*regcase.DeadEvent, error) {
	if err := f.call("ListDeadEvents"); err != nil {
		return nil, err
	}
	return []*regcase.DeadEvent{fakeDead()}, nil
}

func (f *fake) GetDeadEvent(context.Context, regcase.Actor, int64) (*regcase.DeadEvent, error) {
	if err := f.call("GetDeadEvent"); err != nil {
		return nil, err
	}
	return fakeDead(), nil
}

func (f *fake) ReplayDeadEvent(context.Context, regcase.Actor, int64) (*regcase.DeadEvent, error) {
	if err := f.call("ReplayDeadEvent"); err != nil {
		return nil, err
	}
	return fakeDead(), nil
}

func (f *fake) GetContact(context.Context, regcase.Actor) (*regcase.OfficerContact, error) {
	if err := f.call("GetContact"); err != nil {
		return nil, err
	}
	return fakeContact(), nil
}

func (f *fake) SetContact(context.Context, regcase.Actor, regcase.ContactInput) (*regcase.OfficerContact, error) {
	if err := f.call("SetContact"); err != nil {
		return nil, err
	}
	return fakeContact(), nil
}

func (f *fake) PublicThread(context.Context, regcase.Actor, string, string) (*regcase.Thread, error) {
	if err := f.call("PublicThread"); err != nil {
		return nil, err
	}
	return &regcase.Thread{Report: fakeReport(), Messages: []*regcase.MessageView{fakeMessage()}, Attachments: []*regcase.Attachment{fakeAttachment()}}, nil
}

func (f *fake) PostPublicMessage(context.Context, regcase.Actor, string, string, string) (*regcase.MessageView, error) {
	if err := f.call("PostPublicMessage"); err != nil {
		return nil, err
	}
	return fakeMessage(), nil
}

func (f *fake) CaseMessages(context.Context, regcase.Actor, string) (*regcase.CaseThread, error) {
	if err := f.call("CaseMessages"); err != nil {
		return nil, err
	}
	return &regcase.CaseThread{Case: fakeCase(), Messages: []*regcase.MessageView{fakeMessage()}, Unread: 1}, nil
}

func (f *fake) PostCaseMessage(context.Context, regcase.Actor, string, string, string) (*regcase.MessageView, error) {
	if err := f.call("PostCaseMessage"); err != nil {
		return nil, err
	}
	return fakeMessage(), nil
}

func (f *fake) ListCaseAttachments(context.Context, regcase.Actor, string) ([]*regcase.Attachment, error) {
	if err := f.call("ListCaseAttachments"); err != nil {
		return nil, err
	}
	return []*regcase.Attachment{fakeAttachment()}, nil
}

func (f *fake) ListReportAttachments(context.Context, regcase.Actor, string) ([]*regcase.Attachment, error) {
	if err := f.call("ListReportAttachments"); err != nil {
		return nil, err
	}
	return []*regcase.Attachment{fakeAttachment()}, nil
}

func (f *fake) AddPublicAttachment(_ context.Context, _ regcase.Actor, _, _, _ string, body io.Reader) (*regcase.Attachment, error) {
	if err := f.call("AddPublicAttachment"); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return nil, regcase.Errorf(regcase.ETooLarge, "too large")
	}
	return fakeAttachment(), nil
}

func (f *fake) AddCaseAttachment(_ context.Context, _ regcase.Actor, _, _ string, body io.Reader) (*regcase.Attachment, error) {
	if err := f.call("AddCaseAttachment"); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return nil, regcase.Errorf(regcase.ETooLarge, "too large")
	}
	return fakeAttachment(), nil
}

func (f *fake) OpenAttachment(context.Context, regcase.Actor, string) (*regcase.Attachment, io.Reader, error) {
	if err := f.call("OpenAttachment"); err != nil {
		return nil, nil, err
	}
	return fakeAttachment(), strings.NewReader("hi"), nil
}

func (f *fake) AttachmentMaxBytes() int64 { return 1 << 10 }

func (f *fake) Authenticate(_ context.Context, secret string) (regcase.Actor, error) {
	if f.authErr != nil {
		return regcase.Actor{}, f.authErr
	}
	role, ok := strings.CutPrefix(secret, regcase.TokenPrefix)
	if !ok {
		return regcase.Actor{}, regcase.Errorf(regcase.EUnauthorized, "invalid or revoked token")
	}
	return regcase.Actor{ID: "token:" + role, Name: role, Role: regcase.Role(role)}, nil
}

func (f *fake) KeptAddr(a regcase.Actor) string {
	if a.Role == regcase.RoleAnonymous {
		return ""
	}
	return a.Addr
}
