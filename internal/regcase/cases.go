package regcase

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// NewCase is the input for opening a case.
type NewCase struct {
	Title    string   `json:"title"`
	Subject  Subject  `json:"subject"`
	Category string   `json:"category"`
	Priority Priority `json:"priority"`
}

func (s *Service) validateNewCase(in *NewCase) error {
	if err := checkText("title", in.Title, true, 300); err != nil {
		return err
	}
	if err := checkSubject(in.Subject); err != nil {
		return err
	}
	if err := s.checkCategory(in.Category); err != nil {
		return err
	}
	if in.Priority == "" {
		in.Priority = PriorityNormal
	}
	return CheckPriority(in.Priority)
}

// openCase inserts a new case in tx, with its audit record and event.
// received starts the statutory deadlines (the first report's receipt).
func (s *Service) openCase(ctx context.Context, tx Tx, a Actor, in NewCase, now, received time.Time) (*Case, error) {
	n, err := tx.NextCaseNumber(ctx)
	if err != nil {
		return nil, err
	}
	c := &Case{
		ID: s.cfg.NewID(), Number: fmt.Sprintf("CASE-%d-%06d", now.Year(), n),
		Title: in.Title, Subject: in.Subject, Category: in.Category, Priority: in.Priority,
		Status: s.cfg.Lifecycle.Initial, OpenedAt: now, UpdatedAt: now, Version: 1,
		Details: map[string]json.RawMessage{},
		SLA:     SLA{DueAt: now.Add(s.cfg.SLA[in.Priority])},
	}
	s.startDeadlines(c, received)
	if err := tx.InsertCase(ctx, c); err != nil {
		return nil, err
	}
	return c, s.record(ctx, tx, a, now, change{action: "case.opened", entityType: "case", entityID: c.ID,
		data: map[string]any{"number": c.Number, "title": c.Title, "subject": c.Subject, "category": c.Category,
			"priority": c.Priority, "status": c.Status, "due_at": c.SLA.DueAt,
			"acknowledge_due_at": c.Deadlines.Acknowledge.DueAt, "feedback_due_at": c.Deadlines.Feedback.DueAt}, state: caseState(c)})
}

// CreateCase opens a case directly (without a report). Errors: EInvalid.
func (s *Service) CreateCase(ctx context.Context, a Actor, in NewCase) (*Case, error) {
	if err := Authorize(a, ActCaseCreate); err != nil {
		return nil, err
	}
	if err := s.validateNewCase(&in); err != nil {
		return nil, err
	}
	var out *Case
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		c, err := s.openCase(ctx, tx, a, in, now, now)
		out = c
		return err
	})
	return out, err
}

// TriageInput says where a received report goes: into an existing case
// (CaseID) or a new one (NewCase; title, subject and category default from
// the report).
type TriageInput struct {
	CaseID  string
	NewCase *NewCase
}

