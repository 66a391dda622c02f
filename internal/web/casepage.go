package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

const auditPage = 200

// buildCasePage loads a case and everything its page shows. key names the
// form the officer just sent (kept with what they typed), or "".
func (c *Console) buildCasePage(ctx context.Context, r *http.Request, s *session, id, key string, kept *form) (*casePageView, error) {
	a := s.actor
	cs, err := c.svc.GetCase(ctx, a, id)
	if err != nil {
		return nil, err
	}
	names, err := c.svc.ActorNames(ctx)
	if err != nil {
		return nil, err
	}
	final := c.lc.IsFinal(cs.Status)
	v := &casePageView{base: officerBase(s, cs.Number+": "+cs.Title), Case: cs, Final: final, SLA: c.slaOf(cs, c.now()),
		Details: c.details(cs), names: names, AssigneeName: displayName(names, cs.Assignee)}
	formFor := func(k string, def url.Values) *form {
		if k == key && kept != nil {
			return kept
		}
		return newForm(def)
	}
	for _, t := range c.lc.Available(a, cs.Status, cs.Assignee) {
		tv := c.transitionForm(s, cs, t, formFor("t-"+t.To, nil))
		tv.Kept = kept != nil && key == "t-"+t.To
		v.Transitions = append(v.Transitions, tv)
	}
	if strings.HasPrefix(key, "t-") && kept != nil && !slices.ContainsFunc(v.Transitions, func(t transitionView) bool { return t.ID == key }) {
		// The officer's action is no longer possible: show what they typed.
		v.KeptTo = strings.TrimPrefix(key, "t-")
		for k, vs := range kept.Values {
			if k == "to" || len(vs) == 0 || strings.TrimSpace(vs[0]) == "" {
				continue
			}
			v.Kept = append(v.Kept, keptValue{Label: keptLabel(k), Value: vs[0]})
		}
		slices.SortFunc(v.Kept, func(x, y keptValue) int { return strings.Compare(x.Label, y.Label) })
	}
	if !final {
		v.CanAssign = c.lc.CanCaseAction(a, regcase.ActCaseAssign, cs.Assignee)
		v.AssignSelf = a.Role == regcase.RoleInvestigator
		if v.AssignSelf && cs.Assignee == a.ID {
			v.CanAssign = false
		}
		v.Assign = formFor("assign", url.Values{"assignee": {v.AssigneeName}})
		v.CanSLA = c.lc.CanCaseAction(a, regcase.ActCaseSLA, cs.Assignee)
		v.Pause = formFor("pause", nil)
		v.CanEdit = c.lc.CanCaseAction(a, regcase.ActCaseUpdate, cs.Assignee)
		v.Edit = formFor("edit", url.Values{"title": {cs.Title}, "priority": {string(cs.Priority)}})
		// Only what the case rules let this officer choose (no lower
		// priority for an investigator): never a choice the server refuses.
		for _, p := range c.svc.PriorityChoices(a, cs) {
			v.EditPriorities = append(v.EditPriorities, string(p))
		}
	}
	v.CanAddNote = regcase.Can(a.Role, regcase.ActNoteCreate)
	v.Note = formFor("note", nil)
	if regcase.Can(a.Role, regcase.ActNoteRead) {
		v.CanNotes = true
		if v.Notes, err = c.svc.ListNotes(ctx, a, cs.ID, "", regcase.MaxLimit); err != nil {
			return nil, err
		}
	}
	for i, rid := range cs.ReportIDs {
		if i == 50 {
			break
		}
		rep, _, err := c.svc.GetReport(ctx, a, rid, false)
		if err != nil {
			return nil, err
		}
		v.Reports = append(v.Reports, rep)
	}
	if err := c.channelOf(ctx, s, v, formFor); err != nil {
		return nil, err
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("audit_after"), 10, 64)
	recs, err := c.svc.CaseAudit(ctx, a, cs.ID, after, auditPage)
	if err != nil {
		return nil, err
	}
	v.Audit = timeline(recs, v.names)
	if len(recs) == auditPage {
		v.AuditNext = "/console/cases/" + cs.ID + "?audit_after=" + strconv.FormatInt(recs[len(recs)-1].ID, 10) + "#timeline"
	}
	return v, nil
}

