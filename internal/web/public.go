package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

type landingView struct{ base }

func (c *Console) landing(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "landing.html", &landingView{base: base{Title: "Report a problem with a business"}})
}

// reportFields are the report form's controls, by the domain's field name.
var reportFields = map[string]string{
	"category":            "category",
	"subject.name":        "subject_name",
	"subject.registry_id": "subject_registry_id",
	"description":         "description",
	"location":            "location",
	"occurred_at":         "occurred",
	"reporter.name":       "reporter_name",
	"reporter.email":      "reporter_email",
	"reporter.phone":      "reporter_phone",
}

var reportControls = []string{"category", "subject_name", "subject_registry_id", "description", "location",
	"occurred", "reporter_name", "reporter_email", "reporter_phone", "consent"}

type reportView struct {
	base
	Form       *form
	Categories []string
}

type reportDoneView struct {
	base
	TrackingCode string
	StatusSecret string
	Replayed     bool
	// File is the evidence file sent with the report; FileError says why
	// it was not accepted (the report itself was).
	File      *regcase.Attachment
	FileError string
}

func (c *Console) reportView(w http.ResponseWriter, r *http.Request, f *form) *reportView {
	cats := append([]string{"|Choose a category"}, c.svc.Categories()...)
	if f.Get("idem") == "" {
		f.Values.Set("idem", randomToken())
	}
	f.order = reportControls
	return &reportView{base: base{Title: "Report a problem", CSRF: c.publicCSRF(w, r)}, Form: f, Categories: cats}
}

func (c *Console) reportForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "report.html", c.reportView(w, r, newForm(nil)))
}

// submitReport takes a report from the form. The hidden idempotency key
// makes a double click or a refresh of the confirmation return the same
// report instead of a second one.
func (c *Console) submitReport(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{})
	for _, k := range append(reportControls, "idem") {
		if v := r.PostForm.Get(k); v != "" {
			f.Values.Set(k, v)
		}
	}
	if !c.checkPublicCSRF(r) {
		f.Message = "For your security the form had expired. Nothing was sent: check your report and send it again."
		c.render(w, r, http.StatusForbidden, "report.html", c.reportView(w, r, f))
		return
	}
	in, ok := c.parseReport(f)
	if !ok {
		c.render(w, r, http.StatusUnprocessableEntity, "report.html", c.reportView(w, r, f))
		return
	}
	addr := c.clientAddr(r)
	if ok, wait := c.intake.Allow(addr); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		f.Message = "Too many reports were sent from your address just now. Nothing was lost: wait a few seconds and send again."
		c.render(w, r, http.StatusTooManyRequests, "report.html", c.reportView(w, r, f))
		return
	}
	a := regcase.Actor{ID: "public", Role: regcase.RoleAnonymous, Addr: addr, RequestID: requestID(w, r)}
	sub, err := c.svc.Submit(r.Context(), a, in, f.Get("idem"))
	if err != nil {
		code := regcase.ErrorCodeOf(err)
		field, msg, ok := formError(err)
		switch {
		case code == regcase.EIdempotencyMismatch:
			f.Values.Del("idem")
			f.Message = "This form was already sent with different content. Check your report below and send it again."
		case ok && code == regcase.EInvalid:
			if ctl, known := reportFields[field]; known {
				f.Errors[ctl] = msg
			} else {
				f.Message = msg
			}
		default:
			c.fail(w, r, nil, err)
			return
		}
		c.render(w, r, http.StatusUnprocessableEntity, "report.html", c.reportView(w, r, f))
		return
	}
	done := &reportDoneView{base: base{Title: "Report received"},
		TrackingCode: sub.Report.TrackingCode, StatusSecret: sub.StatusSecret, Replayed: sub.Replayed}
	if name, content, ok := uploadedFile(r); ok && !sub.Replayed {
		att, err := c.svc.AddReportAttachment(r.Context(), a, sub.Report.ID, name, content)
		if msg, known := uploadMessage(err); known {
			done.FileError = msg
		} else if err != nil {
			c.log.ErrorContext(r.Context(), "intake attachment failed", "request_id", a.RequestID, "error", err)
			done.FileError = "it could not be stored"
		} else {
			done.File = att
		}
	}
	c.render(w, r, http.StatusOK, "report_done.html", done)
}

