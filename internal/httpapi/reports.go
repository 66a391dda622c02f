package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/regcase/regcase/internal/regcase"
)

// ReportBody is a report as officers see it (reporter only on request).
type ReportBody struct {
	ID             string               `json:"id"`
	TrackingCode   string               `json:"tracking_code"`
	Channel        regcase.Channel      `json:"channel"`
	Category       string               `json:"category"`
	Subject        regcase.Subject      `json:"subject"`
	Description    string               `json:"description"`
	Location       string               `json:"location,omitempty"`
	OccurredAt     *time.Time           `json:"occurred_at,omitempty"`
	ReceivedAt     time.Time            `json:"received_at"`
	UpdatedAt      time.Time            `json:"updated_at"`
	Status         regcase.ReportStatus `json:"status" enum:"received,triaged,dismissed"`
	DismissReason  string               `json:"dismiss_reason,omitempty"`
	CaseID         string               `json:"case_id,omitempty"`
	HasReporter    bool                 `json:"has_reporter"`
	ReporterErased bool                 `json:"reporter_erased"`
	Reporter       *regcase.Reporter    `json:"reporter,omitempty" doc:"only with include_reporter=true, for roles that may read PII; every such read is audited"`
}

func reportBody(r *regcase.Report, rep *regcase.Reporter) *ReportBody {
	return &ReportBody{
		ID: r.ID, TrackingCode: r.TrackingCode, Channel: r.Channel, Category: r.Category, Subject: r.Subject,
		Description: r.Description, Location: r.Location, OccurredAt: r.OccurredAt, ReceivedAt: r.ReceivedAt,
		UpdatedAt: r.UpdatedAt, Status: r.Status, DismissReason: r.DismissReason, CaseID: r.CaseID,
		HasReporter: r.HasReporter, ReporterErased: r.ErasedAt != nil, Reporter: rep,
	}
}

type submitInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"200" doc:"replaying the same key and body returns the original result; the same key with another body is a 422"`
	Body           struct {
		Channel     regcase.Channel   `json:"channel" enum:"web,api,phone,email,inspection"`
		Category    string            `json:"category" minLength:"1" maxLength:"100"`
		Subject     regcase.Subject   `json:"subject"`
		Description string            `json:"description" minLength:"1" maxLength:"10000"`
		Location    string            `json:"location,omitempty" maxLength:"500"`
		OccurredAt  *time.Time        `json:"occurred_at,omitempty"`
		Reporter    *regcase.Reporter `json:"reporter,omitempty" doc:"optional contact details; encrypted at rest"`
	}
}

type submitOutput struct {
	Location string `header:"Location"`
	Replayed string `header:"Idempotent-Replayed"`
	Body     struct {
		ID           string    `json:"id"`
		TrackingCode string    `json:"tracking_code"`
		StatusSecret string    `json:"status_secret" doc:"keep it: it is needed to check the status and is shown only to the submitter"`
		Status       string    `json:"status"`
		ReceivedAt   time.Time `json:"received_at"`
		StatusURL    string    `json:"status_url"`
	}
}

type publicInput struct {
	Tracking string `path:"tracking" maxLength:"20"`
	Secret   string `header:"X-Status-Secret" required:"true" maxLength:"100"`
}

type publicOutput struct {
	Body struct {
		TrackingCode string    `json:"tracking_code"`
		Status       string    `json:"status" enum:"received,under_review,closed"`
		ReceivedAt   time.Time `json:"received_at"`
		UpdatedAt    time.Time `json:"updated_at"`
	}
}

type listReportsInput struct {
	Status       string    `query:"status" enum:"received,triaged,dismissed"`
	Channel      string    `query:"channel" enum:"web,api,phone,email,inspection"`
	Category     string    `query:"category" maxLength:"100"`
	Subject      string    `query:"subject" maxLength:"300"`
	CaseID       string    `query:"case_id" maxLength:"64"`
	ReceivedFrom time.Time `query:"received_from" doc:"RFC 3339, inclusive"`
	ReceivedTo   time.Time `query:"received_to" doc:"RFC 3339, exclusive"`
	Q            string    `query:"q" maxLength:"200" doc:"free-text search in description, subject and location"`
	Cursor       string    `query:"cursor" maxLength:"64"`
	Limit        int       `query:"limit" minimum:"1" maximum:"200" default:"50"`
}

type listReportsOutput struct {
	Body struct {
		Items      []*ReportBody `json:"items"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}
}

type reportIDInput struct {
	ID              string `path:"id" maxLength:"64"`
	IncludeReporter bool   `query:"include_reporter"`
}

type reportOutput struct{ Body *ReportBody }

type reasonInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Reason string `json:"reason" minLength:"1" maxLength:"4000"`
	}
}

type triageInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		CaseID  string `json:"case_id,omitempty" maxLength:"64" doc:"attach to this existing case"`
		NewCase *struct {
			Title    string           `json:"title,omitempty" maxLength:"300"`
			Subject  *regcase.Subject `json:"subject,omitempty"`
			Category string           `json:"category,omitempty" maxLength:"100"`
			Priority regcase.Priority `json:"priority,omitempty" enum:"low,normal,high,critical"`
		} `json:"new_case,omitempty" doc:"open a new case; fields default from the report"`
	}
}

type triageOutput struct {
	Body struct {
		Report *ReportBody `json:"report"`
		Case   *CaseBody   `json:"case"`
	}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// submitReport serves submit-report.
func (s *server) submitReport(ctx context.Context, in *submitInput) (*submitOutput, error) {
	a := actorFrom(ctx)
	if a.Role == regcase.RoleAnonymous {
		if ok, wait := s.intake.Allow(a.Addr); !ok {
			return nil, huma.ErrorWithHeaders(s.fail(ctx, regcase.Errorf(regcase.ERateLimited, "too many submissions; retry later")),
				http.Header{"Retry-After": {strconv.Itoa(int(wait.Seconds()) + 1)}})
		}
	}
	b := in.Body
	sub, err := s.svc.Submit(ctx, a, regcase.SubmitReport{Channel: b.Channel, Category: b.Category, Subject: b.Subject,
		Description: b.Description, Location: b.Location, OccurredAt: b.OccurredAt, Reporter: b.Reporter}, in.IdempotencyKey)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &submitOutput{Location: "/v1/public/reports/" + sub.Report.TrackingCode}
	if sub.Replayed {
		out.Replayed = "true"
	}
	out.Body.ID, out.Body.TrackingCode, out.Body.StatusSecret = sub.Report.ID, sub.Report.TrackingCode, sub.StatusSecret
	out.Body.Status, out.Body.ReceivedAt, out.Body.StatusURL = "received", sub.Report.ReceivedAt, out.Location
	return out, nil
}

// publicReportStatus serves public-report-status.
func (s *server) publicReportStatus(ctx context.Context, in *publicInput) (*publicOutput, error) {
	ps, err := s.svc.PublicStatusOf(ctx, in.Tracking, in.Secret)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &publicOutput{}
	out.Body.TrackingCode, out.Body.Status, out.Body.ReceivedAt, out.Body.UpdatedAt = ps.TrackingCode, ps.Status, ps.ReceivedAt, ps.UpdatedAt
	return out, nil
}

// listReports serves list-reports.
func (s *server) listReports(ctx context.Context, in *listReportsInput) (*listReportsOutput, error) {
	f := regcase.ReportFilter{Status: regcase.ReportStatus(in.Status), Channel: regcase.Channel(in.Channel),
		Category: in.Category, Subject: in.Subject, CaseID: in.CaseID, ReceivedFrom: optTime(in.ReceivedFrom),
		ReceivedTo: optTime(in.ReceivedTo), Query: in.Q, Cursor: in.Cursor, Limit: in.Limit}
	rs, err := s.svc.ListReports(ctx, actorFrom(ctx), f)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &listReportsOutput{}
	out.Body.Items = make([]*ReportBody, 0, len(rs))
	for _, r := range rs {
		out.Body.Items = append(out.Body.Items, reportBody(r, nil))
	}
	if len(rs) == regcase.PageLimit(in.Limit) {
		out.Body.NextCursor = rs[len(rs)-1].ID
	}
	return out, nil
}

// getReport serves get-report.
func (s *server) getReport(ctx context.Context, in *reportIDInput) (*reportOutput, error) {
	r, rep, err := s.svc.GetReport(ctx, actorFrom(ctx), in.ID, in.IncludeReporter)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &reportOutput{Body: reportBody(r, rep)}, nil
}

// dismissReport serves dismiss-report.
func (s *server) dismissReport(ctx context.Context, in *reasonInput) (*reportOutput, error) {
	r, err := s.svc.Dismiss(ctx, actorFrom(ctx), in.ID, in.Body.Reason)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &reportOutput{Body: reportBody(r, nil)}, nil
}

// eraseReporter serves erase-reporter.
func (s *server) eraseReporter(ctx context.Context, in *reasonInput) (*reportOutput, error) {
	r, err := s.svc.Erase(ctx, actorFrom(ctx), in.ID, in.Body.Reason)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &reportOutput{Body: reportBody(r, nil)}, nil
}

// triageReport serves triage-report.
func (s *server) triageReport(ctx context.Context, in *triageInput) (*triageOutput, error) {
	a := actorFrom(ctx)
	ti := regcase.TriageInput{CaseID: in.Body.CaseID}
	if nc := in.Body.NewCase; nc != nil {
		ti.NewCase = &regcase.NewCase{Title: nc.Title, Category: nc.Category, Priority: nc.Priority}
		if nc.Subject != nil {
			ti.NewCase.Subject = *nc.Subject
		}
	}
	r, c, err := s.svc.Triage(ctx, a, in.ID, ti)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &triageOutput{}
	out.Body.Report, out.Body.Case = reportBody(r, nil), s.caseBody(a, c)
	return out, nil
}
