package httpapi

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// CaseBody is a case as the API shows it, with the transitions the caller
// may perform now.
type CaseBody struct {
	ID          string                     `json:"id"`
	Number      string                     `json:"number"`
	Title       string                     `json:"title"`
	Subject     regcase.Subject            `json:"subject"`
	Category    string                     `json:"category"`
	Priority    regcase.Priority           `json:"priority"`
	Status      string                     `json:"status"`
	Assignee    string                     `json:"assignee,omitempty"`
	OpenedAt    time.Time                  `json:"opened_at"`
	UpdatedAt   time.Time                  `json:"updated_at"`
	ClosedAt    *time.Time                 `json:"closed_at,omitempty"`
	Resolution  string                     `json:"resolution,omitempty"`
	Details     map[string]json.RawMessage `json:"details"`
	SLA         SLABody                    `json:"sla"`
	Deadlines   DeadlinesBody              `json:"deadlines" doc:"statutory deadlines: acknowledge (first officer action) and feedback (first status decision)"`
	Version     int64                      `json:"version"`
	ETag        string                     `json:"etag"`
	ReportIDs   []string                   `json:"report_ids,omitempty"`
	Transitions []TransitionBody           `json:"transitions" doc:"what the caller may do now, from the lifecycle"`
}

// SLABody is the SLA clock of a case.
type SLABody struct {
	DueAt         time.Time  `json:"due_at"`
	Paused        bool       `json:"paused"`
	PausedAt      *time.Time `json:"paused_at,omitempty"`
	PauseReason   string     `json:"pause_reason,omitempty"`
	PausedSeconds int64      `json:"paused_seconds"`
	Breached      bool       `json:"breached"`
	BreachedAt    *time.Time `json:"breached_at,omitempty"`
}

// DeadlinesBody holds a case's statutory deadlines.
type DeadlinesBody struct {
	Acknowledge DeadlineBody `json:"acknowledge"`
	Feedback    DeadlineBody `json:"feedback"`
}

// DeadlineBody is one statutory deadline.
type DeadlineBody struct {
	State      string     `json:"state" enum:"not_tracked,pending,overdue,met,met_late"`
	DueAt      *time.Time `json:"due_at,omitempty"`
	MetAt      *time.Time `json:"met_at,omitempty"`
	BreachedAt *time.Time `json:"breached_at,omitempty"`
}

func deadlineBody(d regcase.Deadline, now time.Time) DeadlineBody {
	return DeadlineBody{State: d.State(now), DueAt: d.DueAt, MetAt: d.MetAt, BreachedAt: d.BreachedAt}
}

// TransitionBody is one transition the caller may take.
type TransitionBody struct {
	To          string   `json:"to"`
	Requires    []string `json:"requires"`
	Resolutions []string `json:"resolutions,omitempty"`
	Constraint  string   `json:"constraint,omitempty"`
}

func etag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

// parseIfMatch returns the version an If-Match names; 0 means "*".
func parseIfMatch(h string) (int64, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, regcase.Errorf(regcase.EPreconditionRequired, "If-Match is required: send the case's ETag")
	}
	if h == "*" {
		return 0, nil
	}
	v := strings.TrimPrefix(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), "v")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, regcase.Errorf(regcase.EPreconditionFailed, "If-Match %q is not an ETag of this case", h)
	}
	return n, nil
}

func (s *server) caseBody(a regcase.Actor, c *regcase.Case) *CaseBody {
	b := &CaseBody{
		ID: c.ID, Number: c.Number, Title: c.Title, Subject: c.Subject, Category: c.Category, Priority: c.Priority,
		Status: c.Status, Assignee: c.Assignee, OpenedAt: c.OpenedAt, UpdatedAt: c.UpdatedAt, ClosedAt: c.ClosedAt,
		Resolution: c.Resolution, Details: c.Details, Version: c.Version, ETag: etag(c.Version), ReportIDs: c.ReportIDs,
		SLA: SLABody{DueAt: c.SLA.DueAt, Paused: c.SLA.PausedAt != nil, PausedAt: c.SLA.PausedAt, PauseReason: c.SLA.PauseReason,
			PausedSeconds: int64(c.SLA.PausedTotal.Seconds()), Breached: c.SLA.BreachedAt != nil, BreachedAt: c.SLA.BreachedAt},
		Transitions: []TransitionBody{},
	}
	now := s.svc.Now()
	b.Deadlines = DeadlinesBody{Acknowledge: deadlineBody(c.Deadlines.Acknowledge, now), Feedback: deadlineBody(c.Deadlines.Feedback, now)}
	if b.Details == nil {
		b.Details = map[string]json.RawMessage{}
	}
	for _, t := range s.svc.AvailableTransitions(a, c) {
		tb := TransitionBody{To: t.To, Requires: t.Requires, Resolutions: t.Resolutions}
		for _, la := range t.Actors {
			if la.Role == a.Role {
				tb.Constraint = string(la.Constraint)
			}
		}
		b.Transitions = append(b.Transitions, tb)
	}
	return b
}