// parseReport checks what the domain cannot know (the date format, the
// consent) and every required field at once, so a person sees all the
// problems in one go; the domain validates the rest.
func (c *Console) parseReport(f *form) (regcase.SubmitReport, bool) {
	in := regcase.SubmitReport{Channel: regcase.ChannelWeb, Category: f.Get("category"),
		Subject:     regcase.Subject{Name: strings.TrimSpace(f.Get("subject_name")), RegistryID: strings.TrimSpace(f.Get("subject_registry_id"))},
		Description: strings.TrimSpace(f.Get("description")), Location: strings.TrimSpace(f.Get("location"))}
	if in.Category == "" {
		f.Errors["category"] = "Choose the category that fits best."
	}
	if in.Subject.Name == "" {
		f.Errors["subject_name"] = "Give the name of the business or person."
	}
	if in.Description == "" {
		f.Errors["description"] = "Describe what happened."
	}
	if d := strings.TrimSpace(f.Get("occurred")); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			f.Errors["occurred"] = "Enter the date as YYYY-MM-DD, for example 2026-03-14."
		} else {
			in.OccurredAt = &t
		}
	}
	rep := &regcase.Reporter{Name: strings.TrimSpace(f.Get("reporter_name")), Email: strings.TrimSpace(f.Get("reporter_email")),
		Phone: strings.TrimSpace(f.Get("reporter_phone"))}
	if !rep.Empty() {
		in.Reporter = rep
		if f.Get("consent") != "yes" {
			f.Errors["consent"] = "To leave contact details, tick the box to agree to how we use them — or clear the contact fields to stay anonymous."
		}
	}
	return in, len(f.Errors) == 0
}

type statusView struct {
	base
	Form   *form
	Status *regcase.PublicStatus
	// Thread is the channel with the regulator (shown with the status);
	// Tracking and Secret go back in its forms' hidden fields, never in a
	// URL.
	Thread   *regcase.Thread
	Tracking string
	Secret   string
	Reply    *form
	Notice   string
}

func (c *Console) statusForm(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{"tracking": {r.URL.Query().Get("code")}})
	c.render(w, r, http.StatusOK, "status.html", &statusView{base: base{Title: "Check a report", CSRF: c.publicCSRF(w, r)}, Form: f})
}

// statusRequest checks the CSRF token and the tracking code and secret of
// a status-page form; it renders the refusal and returns nil when they do
// not pass.
func (c *Console) statusRequest(w http.ResponseWriter, r *http.Request) *statusView {
	f := newForm(url.Values{"tracking": {r.PostForm.Get("tracking")}, "secret": {r.PostForm.Get("secret")}})
	v := &statusView{base: base{Title: "Check a report"}, Form: f}
	if !c.checkPublicCSRF(r) {
		v.CSRF = c.publicCSRF(w, r)
		f.Message = "For your security the form had expired. Check the details and try again."
		c.render(w, r, http.StatusForbidden, "status.html", v)
		return nil
	}
	v.CSRF = c.publicCSRF(w, r)
	code, secret := strings.TrimSpace(f.Get("tracking")), strings.TrimSpace(f.Get("secret"))
	if code == "" {
		f.Errors["tracking"] = "Enter the tracking code you were given."
	} else if _, err := regcase.NormalizeTrackingCode(code); err != nil {
		f.Errors["tracking"] = "A tracking code has 12 letters and digits, like ABCD-EFGH-JKMN."
	}
	if secret == "" {
		f.Errors["secret"] = "Enter the status secret you were given with the tracking code."
	}
	if f.HasErrors() {
		c.render(w, r, http.StatusUnprocessableEntity, "status.html", v)
		return nil
	}
	v.Tracking, v.Secret = code, secret
	return v
}

