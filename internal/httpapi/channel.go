package httpapi

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/regcase/regcase/internal/regcase"
)

// MessageBody is one message of a reporter channel.
type MessageBody struct {
	ID           string    `json:"id"`
	ReportID     string    `json:"report_id,omitempty"`
	TrackingCode string    `json:"tracking_code,omitempty"`
	From         string    `json:"from" enum:"reporter,officer"`
	Author       string    `json:"author,omitempty" doc:"the officer (officer side only)"`
	Body         string    `json:"body"`
	CreatedAt    time.Time `json:"created_at"`
	Unread       bool      `json:"unread,omitempty" doc:"a reporter message the caller had not seen before this read"`
}

func messageBody(m *regcase.MessageView) *MessageBody {
	from := "officer"
	if m.FromReporter {
		from = "reporter"
	}
	return &MessageBody{ID: m.ID, ReportID: m.ReportID, TrackingCode: m.TrackingCode, From: from, Author: m.Author,
		Body: m.Body, CreatedAt: m.CreatedAt, Unread: m.Unread}
}

// AttachmentBody is an evidence file's metadata.
type AttachmentBody struct {
	ID          string    `json:"id"`
	ReportID    string    `json:"report_id,omitempty"`
	CaseID      string    `json:"case_id,omitempty"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type" doc:"sniffed from the content, not the uploader's claim"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256" doc:"hex; the audit record of the upload holds the same value"`
	UploadedBy  string    `json:"uploaded_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	URL         string    `json:"url,omitempty" doc:"download (officers)"`
}

func attachmentBody(a *regcase.Attachment, officer bool) *AttachmentBody {
	b := &AttachmentBody{ID: a.ID, ReportID: a.ReportID, CaseID: a.CaseID, Filename: a.Filename, ContentType: a.ContentType,
		Size: a.Size, SHA256: hex.EncodeToString(a.SHA256), CreatedAt: a.CreatedAt}
	if officer {
		b.UploadedBy, b.URL = a.UploadedBy, "/v1/attachments/"+a.ID
	} else {
		b.CaseID = ""
	}
	return b
}

func attachmentBodies(as []*regcase.Attachment, officer bool) []*AttachmentBody {
	out := make([]*AttachmentBody, 0, len(as))
	for _, a := range as {
		out = append(out, attachmentBody(a, officer))
	}
	return out
}

type publicThreadOutput struct {
	Body struct {
		TrackingCode string            `json:"tracking_code"`
		Messages     []*MessageBody    `json:"messages"`
		Attachments  []*AttachmentBody `json:"attachments"`
	}
}

type publicMessageInput struct {
	Tracking string `path:"tracking" maxLength:"20"`
	Secret   string `header:"X-Status-Secret" required:"true" maxLength:"100"`
	Body     struct {
		Body string `json:"body" minLength:"1" maxLength:"10000"`
	}
}

type messageOutput struct {
	Location string `header:"Location"`
	Body     *MessageBody
}

type caseThreadInput struct {
	ID string `path:"id" maxLength:"64"`
}

type caseThreadOutput struct {
	Body struct {
		Unread   int            `json:"unread" doc:"reporter messages that were unread for the caller before this read (which marks them read)"`
		Messages []*MessageBody `json:"messages"`
	}
}

type caseMessageInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		ReportID string `json:"report_id,omitempty" maxLength:"64" doc:"the report whose reporter the message is for; optional when the case has one report"`
		Body     string `json:"body" minLength:"1" maxLength:"10000"`
	}
}

type attachmentsOutput struct {
	Body struct {
		Items []*AttachmentBody `json:"items"`
	}
}

// allowChannel applies the public rate limit to a reporter's write (a
// bucket of its own beside intake's).
func (s *server) allowChannel(ctx context.Context, a regcase.Actor) error {
	if a.Role != regcase.RoleAnonymous {
		return nil
	}
	if ok, wait := s.intake.Allow("channel:" + a.Addr); !ok {
		return huma.ErrorWithHeaders(s.fail(ctx, regcase.Errorf(regcase.ERateLimited, "too many messages; retry later")),
			http.Header{"Retry-After": {strconv.Itoa(int(wait.Seconds()) + 1)}})
	}
	return nil
}

// publicReportMessages serves public-report-messages.
func (s *server) publicReportMessages(ctx context.Context, in *publicInput) (*publicThreadOutput, error) {
	t, err := s.svc.PublicThread(ctx, actorFrom(ctx), in.Tracking, in.Secret)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &publicThreadOutput{}
	out.Body.TrackingCode = t.Report.TrackingCode
	out.Body.Messages = make([]*MessageBody, 0, len(t.Messages))
	for _, m := range t.Messages {
		mb := messageBody(m)
		mb.ReportID = ""
		out.Body.Messages = append(out.Body.Messages, mb)
	}
	out.Body.Attachments = attachmentBodies(t.Attachments, false)
	return out, nil
}

// postPublicReportMessage serves post-public-report-message.
func (s *server) postPublicReportMessage(ctx context.Context, in *publicMessageInput) (*messageOutput, error) {
	a := actorFrom(ctx)
	if err := s.allowChannel(ctx, a); err != nil {
		return nil, err
	}
	m, err := s.svc.PostPublicMessage(ctx, a, in.Tracking, in.Secret, in.Body.Body)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	mb := messageBody(m)
	mb.ReportID = ""
	return &messageOutput{Location: "/v1/public/reports/" + m.TrackingCode + "/messages", Body: mb}, nil
}

// listCaseMessages serves list-case-messages.
func (s *server) listCaseMessages(ctx context.Context, in *caseThreadInput) (*caseThreadOutput, error) {
	t, err := s.svc.CaseMessages(ctx, actorFrom(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &caseThreadOutput{}
	out.Body.Unread = t.Unread
	out.Body.Messages = make([]*MessageBody, 0, len(t.Messages))
	for _, m := range t.Messages {
		out.Body.Messages = append(out.Body.Messages, messageBody(m))
	}
	return out, nil
}

// postCaseMessage serves post-case-message.
func (s *server) postCaseMessage(ctx context.Context, in *caseMessageInput) (*messageOutput, error) {
	m, err := s.svc.PostCaseMessage(ctx, actorFrom(ctx), in.ID, in.Body.ReportID, in.Body.Body)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &messageOutput{Location: "/v1/cases/" + in.ID + "/messages", Body: messageBody(m)}, nil
}

// listCaseAttachments serves list-case-attachments.
func (s *server) listCaseAttachments(ctx context.Context, in *caseThreadInput) (*attachmentsOutput, error) {
	return s.attachmentsOut(ctx, s.svc.ListCaseAttachments, in.ID)
}

// listReportAttachments serves list-report-attachments.
func (s *server) listReportAttachments(ctx context.Context, in *caseThreadInput) (*attachmentsOutput, error) {
	return s.attachmentsOut(ctx, s.svc.ListReportAttachments, in.ID)
}

// attachmentsOut lists the attachments of one case or report for an officer.
func (s *server) attachmentsOut(ctx context.Context,
	list func(context.Context, regcase.Actor, string) ([]*regcase.Attachment, error), id string) (*attachmentsOutput, error) {
	as, err := list(ctx, actorFrom(ctx), id)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &attachmentsOutput{}
	out.Body.Items = attachmentBodies(as, true)
	return out, nil
}

// fileParam is a string parameter of a streamed route's description.
func fileParam(name, in, doc string, max int) *huma.Param {
	return &huma.Param{Name: name, In: in, Required: in == "path", Description: doc,
		Schema: &huma.Schema{Type: "string", MaxLength: &max}}
}

// uploadDoc describes a streamed upload route (served by a plain handler:
// huma reads a whole body into memory, the upload never holds more than a
// chunk) in the OpenAPI document.
func uploadDoc(params ...*huma.Param) opt {
	return func(op *huma.Operation) {
		op.Description = "The body is the file itself (any Content-Type; the type is sniffed from the content) " +
			"with its name in the `filename` query parameter, or multipart/form-data with the file in the part `file`. " +
			"Larger than REGCASE_ATTACHMENT_MAX_BYTES → 413; a type outside the allow-list (images, PDF, plain text, ZIP, audio, video) → 415. " +
			"Nothing is stored unless the whole file arrived and was accepted; the audit record holds its SHA-256."
		op.Parameters = append(params, fileParam("filename", "query", "the file's name (sanitised: last path element, no control characters)", 255))
		op.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/octet-stream": {}, "multipart/form-data": {}}}
		op.Responses = map[string]*huma.Response{"201": {Description: "stored"}}
		op.Errors = append(op.Errors, 413, 415)
	}
}

// downloadDoc describes the streamed download route.
func downloadDoc(op *huma.Operation) {
	op.Description = "Served as `Content-Disposition: attachment` with `X-Content-Type-Options: nosniff`; text and unknown " +
		"types as application/octet-stream, never rendered inline. `X-Content-SHA256` repeats the recorded hash."
	op.Parameters = []*huma.Param{fileParam("id", "path", "", 64)}
	op.Responses = map[string]*huma.Response{"200": {Description: "the file", Content: map[string]*huma.MediaType{"application/octet-stream": {}}}}
}

// writeErr writes a domain error as problem+json (the plain-handler twin
// of fail).
func (s *server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	code := regcase.ErrorCodeOf(err)
	status := codeStatus[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="regcase"`)
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", slog.String("request_id", requestID(r.Context())), slog.Any("error", err))
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeProblem(w, status, string(code), regcase.ErrorMessage(err))
}