// Triage links a received report to a new or existing case. Errors:
// EConflict unless the report is received or when the target case is closed,
// ENotFound, EInvalid.
func (s *Service) Triage(ctx context.Context, a Actor, reportID string, in TriageInput) (*Report, *Case, error) {
	if err := Authorize(a, ActReportTriage); err != nil {
		return nil, nil, err
	}
	if (in.CaseID == "") == (in.NewCase == nil) {
		return nil, nil, FieldError("case_id", "give either case_id (attach to an existing case) or new_case, not both")
	}
	var rOut *Report
	var cOut *Case
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		r, err := tx.LockReport(ctx, reportID)
		if err != nil {
			return err
		}
		if r.Status != ReportReceived {
			return Errorf(EConflict, "report is %s; only a received report can be triaged", r.Status)
		}
		now := s.now()
		var c *Case
		if in.NewCase != nil {
			nc := *in.NewCase
			if nc.Title == "" {
				nc.Title = r.Subject.Name + ": " + r.Category
			}
			if nc.Subject.Name == "" {
				nc.Subject = r.Subject
			}
			if nc.Category == "" {
				nc.Category = r.Category
			}
			if err := s.validateNewCase(&nc); err != nil {
				return err
			}
			if c, err = s.openCase(ctx, tx, a, nc, now, r.ReceivedAt); err != nil {
				return err
			}
		} else {
			if c, err = tx.LockCase(ctx, in.CaseID); err != nil {
				return err
			}
			if s.cfg.Lifecycle.IsFinal(c.Status) {
				return Errorf(EConflict, "case %s is %s; reopen it before attaching reports", c.Number, c.Status)
			}
		}
		if err := tx.LinkReport(ctx, c.ID, r.ID, now); err != nil {
			return err
		}
		r.Status, r.CaseID, r.UpdatedAt = ReportTriaged, c.ID, now
		if err := tx.UpdateReport(ctx, r); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, now, change{action: "report.triaged", entityType: "report", entityID: r.ID,
			data: map[string]any{"case_id": c.ID, "case_number": c.Number}, state: s.reportState(r)}); err != nil {
			return err
		}
		if !contains(c.ReportIDs, r.ID) {
			c.ReportIDs = append(c.ReportIDs, r.ID)
		}
		if err := s.record(ctx, tx, a, now, change{action: "case.report_linked", entityType: "case", entityID: c.ID,
			data: map[string]any{"report_id": r.ID, "tracking_code": r.TrackingCode}, state: caseState(c)}); err != nil {
			return err
		}
		rOut, cOut = r, c
		return nil
	})
	return rOut, cOut, err
}

// GetCase returns a case. Errors: ENotFound.
func (s *Service) GetCase(ctx context.Context, a Actor, id string) (*Case, error) {
	if err := Authorize(a, ActCaseRead); err != nil {
		return nil, err
	}
	return s.cfg.Store.GetCase(ctx, id)
}

// ListCases lists cases, newest first, keyset-paginated.
func (s *Service) ListCases(ctx context.Context, a Actor, f CaseFilter) ([]*Case, error) {
	if err := Authorize(a, ActCaseList); err != nil {
		return nil, err
	}
	if f.Status != "" && !s.cfg.Lifecycle.IsState(f.Status) {
		return nil, FieldError("status", "unknown case status %q", f.Status)
	}
	if f.Priority != "" {
		if err := CheckPriority(f.Priority); err != nil {
			return nil, err
		}
	}
	f.Limit = PageLimit(f.Limit)
	return s.cfg.Store.ListCases(ctx, f)
}

// CasePatch is a partial update; nil fields are left alone.
type CasePatch struct {
	Title    *string
	Priority *Priority
	Category *string
	Subject  *Subject
}

// mutateCase locks a case, checks its version, applies fn and writes the
// case, its audit record and its event. fn returns the audit action and data.
func (s *Service) mutateCase(ctx context.Context, a Actor, id string, version int64,
	fn func(c *Case, now time.Time) (string, map[string]any, error)) (*Case, error) {
	var out *Case
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.LockCase(ctx, id)
		if err != nil {
			return err
		}
		if version == 0 { // If-Match: * — any current version
			version = c.Version
		}
		if c.Version != version {
			return Errorf(EPreconditionFailed, "case %s changed since you read it (version %d, yours %d); reload and retry", c.Number, c.Version, version)
		}
		now := s.now()
		action, data, err := fn(c, now)
		if err != nil {
			return err
		}
		if action == "case.transitioned" {
			meetFeedback(a, c, now)
		} else {
			meetAcknowledge(a, c, now)
		}
		c.UpdatedAt = now
		if err := tx.UpdateCase(ctx, c, version); err != nil {
			return err
		}
		c.Version = version + 1
		data["version"] = c.Version
		out = c
		return s.record(ctx, tx, a, now, change{action: action, entityType: "case", entityID: c.ID, data: data, state: caseState(c)})
	})
	return out, err
}

