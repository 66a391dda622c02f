package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// multipartPost sends fields (in order) and then a file part, as a browser
// sends a form with enctype multipart/form-data.
func (c *client) multipartPost(path string, fields [][2]string, name string, content []byte) *resp {
	c.tb.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		_ = w.WriteField(f[0], f[1])
	}
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.do(req)
}

// TestStatusPageChannel: the reporter's thread, reply and upload on the
// status page; refusals are explained and store nothing.
func TestStatusPageChannel(t *testing.T) {
	e := newEnv(t)
	sub := e.submit(t, "Fish kept without ice.", false)
	c := e.anon(t)
	must(t, c.get("/status"), http.StatusOK)
	creds := url.Values{"tracking": {sub.Report.TrackingCode}, "secret": {sub.StatusSecret}}

	t.Run("WrongSecret/NotFound", func(t *testing.T) {
		r := c.post("/status/messages", url.Values{"tracking": {sub.Report.TrackingCode}, "secret": {"wrong"}, "body": {"hello"}})
		if r.status != http.StatusNotFound || strings.Contains(r.body, `id="channel"`) {
			t.Errorf("reply with a wrong secret: %s", r)
		}
	})
	t.Run("Reply/OK", func(t *testing.T) {
		f := url.Values{"body": {"It was stall 4."}}
		for k, v := range creds {
			f[k] = v
		}
		r := must(t, c.post("/status/messages", f), http.StatusOK)
		if !strings.Contains(r.body, "It was stall 4.") || !strings.Contains(r.body, "Your message was sent.") {
			t.Errorf("thread after reply:\n%s", r.body)
		}
		if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
			t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
	})
	fields := [][2]string{{"csrf", c.csrf}, {"tracking", sub.Report.TrackingCode}, {"secret", sub.StatusSecret}}
	t.Run("Executable/415NothingStored", func(t *testing.T) {
		r := c.multipartPost("/status/attachments", fields, "invoice.pdf", []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\xff\xff"))
		if r.status != http.StatusUnsupportedMediaType || !strings.Contains(r.body, "not accepted") {
			t.Errorf("executable: %s", r)
		}
	})
	t.Run("Oversize/413NothingStored", func(t *testing.T) {
		big := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), regcase.DefaultAttachmentMaxBytes)...)
		r := c.multipartPost("/status/attachments", fields, "big.pdf", big)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversize: %s", r)
		}
	})
	t.Run("NoCSRF/Forbidden", func(t *testing.T) {
		r := c.multipartPost("/status/attachments", fields[1:], "a.txt", []byte("text"))
		if r.status != http.StatusForbidden {
			t.Errorf("upload without the CSRF token: %s", r)
		}
	})
	if atts, _ := e.store.ListAttachments(t.Context(), []string{sub.Report.ID}, ""); len(atts) != 0 {
		t.Fatalf("refused uploads stored %d files", len(atts))
	}
	t.Run("Document/OK", func(t *testing.T) {
		r := must(t, c.multipartPost("/status/attachments", fields, "../../delivery.txt", []byte("delivery note\n")), http.StatusOK)
		if !strings.Contains(r.body, "Your file delivery.txt was received.") {
			t.Errorf("upload notice missing:\n%s", r.body)
		}
	})
}

// TestCasePageChannel: the officer's thread with the unread count, the
// send form, and the evidence upload (multipart, CSRF checked).
func TestCasePageChannel(t *testing.T) {
	e := newEnv(t)
	sub := e.submit(t, "Rats in the storeroom.", false)
	_, cs, err := e.svc.Triage(t.Context(), e.actor(regcase.RoleIntake), sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PostPublicMessage(t.Context(), regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}, sub.Report.TrackingCode, sub.StatusSecret, "Behind the flour sacks."); err != nil {
		t.Fatal(err)
	}
	sup := e.as(t, regcase.RoleSupervisor)
	r := must(t, sup.get("/console/cases/"+cs.ID), http.StatusOK)
	if !strings.Contains(r.body, `data-unread="1"`) || !strings.Contains(r.body, "Behind the flour sacks.") {
		t.Fatalf("case page: no unread reporter message\n%s", r.body)
	}
	r = must(t, sup.get("/console/cases/"+cs.ID), http.StatusOK)
	if strings.Contains(r.body, `data-unread=`) {
		t.Errorf("the message is still unread after the officer saw it")
	}
	r = sup.post("/console/cases/"+cs.ID+"/messages", url.Values{"report_id": {sub.Report.ID}, "body": {"Which sacks?"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("send: %s\n%s", r, r.body)
	}
	must(t, sup.get(r.location()), http.StatusOK)
	if r := sup.multipartPost("/console/cases/"+cs.ID+"/attachments", nil, "x.txt", []byte("text")); r.status != http.StatusForbidden {
		t.Errorf("upload without the CSRF token: %s", r)
	}
	r = sup.multipartPost("/console/cases/"+cs.ID+"/attachments", [][2]string{{"csrf", sup.csrf}}, "inspection.txt", []byte("inspection notes\n"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %s\n%s", r, r.body)
	}
	page := must(t, sup.get(r.location()), http.StatusOK)
	if !strings.Contains(page.body, "inspection.txt") {
		t.Fatalf("the evidence table lacks the upload")
	}
	atts, err := e.svc.ListCaseAttachments(t.Context(), e.actor(regcase.RoleSupervisor), cs.ID)
	if err != nil || len(atts) != 1 {
		t.Fatalf("attachments %v %v", atts, err)
	}
	d := must(t, sup.get("/console/attachments/"+atts[0].ID), http.StatusOK)
	if d.body != "inspection notes\n" || d.header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(d.header.Get("Content-Disposition"), "attachment;") || d.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download: %q %v", d.body, d.header)
	}
}