// uploadBody returns the file of an upload request: the body itself
// (filename from the query), or the part "file" of a multipart form. The
// body is limited to the attachment limit plus room for the form's own
// bytes; the service enforces the exact limit on the file.
func (s *server) uploadBody(w http.ResponseWriter, r *http.Request) (io.Reader, string, error) {
	max := s.svc.AttachmentMaxBytes()
	if r.ContentLength > max+64<<10 {
		return nil, "", regcase.Errorf(regcase.ETooLarge, "the upload is larger than %d bytes", max)
	}
	r.Body = http.MaxBytesReader(w, r.Body, max+64<<10)
	name := r.URL.Query().Get("filename")
	if len(name) > 1024 {
		return nil, "", regcase.FieldError("filename", "filename is longer than 1024 bytes")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return r.Body, name, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", regcase.FieldError("file", "not a multipart form: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, "", regcase.FieldError("file", "the form has no part named file")
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, "", regcase.Errorf(regcase.ETooLarge, "the upload is larger than %d bytes", max)
			}
			return nil, "", regcase.FieldError("file", "the multipart form could not be read: %v", err)
		}
		if p.FormName() == "file" {
			if name == "" {
				name = p.FileName()
			}
			return p, name, nil
		}
	}
}

func (s *server) writeUploaded(w http.ResponseWriter, a *regcase.Attachment, officer bool) {
	w.Header().Set("Content-Type", "application/json")
	if officer {
		w.Header().Set("Location", "/v1/attachments/"+a.ID)
	}
	w.WriteHeader(http.StatusCreated)
	_ = jsonEncode(w, attachmentBody(a, officer))
}

