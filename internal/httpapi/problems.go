package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/regcase/regcase/internal/regcase"
)

// ProblemTypePrefix prefixes every problem type; the suffix is stable.
const ProblemTypePrefix = "urn:regcase:problem:"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail,omitempty"`
	Instance string              `json:"instance,omitempty"`
	Field    string              `json:"field,omitempty"`
	Errors   []*huma.ErrorDetail `json:"errors,omitempty"`
}

func (p *Problem) Error() string  { return p.Detail }
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes the JSON body application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// codeStatus is the one table mapping domain error codes to HTTP.
var codeStatus = map[regcase.ErrorCode]int{
	regcase.EInvalid:              http.StatusUnprocessableEntity,
	regcase.ENotFound:             http.StatusNotFound,
	regcase.EConflict:             http.StatusConflict,
	regcase.EPreconditionFailed:   http.StatusPreconditionFailed,
	regcase.EPreconditionRequired: http.StatusPreconditionRequired,
	regcase.EIdempotencyMismatch:  http.StatusUnprocessableEntity,
	regcase.EUnauthorized:         http.StatusUnauthorized,
	regcase.EForbidden:            http.StatusForbidden,
	regcase.EObjectForbidden:      http.StatusForbidden,
	regcase.ERateLimited:          http.StatusTooManyRequests,
	regcase.ETooLarge:             http.StatusRequestEntityTooLarge,
	regcase.EUnsupportedType:      http.StatusUnsupportedMediaType,
	regcase.EUnavailable:          http.StatusServiceUnavailable,
	regcase.EInternal:             http.StatusInternalServerError,
}

// statusCode names problems that huma raises itself (before our handlers).
var statusCode = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          string(regcase.EUnauthorized),
	http.StatusForbidden:             string(regcase.EForbidden),
	http.StatusUnprocessableEntity:   string(regcase.EInvalid),
	http.StatusNotFound:              string(regcase.ENotFound),
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusNotAcceptable:         "not_acceptable",
	http.StatusRequestEntityTooLarge: "body_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusRequestTimeout:        "request_timeout",
	http.StatusInternalServerError:   string(regcase.EInternal),
	http.StatusServiceUnavailable:    string(regcase.EUnavailable),
}

// problemsOnce guards the one write of huma.NewError.
var problemsOnce sync.Once

// useProblems makes huma's own errors (bad JSON, a failed schema check, a
// body too large) problem+json bodies with our problem types. huma offers
// no per-API hook for this, only the package variable huma.NewError, so
// it is set once, by the first NewServer or NewAPI, and never again.
func useProblems() { problemsOnce.Do(func() { huma.NewError = newProblem }) }

// newProblem is huma.NewError for this API.
func newProblem(status int, msg string, errs ...error) huma.StatusError {
	code, ok := statusCode[status]
	if !ok {
		code = "http_" + http.StatusText(status)
	}
	p := &Problem{Type: ProblemTypePrefix + code, Title: http.StatusText(status), Status: status, Detail: msg}
	for _, e := range errs {
		if e == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(e, &d) {
			p.Errors = append(p.Errors, d.ErrorDetail())
		} else if status < 500 {
			p.Errors = append(p.Errors, &huma.ErrorDetail{Message: e.Error()})
		}
	}
	return p
}

// problemFor converts a domain error to a problem. Internal errors are
// logged once here, with the request id, and hidden from the client.
func problemFor(ctx context.Context, log *slog.Logger, err error) error {
	code := regcase.ErrorCodeOf(err)
	status := codeStatus[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	p := &Problem{Type: ProblemTypePrefix + string(code), Title: http.StatusText(status), Status: status,
		Detail: regcase.ErrorMessage(err)}
	var de *regcase.Error
	if errors.As(err, &de) {
		p.Field = de.Field
	}
	if status == http.StatusUnauthorized {
		return huma.ErrorWithHeaders(p, http.Header{"WWW-Authenticate": {`Bearer realm="regcase"`}})
	}
	if status >= 500 && clientGone(ctx) {
		log.InfoContext(ctx, "request canceled by the client", slog.String("request_id", requestID(ctx)), slog.Any("error", err))
		return clientClosedProblem()
	}
	if status >= 500 {
		log.ErrorContext(ctx, "request failed", slog.String("request_id", requestID(ctx)), slog.Any("error", err))
	}
	return p
}

// StatusClientClosedRequest is the status a request the client abandoned
// is counted and logged under (nginx's 499): the client closed the
// connection (or canceled the request) before the answer was ready, so a
// failure that follows from the cancellation is not a server error. Nobody
// receives the answer itself.
const StatusClientClosedRequest = 499

// clientGone reports whether the request's context was canceled: net/http
// cancels it when the client's connection closes.
func clientGone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

func clientClosedProblem() *Problem {
	return &Problem{Type: ProblemTypePrefix + "client_closed_request", Title: "Client Closed Request",
		Status: StatusClientClosedRequest, Detail: "the client canceled the request"}
}

func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	title := http.StatusText(status)
	if status == StatusClientClosedRequest {
		title = "Client Closed Request"
	}
	_ = jsonEncode(w, &Problem{Type: ProblemTypePrefix + code, Title: title, Status: status, Detail: detail})
}