// changesSince lists the case's audited changes that produced a version
// after from: what the officer did not see when their form was made.
func (c *Console) changesSince(ctx context.Context, a regcase.Actor, caseID string, from int64) ([]timelineEntry, error) {
	var out []*regcase.AuditRecord
	after := int64(0)
	for range 20 { // at most 4,000 records
		recs, err := c.svc.CaseAudit(ctx, a, caseID, after, regcase.MaxLimit)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if auditVersion(r) > from {
				out = append(out, r)
			}
		}
		if len(recs) < regcase.MaxLimit {
			break
		}
		after = recs[len(recs)-1].ID
	}
	names, err := c.svc.ActorNames(ctx)
	if err != nil {
		return nil, err
	}
	return timeline(out, names), nil
}

func keptLabel(k string) string {
	name, sub, dotted := strings.Cut(k, ".")
	if l, ok := fieldLabels[name]; ok {
		if dotted {
			return l + " (" + sub + ")"
		}
		return l
	}
	return humanize(k)
}

func (c *Console) casePage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActCaseRead) {
		return
	}
	v, err := c.buildCasePage(r.Context(), r, s, r.PathValue("id"), "", nil)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "case.html", v)
}

// keptForm is what the officer sent, minus the hidden plumbing.
func keptForm(r *http.Request) *form {
	vals := url.Values{}
	for k, vs := range r.PostForm {
		if k != "csrf" && k != "version" {
			vals[k] = vs
		}
	}
	return newForm(vals)
}

// formVersion is the case version the form was rendered with. Zero would
// mean "any version" to the domain, so it is never accepted from a form.
func formVersion(r *http.Request) int64 {
	v, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err != nil || v < 1 {
		return -1
	}
	return v
}

