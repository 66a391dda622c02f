package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

type triageView struct {
	base
	Reports  []*regcase.Report
	Next     string
	CanAct   bool
	Status   string
	Statuses []string
	Form     *form
}

// triage is the queue of reports waiting for a decision (or, with the
// status filter, the ones already decided).
func (c *Console) triage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActReportList) {
		return
	}
	q := r.URL.Query()
	status := q.Get("status")
	if status == "" {
		status = string(regcase.ReportReceived)
	}
	v := &triageView{base: officerBase(s, "Triage queue"), CanAct: regcase.Can(s.actor.Role, regcase.ActReportTriage),
		Status: status, Statuses: []string{"received|Waiting", "triaged|Triaged", "dismissed|Dismissed"},
		Form: newForm(url.Values{"status": {status}})}
	switch regcase.ReportStatus(status) {
	case regcase.ReportReceived, regcase.ReportTriaged, regcase.ReportDismissed:
	default:
		v.Form.Errors["status"] = "Choose one of the listed statuses."
		c.render(w, r, http.StatusUnprocessableEntity, "triage.html", v)
		return
	}
	cursor := q.Get("cursor")
	rs, err := c.svc.ListReports(r.Context(), s.actor, regcase.ReportFilter{Status: regcase.ReportStatus(status), Cursor: cursor, Limit: pageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Reports = rs
	if len(rs) == pageSize {
		v.Next = "/console/triage?" + url.Values{"status": {status}, "cursor": {rs[len(rs)-1].ID}}.Encode()
	}
	c.render(w, r, http.StatusOK, "triage.html", v)
}

const pageSize = 50

type reportPageView struct {
	base
	Report     *regcase.Report
	Reporter   *regcase.Reporter
	Case       *regcase.Case
	CanPII     bool
	CanDismiss bool
	CanTriage  bool
	Dismiss    *form
	Triage     *form
	Attach     *form
	Priorities []string
	// Evidence is what the reporter sent (nil when the officer may not
	// see it).
	Evidence []*regcase.Attachment
}

func (c *Console) reportPageView(r *http.Request, s *session, rep *regcase.Report) *reportPageView {
	v := &reportPageView{base: officerBase(s, "Report "+rep.TrackingCode), Report: rep,
		CanPII:     regcase.Can(s.actor.Role, regcase.ActReportReadPII),
		CanDismiss: rep.Status == regcase.ReportReceived && regcase.Can(s.actor.Role, regcase.ActReportDismiss),
		CanTriage:  rep.Status == regcase.ReportReceived && regcase.Can(s.actor.Role, regcase.ActReportTriage),
		Dismiss:    newForm(nil), Triage: newForm(nil), Attach: newForm(nil),
		Priorities: priorityOptions(""),
	}
	if rep.CaseID != "" && regcase.Can(s.actor.Role, regcase.ActCaseRead) {
		if cs, err := c.svc.GetCase(r.Context(), s.actor, rep.CaseID); err == nil {
			v.Case = cs
		}
	}
	atts, err := c.svc.ListReportAttachments(r.Context(), s.actor, rep.ID)
	switch code := regcase.ErrorCodeOf(err); code {
	case "":
		v.Evidence = atts
	case regcase.EForbidden, regcase.EObjectForbidden: // not this officer's to see
	default:
		c.log.ErrorContext(r.Context(), "list report evidence", "report_id", rep.ID, "error", err)
	}
	return v
}

func priorityOptions(first string) []string {
	out := []string{}
	if first != "" {
		out = append(out, first)
	}
	for _, p := range regcase.Priorities {
		out = append(out, string(p))
	}
	return out
}

func (c *Console) loadReport(w http.ResponseWriter, r *http.Request, s *session) (*regcase.Report, bool) {
	if !c.allowed(w, r, s, regcase.ActReportRead) {
		return nil, false
	}
	rep, _, err := c.svc.GetReport(r.Context(), s.actor, r.PathValue("id"), false)
	if err != nil {
		c.fail(w, r, s, err)
		return nil, false
	}
	return rep, true
}

func (c *Console) reportPage(w http.ResponseWriter, r *http.Request, s *session) {
	rep, ok := c.loadReport(w, r, s)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "report_officer.html", c.reportPageView(r, s, rep))
}

// reportContact shows the reporter's contact details: a POST, because each
// view is recorded in the audit log.
func (c *Console) reportContact(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActReportReadPII) {
		return
	}
	rep, who, err := c.svc.GetReport(r.Context(), s.actor, r.PathValue("id"), true)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := c.reportPageView(r, s, rep)
	v.Reporter = who
	if who == nil {
		v.Flash = "This report has no contact details to show."
	}
	c.render(w, r, http.StatusOK, "report_officer.html", v)
}