type caseOutput struct {
	ETag string `header:"ETag"`
	Body *CaseBody
}

func (s *server) caseOut(ctx context.Context, c *regcase.Case, err error) (*caseOutput, error) {
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &caseOutput{ETag: etag(c.Version), Body: s.caseBody(actorFrom(ctx), c)}, nil
}

type listCasesInput struct {
	Status     string    `query:"status" maxLength:"64"`
	Priority   string    `query:"priority" enum:"low,normal,high,critical"`
	Assignee   string    `query:"assignee" maxLength:"200"`
	Category   string    `query:"category" maxLength:"100"`
	Subject    string    `query:"subject" maxLength:"300"`
	OpenedFrom time.Time `query:"opened_from" doc:"RFC 3339, inclusive"`
	OpenedTo   time.Time `query:"opened_to" doc:"RFC 3339, exclusive"`
	DueBefore  time.Time `query:"due_before" doc:"RFC 3339"`
	Q          string    `query:"q" maxLength:"200" doc:"free-text search in title, number and subject"`
	Cursor     string    `query:"cursor" maxLength:"64"`
	Limit      int       `query:"limit" minimum:"1" maximum:"200" default:"50"`
}

type listCasesOutput struct {
	Body struct {
		Items      []*CaseBody `json:"items"`
		NextCursor string      `json:"next_cursor,omitempty"`
	}
}

type createCaseInput struct {
	Body struct {
		Title    string           `json:"title" minLength:"1" maxLength:"300"`
		Subject  regcase.Subject  `json:"subject"`
		Category string           `json:"category" minLength:"1" maxLength:"100"`
		Priority regcase.Priority `json:"priority,omitempty" enum:"low,normal,high,critical"`
	}
}

type caseIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type patchCaseInput struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match" doc:"the case's ETag; required"`
	Body    struct {
		Title    *string           `json:"title,omitempty" minLength:"1" maxLength:"300"`
		Priority *regcase.Priority `json:"priority,omitempty" enum:"low,normal,high,critical"`
		Category *string           `json:"category,omitempty" maxLength:"100"`
		Subject  *regcase.Subject  `json:"subject,omitempty"`
	}
}

type transitionInput struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match" doc:"the case's ETag; required"`
	Body    struct {
		To              string                     `json:"to" minLength:"1" maxLength:"64"`
		Assignee        string                     `json:"assignee,omitempty" maxLength:"200"`
		Findings        string                     `json:"findings,omitempty" maxLength:"4000"`
		ProposedAction  *regcase.EnforcementAction `json:"proposed_action,omitempty"`
		Reason          string                     `json:"reason,omitempty" maxLength:"4000"`
		Action          *regcase.EnforcementAction `json:"action,omitempty"`
		Resolution      string                     `json:"resolution,omitempty" maxLength:"64"`
		AppealReference string                     `json:"appeal_reference,omitempty" maxLength:"4000"`
		Decision        string                     `json:"decision,omitempty" maxLength:"4000"`
	}
}

type assignInput struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match"`
	Body    struct {
		Assignee string `json:"assignee" minLength:"1" maxLength:"200"`
	}
}

type pauseInput struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match"`
	Body    struct {
		Reason string `json:"reason" minLength:"1" maxLength:"4000"`
	}
}

type resumeInput struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match"`
}

// NoteBody is an internal note.
type NoteBody struct {
	ID        string    `json:"id"`
	Author    string    `json:"author"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

type listNotesInput struct {
	ID     string `path:"id" maxLength:"64"`
	Cursor string `query:"cursor" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
}