// caseAction runs one mutation of a case from a form. On success it
// returns to the case page with msg; on a stale version it shows the case
// as it is now, says what changed, and keeps what the officer typed; on a
// fixable error it shows the form again with the message by the field.
func (c *Console) caseAction(w http.ResponseWriter, r *http.Request, s *session, act regcase.Action, key string, fields []string,
	f *form, do func(version int64) (*regcase.Case, string, error)) {
	if !c.allowed(w, r, s, act) {
		return
	}
	id := r.PathValue("id")
	var err error
	if !f.HasErrors() {
		version := formVersion(r)
		if key == "note" || key == "message" || key == "upload" {
			version = 1 // these leave the case as it is: any version will do
		}
		if version < 0 {
			err = regcase.Errorf(regcase.EPreconditionFailed, "the form did not say which version of the case it was made for")
		} else {
			var msg string
			var cs *regcase.Case
			if cs, msg, err = do(version); err == nil {
				c.redirectWith(w, r, s, "/console/cases/"+url.PathEscape(cs.ID), msg)
				return
			}
		}
	}
	status := http.StatusUnprocessableEntity
	stale := ""
	switch code := regcase.ErrorCodeOf(err); code {
	case "":
	case regcase.EPreconditionFailed:
		status = http.StatusPreconditionFailed
		stale = "This case changed while you were working on it, so nothing was saved. The page now shows the case as it is, and what you typed is kept in its form below. Check it against the changes and send it again."
	case regcase.EInvalid, regcase.EConflict:
		if code == regcase.EConflict {
			status = http.StatusConflict
		}
		field, msg, _ := formError(err)
		f.fail(field, msg, fields...)
	default:
		c.fail(w, r, s, err)
		return
	}
	v, err := c.buildCasePage(r.Context(), r, s, id, key, f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if stale != "" {
		v.Stale = stale
		if from := formVersion(r); from > 0 {
			if v.Changes, err = c.changesSince(r.Context(), s.actor, id, from); err != nil {
				c.fail(w, r, s, err)
				return
			}
		}
	}
	c.render(w, r, status, "case.html", v)
}

func (c *Console) caseTransition(w http.ResponseWriter, r *http.Request, s *session) {
	f := keptForm(r)
	to := f.Get("to")
	var fields []string
	for _, t := range c.lc.Transitions {
		if t.To == to {
			fields = append(fields, t.Requires...)
		}
	}
	in := regcase.TransitionInput{To: to, Assignee: strings.TrimSpace(f.Get("assignee")), Findings: strings.TrimSpace(f.Get("findings")),
		Reason: strings.TrimSpace(f.Get("reason")), Resolution: f.Get("resolution"),
		AppealReference: strings.TrimSpace(f.Get("appeal_reference")), Decision: strings.TrimSpace(f.Get("decision"))}
	in.ProposedAction, _ = parseAction(f, regcase.FieldProposedAction)
	in.Action, _ = parseAction(f, regcase.FieldAction)
	c.caseAction(w, r, s, regcase.ActCaseTransition, "t-"+to, fields, f, func(version int64) (*regcase.Case, string, error) {
		cs, err := c.svc.Transition(r.Context(), s.actor, r.PathValue("id"), version, in)
		if err != nil {
			return nil, "", err
		}
		return cs, "Case " + cs.Number + " is now " + strings.ToLower(humanize(cs.Status)) + ".", nil
	})
}

func (c *Console) caseAssign(w http.ResponseWriter, r *http.Request, s *session) {
	f := keptForm(r)
	assignee := strings.TrimSpace(f.Get("assignee"))
	if assignee == "" {
		f.Errors["assignee"] = "Give the sign-in name of the officer who takes the case."
	}
	c.caseAction(w, r, s, regcase.ActCaseAssign, "assign", []string{"assignee"}, f, func(version int64) (*regcase.Case, string, error) {
		cs, err := c.svc.Assign(r.Context(), s.actor, r.PathValue("id"), version, assignee)
		if err != nil {
			return nil, "", err
		}
		return cs, "Case " + cs.Number + " is assigned to " + assignee + ".", nil
	})
}

func (c *Console) caseEdit(w http.ResponseWriter, r *http.Request, s *session) {
	f := keptForm(r)
	title, prio := strings.TrimSpace(f.Get("title")), regcase.Priority(f.Get("priority"))
	if title == "" {
		f.Errors["title"] = "The title cannot be empty."
	}
	c.caseAction(w, r, s, regcase.ActCaseUpdate, "edit", []string{"title", "priority"}, f, func(version int64) (*regcase.Case, string, error) {
		cs, err := c.svc.UpdateCase(r.Context(), s.actor, r.PathValue("id"), version, regcase.CasePatch{Title: &title, Priority: &prio})
		if err != nil {
			return nil, "", err
		}
		return cs, "Case " + cs.Number + " updated.", nil
	})
}

func (c *Console) caseSLA(w http.ResponseWriter, r *http.Request, s *session) {
	f := keptForm(r)
	op := f.Get("op")
	reason := strings.TrimSpace(f.Get("reason"))
	key := "pause"
	if op == "resume" {
		key = "resume"
	} else if reason == "" {
		f.Errors["reason"] = "Say what the case is waiting for."
	}
	c.caseAction(w, r, s, regcase.ActCaseSLA, key, []string{"reason"}, f, func(version int64) (*regcase.Case, string, error) {
		if op == "resume" {
			cs, err := c.svc.ResumeSLA(r.Context(), s.actor, r.PathValue("id"), version)
			if err != nil {
				return nil, "", err
			}
			return cs, "The SLA clock runs again; the due date moved by the paused time.", nil
		}
		cs, err := c.svc.PauseSLA(r.Context(), s.actor, r.PathValue("id"), version, reason)
		if err != nil {
			return nil, "", err
		}
		return cs, "The SLA clock is paused.", nil
	})
}

// caseNote adds a note. Notes do not change the case's version, so the
// form carries none.
func (c *Console) caseNote(w http.ResponseWriter, r *http.Request, s *session) {
	f := keptForm(r)
	body := strings.TrimSpace(f.Get("body"))
	if body == "" {
		f.Errors["body"] = "Write the note first."
	}
	c.caseAction(w, r, s, regcase.ActNoteCreate, "note", []string{"body"}, f, func(int64) (*regcase.Case, string, error) {
		id := r.PathValue("id")
		if _, err := c.svc.AddNote(r.Context(), s.actor, id, body); err != nil {
			return nil, "", err
		}
		return &regcase.Case{ID: id}, "Note added.", nil
	})
}