func (s *server) uploadPublic(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(ctx)
	secret := r.Header.Get("X-Status-Secret")
	if secret == "" || len(secret) > 100 {
		s.writeErr(w, r, regcase.FieldError("X-Status-Secret", "the X-Status-Secret header (1 to 100 characters) is required"))
		return
	}
	if a.Role == regcase.RoleAnonymous {
		if ok, _ := s.intake.Allow("channel:" + a.Addr); !ok {
			s.writeErr(w, r, regcase.Errorf(regcase.ERateLimited, "too many uploads; retry later"))
			return
		}
	}
	body, name, err := s.uploadBody(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	att, err := s.svc.AddPublicAttachment(ctx, a, r.PathValue("tracking"), secret, name, body)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.writeUploaded(w, att, false)
}

func (s *server) uploadCase(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(ctx)
	if err := regcase.Authorize(a, regcase.ActCaseAttachmentAdd); err != nil {
		s.writeErr(w, r, err)
		return
	}
	body, name, err := s.uploadBody(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	att, err := s.svc.AddCaseAttachment(ctx, a, r.PathValue("id"), name, body)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.writeUploaded(w, att, true)
}

// ServeAttachment writes an opened attachment as a download.
func ServeAttachment(w http.ResponseWriter, att *regcase.Attachment, content io.Reader) error {
	for k, v := range regcase.DownloadHeaders(att) {
		w.Header()[k] = v
	}
	_, err := io.Copy(w, content)
	return err
}

func (s *server) download(w http.ResponseWriter, r *http.Request) {
	att, content, err := s.svc.OpenAttachment(r.Context(), actorFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := ServeAttachment(w, att, content); err != nil {
		// Headers are gone: the client sees a short body (Content-Length).
		s.log.WarnContext(r.Context(), "attachment download cut short", slog.String("attachment_id", att.ID), slog.Any("error", err))
	}
}