// UpdateCase applies a patch. Lowering the priority needs
// ActCaseLowerPriority. Errors: EPreconditionFailed on a stale version,
// EInvalid, EConflict on a closed case, EForbidden, EObjectForbidden (the
// case_actions rule), ENotFound.
func (s *Service) UpdateCase(ctx context.Context, a Actor, id string, version int64, p CasePatch) (*Case, error) {
	if err := Authorize(a, ActCaseUpdate); err != nil {
		return nil, err
	}
	if p.Title != nil {
		if err := checkText("title", *p.Title, true, 300); err != nil {
			return nil, err
		}
	}
	if p.Priority != nil {
		if err := CheckPriority(*p.Priority); err != nil {
			return nil, err
		}
	}
	if p.Category != nil {
		if err := s.checkCategory(*p.Category); err != nil {
			return nil, err
		}
	}
	if p.Subject != nil {
		if err := checkSubject(*p.Subject); err != nil {
			return nil, err
		}
	}
	return s.mutateCase(ctx, a, id, version, func(c *Case, now time.Time) (string, map[string]any, error) {
		if err := s.cfg.Lifecycle.CheckCaseAction(a, ActCaseUpdate, c.Number, c.Assignee); err != nil {
			return "", nil, err
		}
		if s.cfg.Lifecycle.IsFinal(c.Status) {
			return "", nil, Errorf(EConflict, "case %s is closed; reopen it to change it", c.Number)
		}
		if p.Priority != nil && PriorityRank(*p.Priority) < PriorityRank(c.Priority) {
			if err := s.mayLowerPriority(a, c, *p.Priority); err != nil {
				return "", nil, err
			}
		}
		changed := map[string]any{}
		if p.Title != nil && *p.Title != c.Title {
			c.Title, changed["title"] = *p.Title, *p.Title
		}
		if p.Category != nil && *p.Category != c.Category {
			c.Category, changed["category"] = *p.Category, *p.Category
		}
		if p.Subject != nil && *p.Subject != c.Subject {
			c.Subject, changed["subject"] = *p.Subject, *p.Subject
		}
		if p.Priority != nil && *p.Priority != c.Priority {
			c.Priority, changed["priority"] = *p.Priority, *p.Priority
			c.SLA.DueAt = c.OpenedAt.Add(s.cfg.SLA[c.Priority] + c.SLA.PausedTotal)
			changed["due_at"] = c.SLA.DueAt
			clearBreach(c, now)
		}
		if len(changed) == 0 {
			return "", nil, FieldError("body", "nothing to change")
		}
		return "case.updated", map[string]any{"changed": changed}, nil
	})
}

// mayLowerPriority is the rule for lowering c's priority to to: the role
// needs ActCaseLowerPriority and the lifecycle's case rule must allow it on
// this case. Errors: EForbidden, EObjectForbidden.
func (s *Service) mayLowerPriority(a Actor, c *Case, to Priority) error {
	if err := Authorize(a, ActCaseLowerPriority); err != nil {
		return Errorf(EForbidden, "role %s may not lower a case's priority (%s to %s)", a.Role, c.Priority, to)
	}
	return s.cfg.Lifecycle.CheckCaseAction(a, ActCaseLowerPriority, c.Number, c.Assignee)
}

// PriorityChoices lists, lowest first, the priorities a may give c with
// UpdateCase: its current one and every higher one, and the lower ones only
// when a may lower this case's priority. Forms offer exactly these.
func (s *Service) PriorityChoices(a Actor, c *Case) []Priority {
	lower := s.mayLowerPriority(a, c, PriorityLow) == nil
	var out []Priority
	for _, p := range Priorities {
		if lower || PriorityRank(p) >= PriorityRank(c.Priority) {
			out = append(out, p)
		}
	}
	return out
}

