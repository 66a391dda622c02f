package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

// channelOf adds the reporter channel and the evidence to a case page, as
// far as the officer may see them. Showing the thread marks the reporters'
// messages read for this officer; the page says how many were new.
func (c *Console) channelOf(ctx context.Context, s *session, v *casePageView, formFor func(string, url.Values) *form) error {
	a, cs := s.actor, v.Case
	var err error
	if c.lc.CanCaseAction(a, regcase.ActCaseMessageRead, cs.Assignee) {
		if v.Thread, err = c.svc.CaseMessages(ctx, a, cs.ID); err != nil {
			return err
		}
		for _, m := range v.Thread.Messages {
			if m.Author != "" {
				m.Author = displayName(v.names, m.Author)
			}
		}
	}
	v.CanMessage = len(cs.ReportIDs) > 0 && c.lc.CanCaseAction(a, regcase.ActCaseMessageSend, cs.Assignee)
	def := url.Values{}
	if len(cs.ReportIDs) > 0 {
		def.Set("report_id", cs.ReportIDs[len(cs.ReportIDs)-1])
	}
	v.Message = formFor("message", def)
	if v.CanEvidence = c.lc.CanCaseAction(a, regcase.ActAttachmentRead, cs.Assignee); v.CanEvidence {
		if v.Attachments, err = c.svc.ListCaseAttachments(ctx, a, cs.ID); err != nil {
			return err
		}
	}
	v.CanUpload = c.lc.CanCaseAction(a, regcase.ActCaseAttachmentAdd, cs.Assignee)
	v.Upload = formFor("upload", nil)
	return nil
}

// caseMessage sends an officer's message to the reporter of one report.
func (c *Console) caseMessage(w http.ResponseWriter, r *http.Request, s *session) {
	f := keptForm(r)
	body := strings.TrimSpace(f.Get("body"))
	if body == "" {
		f.Errors["body"] = "Write the message first."
	}
	c.caseAction(w, r, s, regcase.ActCaseMessageSend, "message", []string{"body", "report_id"}, f, func(int64) (*regcase.Case, string, error) {
		id := r.PathValue("id")
		if _, err := c.svc.PostCaseMessage(r.Context(), s.actor, id, f.Get("report_id"), body); err != nil {
			return nil, "", err
		}
		return &regcase.Case{ID: id}, "Message sent to the reporter.", nil
	})
}

// caseUpload adds an officer's evidence file to a case (streamed form).
func (c *Console) caseUpload(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(nil)
	name, content, ok := uploadedFile(r)
	if !ok {
		f.Errors["file"] = "Choose a file first."
	}
	c.caseAction(w, r, s, regcase.ActCaseAttachmentAdd, "upload", []string{"file"}, f, func(int64) (*regcase.Case, string, error) {
		id := r.PathValue("id")
		att, err := c.svc.AddCaseAttachment(r.Context(), s.actor, id, name, content)
		if msg, known := uploadMessage(err); known && regcase.ErrorCodeOf(err) != regcase.EInvalid {
			err = regcase.FieldError("file", "%s", msg) // shown by the form
		}
		if err != nil {
			return nil, "", err
		}
		return &regcase.Case{ID: id}, "Evidence " + att.Filename + " added.", nil
	})
}

// downloadAttachment serves an evidence file as a download (audited).
func (c *Console) downloadAttachment(w http.ResponseWriter, r *http.Request, s *session) {
	att, content, err := c.svc.OpenAttachment(r.Context(), s.actor, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	for k, v := range regcase.DownloadHeaders(att) {
		w.Header()[k] = v
	}
	if _, err := copyBuffer(w, content); err != nil {
		c.log.WarnContext(r.Context(), "attachment download cut short", "attachment_id", att.ID, "error", err)
	}
}