type listNotesOutput struct {
	Body struct {
		Items      []NoteBody `json:"items"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}
}

type addNoteInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Body string `json:"body" minLength:"1" maxLength:"10000"`
	}
}

type noteOutput struct{ Body NoteBody }

// listCases serves list-cases.
func (s *server) listCases(ctx context.Context, in *listCasesInput) (*listCasesOutput, error) {
	a := actorFrom(ctx)
	cs, err := s.svc.ListCases(ctx, a, regcase.CaseFilter{Status: in.Status, Priority: regcase.Priority(in.Priority),
		Assignee: in.Assignee, Category: in.Category, Subject: in.Subject, OpenedFrom: optTime(in.OpenedFrom),
		OpenedTo: optTime(in.OpenedTo), DueBefore: optTime(in.DueBefore), Query: in.Q, Cursor: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &listCasesOutput{}
	out.Body.Items = make([]*CaseBody, 0, len(cs))
	for _, c := range cs {
		out.Body.Items = append(out.Body.Items, s.caseBody(a, c))
	}
	if len(cs) == regcase.PageLimit(in.Limit) {
		out.Body.NextCursor = cs[len(cs)-1].ID
	}
	return out, nil
}

// createCase serves create-case.
func (s *server) createCase(ctx context.Context, in *createCaseInput) (*caseOutput, error) {
	c, err := s.svc.CreateCase(ctx, actorFrom(ctx), regcase.NewCase{Title: in.Body.Title, Subject: in.Body.Subject,
		Category: in.Body.Category, Priority: in.Body.Priority})
	return s.caseOut(ctx, c, err)
}

// getCase serves get-case.
func (s *server) getCase(ctx context.Context, in *caseIDInput) (*caseOutput, error) {
	c, err := s.svc.GetCase(ctx, actorFrom(ctx), in.ID)
	return s.caseOut(ctx, c, err)
}

// updateCase serves update-case.
func (s *server) updateCase(ctx context.Context, in *patchCaseInput) (*caseOutput, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	c, err := s.svc.UpdateCase(ctx, actorFrom(ctx), in.ID, v, regcase.CasePatch{Title: in.Body.Title,
		Priority: in.Body.Priority, Category: in.Body.Category, Subject: in.Body.Subject})
	return s.caseOut(ctx, c, err)
}

// transitionCase serves transition-case.
func (s *server) transitionCase(ctx context.Context, in *transitionInput) (*caseOutput, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	b := in.Body
	c, err := s.svc.Transition(ctx, actorFrom(ctx), in.ID, v, regcase.TransitionInput{To: b.To, Assignee: b.Assignee,
		Findings: b.Findings, ProposedAction: b.ProposedAction, Reason: b.Reason, Action: b.Action,
		Resolution: b.Resolution, AppealReference: b.AppealReference, Decision: b.Decision})
	return s.caseOut(ctx, c, err)
}

// assignCase serves assign-case.
func (s *server) assignCase(ctx context.Context, in *assignInput) (*caseOutput, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	c, err := s.svc.Assign(ctx, actorFrom(ctx), in.ID, v, in.Body.Assignee)
	return s.caseOut(ctx, c, err)
}

// pauseCaseSla serves pause-case-sla.
func (s *server) pauseCaseSla(ctx context.Context, in *pauseInput) (*caseOutput, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	c, err := s.svc.PauseSLA(ctx, actorFrom(ctx), in.ID, v, in.Body.Reason)
	return s.caseOut(ctx, c, err)
}

// resumeCaseSla serves resume-case-sla.
func (s *server) resumeCaseSla(ctx context.Context, in *resumeInput) (*caseOutput, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	c, err := s.svc.ResumeSLA(ctx, actorFrom(ctx), in.ID, v)
	return s.caseOut(ctx, c, err)
}

// listNotes serves list-notes.
func (s *server) listNotes(ctx context.Context, in *listNotesInput) (*listNotesOutput, error) {
	ns, err := s.svc.ListNotes(ctx, actorFrom(ctx), in.ID, in.Cursor, in.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &listNotesOutput{}
	out.Body.Items = make([]NoteBody, 0, len(ns))
	for _, n := range ns {
		out.Body.Items = append(out.Body.Items, NoteBody{ID: n.ID, Author: n.Author, Body: n.Body, CreatedAt: n.CreatedAt})
	}
	if len(ns) == regcase.PageLimit(in.Limit) {
		out.Body.NextCursor = ns[len(ns)-1].ID
	}
	return out, nil
}

// addNote serves add-note.
func (s *server) addNote(ctx context.Context, in *addNoteInput) (*noteOutput, error) {
	n, err := s.svc.AddNote(ctx, actorFrom(ctx), in.ID, in.Body.Body)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &noteOutput{Body: NoteBody{ID: n.ID, Author: n.Author, Body: n.Body, CreatedAt: n.CreatedAt}}, nil
}