// showStatus renders the status and the channel of the report in v (or the
// not-found answer, alike for an unknown code and a wrong secret).
func (c *Console) showStatus(w http.ResponseWriter, r *http.Request, v *statusView, status int) {
	a := c.publicActor(w, r)
	ps, err := c.svc.PublicStatusOf(r.Context(), v.Tracking, v.Secret)
	if err == nil {
		v.Thread, err = c.svc.PublicThread(r.Context(), a, v.Tracking, v.Secret)
	}
	if regcase.ErrorCodeOf(err) == regcase.ENotFound {
		v.Form.Message = "No report matches this tracking code and status secret. Check both and try again."
		c.render(w, r, http.StatusNotFound, "status.html", v)
		return
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	v.Status = ps
	if v.Reply == nil {
		v.Reply = newForm(nil)
	}
	c.render(w, r, status, "status.html", v)
}

func (c *Console) publicActor(w http.ResponseWriter, r *http.Request) regcase.Actor {
	return regcase.Actor{ID: "public", Role: regcase.RoleAnonymous, Addr: c.clientAddr(r), RequestID: requestID(w, r)}
}

// checkStatus is a POST so that the status secret never lands in a URL or
// an access log.
func (c *Console) checkStatus(w http.ResponseWriter, r *http.Request) {
	if v := c.statusRequest(w, r); v != nil {
		c.showStatus(w, r, v, http.StatusOK)
	}
}

// allowChannel applies the public rate limit of the channel; false means
// the page was rendered with the refusal.
func (c *Console) allowChannel(w http.ResponseWriter, r *http.Request, v *statusView) bool {
	if ok, wait := c.intake.Allow("channel:" + c.clientAddr(r)); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		v.Reply = newForm(url.Values{"body": {r.PostForm.Get("body")}})
		v.Reply.Message = "Too many messages were sent from your address just now. Nothing was lost: wait a few seconds and send again."
		c.showStatus(w, r, v, http.StatusTooManyRequests)
		return false
	}
	return true
}

// replyStatus sends the reporter's message from the status page.
func (c *Console) replyStatus(w http.ResponseWriter, r *http.Request) {
	v := c.statusRequest(w, r)
	if v == nil || !c.allowChannel(w, r, v) {
		return
	}
	body := strings.TrimSpace(r.PostForm.Get("body"))
	v.Reply = newForm(url.Values{"body": {body}})
	if body == "" {
		v.Reply.Errors["body"] = "Write your message first."
		c.showStatus(w, r, v, http.StatusUnprocessableEntity)
		return
	}
	_, err := c.svc.PostPublicMessage(r.Context(), c.publicActor(w, r), v.Tracking, v.Secret, body)
	switch code := regcase.ErrorCodeOf(err); {
	case err == nil:
		v.Reply, v.Notice = newForm(nil), "Your message was sent."
	case code == regcase.EInvalid:
		_, msg, _ := formError(err)
		v.Reply.Errors["body"] = msg
		c.showStatus(w, r, v, http.StatusUnprocessableEntity)
		return
	case code != regcase.ENotFound:
		c.fail(w, r, nil, err)
		return
	}
	c.showStatus(w, r, v, http.StatusOK)
}

// uploadStatus takes an evidence file from the status page (a streamed
// multipart form: tracking code and secret come before the file).
func (c *Console) uploadStatus(w http.ResponseWriter, r *http.Request) {
	v := c.statusRequest(w, r)
	if v == nil || !c.allowChannel(w, r, v) {
		return
	}
	name, content, ok := uploadedFile(r)
	if !ok {
		v.Notice = "Choose a file to send first."
		c.showStatus(w, r, v, http.StatusUnprocessableEntity)
		return
	}
	_, err := c.svc.AddPublicAttachment(r.Context(), c.publicActor(w, r), v.Tracking, v.Secret, name, content)
	status := http.StatusOK
	if msg, known := uploadMessage(err); known {
		v.Notice, status = "The file was not accepted: "+msg, uploadStatusCode(err)
	} else if err != nil && regcase.ErrorCodeOf(err) != regcase.ENotFound {
		c.fail(w, r, nil, err)
		return
	} else if err == nil {
		v.Notice = "Your file " + regcase.SanitizeFilename(name) + " was received."
	}
	c.showStatus(w, r, v, status)
}

// uploadStatusCode is the HTTP status of a refused upload.
func uploadStatusCode(err error) int {
	switch regcase.ErrorCodeOf(err) {
	case regcase.EConflict:
		return http.StatusConflict
	case regcase.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case regcase.EUnsupportedType:
		return http.StatusUnsupportedMediaType
	}
	return http.StatusUnprocessableEntity
}