func (c *Console) dismissReport(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActReportDismiss) {
		return
	}
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	var err error
	if reason != "" {
		_, err = c.svc.Dismiss(r.Context(), s.actor, id, reason)
		if err == nil {
			c.redirectWith(w, r, s, "/console/triage", "Report dismissed.")
			return
		}
	}
	rep, ok := c.loadReport(w, r, s)
	if !ok {
		return
	}
	v := c.reportPageView(r, s, rep)
	v.Dismiss = newForm(url.Values{"reason": {r.PostForm.Get("reason")}})
	if reason == "" {
		v.Dismiss.Errors["reason"] = "Give the reason for dismissing the report; the reporter's case history keeps it."
	} else if field, msg, ok := formError(err); ok {
		v.Dismiss.fail(field, msg, "reason")
	} else {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusUnprocessableEntity, "report_officer.html", v)
}

// triageReport opens a new case from the report (mode=new) or attaches it
// to an existing case given by number or id (mode=attach).
func (c *Console) triageReport(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActReportTriage) {
		return
	}
	id, mode := r.PathValue("id"), r.PostForm.Get("mode")
	in := regcase.TriageInput{}
	f := newForm(url.Values{})
	switch mode {
	case "attach":
		ref := strings.TrimSpace(r.PostForm.Get("case"))
		f.Values.Set("case", r.PostForm.Get("case"))
		if ref == "" {
			f.Errors["case"] = "Give the case number (like CASE-2026-000123) or the case id."
			break
		}
		caseID, err := c.resolveCase(r, s, ref)
		if err != nil {
			if regcase.ErrorCodeOf(err) != regcase.ENotFound {
				c.fail(w, r, s, err)
				return
			}
			f.Errors["case"] = "No case has this number or id."
			break
		}
		in.CaseID = caseID
	case "new":
		f.Values.Set("title", r.PostForm.Get("title"))
		f.Values.Set("priority", r.PostForm.Get("priority"))
		in.NewCase = &regcase.NewCase{Title: strings.TrimSpace(r.PostForm.Get("title")), Priority: regcase.Priority(r.PostForm.Get("priority"))}
	default:
		c.errorPage(w, r, &s.actor, s.csrf, http.StatusBadRequest, "Form not accepted", "Choose whether to open a new case or attach the report to an existing one.")
		return
	}
	if !f.HasErrors() {
		rep, cs, err := c.svc.Triage(r.Context(), s.actor, id, in)
		if err == nil {
			c.redirectWith(w, r, s, "/console/cases/"+url.PathEscape(cs.ID), "Report "+rep.TrackingCode+" is now part of case "+cs.Number+".")
			return
		}
		field, msg, ok := formError(err)
		if !ok {
			c.fail(w, r, s, err)
			return
		}
		if mode == "attach" {
			f.fail(field, msg, "case")
			if field == "case_id" {
				f.Errors["case"] = msg
			}
		} else {
			f.fail(field, msg, "title", "priority")
		}
	}
	rep, ok := c.loadReport(w, r, s)
	if !ok {
		return
	}
	v := c.reportPageView(r, s, rep)
	if mode == "attach" {
		v.Attach = f
	} else {
		v.Triage = f
	}
	c.render(w, r, http.StatusUnprocessableEntity, "report_officer.html", v)
}

// resolveCase turns a case number (CASE-2026-000123) or id into an id.
func (c *Console) resolveCase(r *http.Request, s *session, ref string) (string, error) {
	if !strings.HasPrefix(strings.ToUpper(ref), "CASE-") {
		cs, err := c.svc.GetCase(r.Context(), s.actor, ref)
		if err != nil {
			return "", err
		}
		return cs.ID, nil
	}
	want := strings.ToUpper(ref)
	cursor := ""
	for {
		cs, err := c.svc.ListCases(r.Context(), s.actor, regcase.CaseFilter{Query: want, Cursor: cursor, Limit: regcase.MaxLimit})
		if err != nil {
			return "", err
		}
		for _, x := range cs {
			if x.Number == want {
				return x.ID, nil
			}
		}
		if len(cs) < regcase.MaxLimit {
			return "", regcase.Errorf(regcase.ENotFound, "no case %s", want)
		}
		cursor = cs[len(cs)-1].ID
	}
}