// Transition moves a case through the lifecycle. Errors: EConflict for an
// edge that does not exist, EForbidden, EInvalid for missing fields,
// EPreconditionFailed for a stale version, ENotFound.
func (s *Service) Transition(ctx context.Context, a Actor, id string, version int64, in TransitionInput) (*Case, error) {
	if err := Authorize(a, ActCaseTransition); err != nil {
		return nil, err
	}
	if in.Assignee != "" {
		who, err := s.ResolveAssignee(ctx, FieldAssignee, in.Assignee)
		if err != nil {
			return nil, err
		}
		in.Assignee = who
	}
	return s.mutateCase(ctx, a, id, version, func(c *Case, now time.Time) (string, map[string]any, error) {
		t, err := s.cfg.Lifecycle.Check(a, c.Status, c.Assignee, in)
		if err != nil {
			return "", nil, err
		}
		fields := map[string]any{}
		if c.Details == nil {
			c.Details = map[string]json.RawMessage{}
		}
		for _, f := range t.Requires {
			v := transitionValue(f, in)
			fields[f] = v
			raw, _ := json.Marshal(v)
			c.Details[f] = raw
		}
		from := c.Status
		c.Status = t.To
		if in.Assignee != "" && contains(t.Requires, FieldAssignee) {
			c.Assignee = in.Assignee
		}
		if s.cfg.Lifecycle.IsFinal(t.To) {
			c.Resolution, c.ClosedAt = in.Resolution, &now
			if c.SLA.PausedAt != nil { // a closed case's clock stops
				c.SLA.PausedTotal += now.Sub(*c.SLA.PausedAt)
				c.SLA.PausedAt, c.SLA.PauseReason = nil, ""
			}
		} else if s.cfg.Lifecycle.IsFinal(from) {
			c.Resolution, c.ClosedAt = "", nil
		}
		return "case.transitioned", map[string]any{"from": from, "to": t.To, "fields": fields}, nil
	})
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func transitionValue(f string, in TransitionInput) any {
	switch f {
	case FieldAssignee:
		return in.Assignee
	case FieldFindings:
		return in.Findings
	case FieldProposedAction:
		return in.ProposedAction
	case FieldReason:
		return in.Reason
	case FieldAction:
		return in.Action
	case FieldResolution:
		return in.Resolution
	case FieldAppealReference:
		return in.AppealReference
	case FieldDecision:
		return in.Decision
	}
	return nil
}

// Assign sets a case's assignee. An investigator may only assign a case to
// itself, and only a case that is unassigned or already its own (the
// lifecycle's case_actions); a supervisor to anyone. Errors: EConflict on a
// closed case, EForbidden, EObjectForbidden, EPreconditionFailed, ENotFound.
func (s *Service) Assign(ctx context.Context, a Actor, id string, version int64, assignee string) (*Case, error) {
	if err := Authorize(a, ActCaseAssign); err != nil {
		return nil, err
	}
	if err := checkText("assignee", assignee, true, 200); err != nil {
		return nil, err
	}
	if a.Role == RoleInvestigator && assignee != a.ID && assignee != a.Name {
		return nil, Errorf(EForbidden, "an investigator may only assign a case to itself (%s)", a.ID)
	}
	assignee, err := s.ResolveAssignee(ctx, "assignee", assignee)
	if err != nil {
		return nil, err
	}
	if a.Role == RoleInvestigator && assignee != a.ID {
		return nil, Errorf(EForbidden, "an investigator may only assign a case to itself (%s)", a.ID)
	}
	return s.mutateCase(ctx, a, id, version, func(c *Case, now time.Time) (string, map[string]any, error) {
		if err := s.cfg.Lifecycle.CheckCaseAction(a, ActCaseAssign, c.Number, c.Assignee); err != nil {
			return "", nil, err
		}
		if s.cfg.Lifecycle.IsFinal(c.Status) {
			return "", nil, Errorf(EConflict, "case %s is closed; reopen it to reassign", c.Number)
		}
		from := c.Assignee
		c.Assignee = assignee
		return "case.assigned", map[string]any{"from": from, "to": assignee}, nil
	})
}

// PauseSLA stops a case's SLA clock while it waits on an outside party.
// Errors: EConflict if already paused or closed, EInvalid without a reason.
func (s *Service) PauseSLA(ctx context.Context, a Actor, id string, version int64, reason string) (*Case, error) {
	if err := Authorize(a, ActCaseSLA); err != nil {
		return nil, err
	}
	if err := checkText("reason", reason, true, 4000); err != nil {
		return nil, err
	}
	return s.mutateCase(ctx, a, id, version, func(c *Case, now time.Time) (string, map[string]any, error) {
		if err := s.cfg.Lifecycle.CheckCaseAction(a, ActCaseSLA, c.Number, c.Assignee); err != nil {
			return "", nil, err
		}
		if s.cfg.Lifecycle.IsFinal(c.Status) {
			return "", nil, Errorf(EConflict, "case %s is closed; its clock is stopped", c.Number)
		}
		if c.SLA.PausedAt != nil {
			return "", nil, Errorf(EConflict, "the SLA clock of case %s is already paused", c.Number)
		}
		c.SLA.PausedAt, c.SLA.PauseReason = &now, reason
		return "case.sla_paused", map[string]any{"reason": reason}, nil
	})
}

// ResumeSLA restarts a paused clock; the paused time extends the due date.
// Errors: EConflict if not paused.
func (s *Service) ResumeSLA(ctx context.Context, a Actor, id string, version int64) (*Case, error) {
	if err := Authorize(a, ActCaseSLA); err != nil {
		return nil, err
	}
	return s.mutateCase(ctx, a, id, version, func(c *Case, now time.Time) (string, map[string]any, error) {
		if err := s.cfg.Lifecycle.CheckCaseAction(a, ActCaseSLA, c.Number, c.Assignee); err != nil {
			return "", nil, err
		}
		if c.SLA.PausedAt == nil {
			return "", nil, Errorf(EConflict, "the SLA clock of case %s is not paused", c.Number)
		}
		paused := now.Sub(*c.SLA.PausedAt)
		c.SLA.PausedTotal += paused
		c.SLA.DueAt = c.SLA.DueAt.Add(paused)
		c.SLA.PausedAt, c.SLA.PauseReason = nil, ""
		clearBreach(c, now)
		return "case.sla_resumed", map[string]any{"paused_seconds": int64(paused.Seconds()), "due_at": c.SLA.DueAt}, nil
	})
}

// AddNote adds an internal note to a case. The audit record keeps a keyed
// digest of the note (Keyring.Digest), not its text nor a plain hash that
// would let a reader without note access confirm a guessed text. Errors: EInvalid, ENotFound.
func (s *Service) AddNote(ctx context.Context, a Actor, caseID, body string) (*Note, error) {
	if err := Authorize(a, ActNoteCreate); err != nil {
		return nil, err
	}
	if err := checkText("body", body, true, 10000); err != nil {
		return nil, err
	}
	var out *Note
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.LockCase(ctx, caseID)
		if err != nil {
			return err
		}
		now := s.now()
		n := &Note{ID: s.cfg.NewID(), CaseID: caseID, Author: a.ID, Body: body, CreatedAt: now}
		if err := tx.InsertNote(ctx, n); err != nil {
			return err
		}
		out = n
		return s.record(ctx, tx, a, now, change{action: "case.note_added", entityType: "case", entityID: caseID,
			data: map[string]any{"note_id": n.ID, "body_hmac": fmt.Sprintf("%x", s.cfg.Keyring.Digest("note-body", []byte(body)))}, state: caseState(c)})
	})
	return out, err
}

// ListNotes lists a case's notes, oldest first. Errors: ENotFound.
func (s *Service) ListNotes(ctx context.Context, a Actor, caseID, cursor string, limit int) ([]*Note, error) {
	if err := Authorize(a, ActNoteRead); err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.GetCase(ctx, caseID); err != nil {
		return nil, err
	}
	return s.cfg.Store.ListNotes(ctx, caseID, cursor, PageLimit(limit))
}
