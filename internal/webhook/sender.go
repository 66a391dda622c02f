package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/regcase/regcase/internal/telemetry"
)

// Defaults of Sender.
const (
	DefaultMaxResponseBytes = 64 << 10
	DefaultUserAgent        = "regcase-webhooks/1"
)

// ContentType is the media type of a delivery: a CloudEvents 1.0 event in
// structured mode.
const ContentType = "application/cloudevents+json"

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sender performs one delivery attempt. It is safe for concurrent use once
// its fields are set.
type Sender struct {
	Client           *http.Client     // from Policy.Client; required
	MaxResponseBytes int64            // how much of the answer is read (then discarded); <= 0: DefaultMaxResponseBytes
	UserAgent        string           // "": DefaultUserAgent
	Now              func() time.Time // the webhook-timestamp clock; nil: time.Now
}

// Result is the outcome of one attempt.
type Result struct {
	StatusCode int // 0 when no answer came
	// Err is nil only for a 2xx answer. Its message is short and safe to
	// store and show ("HTTP 503", "timeout after 10s", "refused: 10.0.0.5
	// is a private address"): it never contains the URL's query, its
	// credentials or the secret. errors.As finds a *RefusedError when the
	// policy refused the address; errors.Is finds context.Canceled when the
	// caller's context was canceled (the attempt says nothing about the
	// receiver) and context.DeadlineExceeded on a timeout.
	Err      error
	Duration time.Duration // from the start of the request to the end of reading the answer
}

// OK reports whether the receiver accepted the delivery (a 2xx answer).
func (r Result) OK() bool {
	return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300
}

// Send POSTs body (a CloudEvents structured JSON event) to url, signed with
// key, with the headers Content-Type: application/cloudevents+json,
// webhook-id: msgID, webhook-timestamp: the unix seconds of s.Now(),
// webhook-signature: Sign(key, msgID, now, body), and User-Agent. It reads
// at most MaxResponseBytes of the answer and discards them; a larger answer
// is cut off (its connection is closed, not reused). A 3xx answer is not
// followed: it is a failed attempt like any other non-2xx answer.
func (s *Sender) Send(ctx context.Context, url string, key []byte, msgID string, body []byte) Result {
	start := time.Now()
	res := s.send(ctx, url, key, msgID, body, start)
	res.Duration = time.Since(start)
	return res
}

func (s *Sender) send(ctx context.Context, rawURL string, key []byte, msgID string, body []byte, start time.Time) Result {
	if s.Client == nil {
		return Result{Err: errors.New("no HTTP client configured")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Result{Err: errors.New("invalid URL")}
	}
	ctx, span := startClientSpan(ctx, req.URL)
	req = req.WithContext(ctx)
	res := s.do(ctx, req, key, msgID, body, start)
	endClientSpan(span, res)
	return res
}

func (s *Sender) do(ctx context.Context, req *http.Request, key []byte, msgID string, body []byte, start time.Time) Result {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := now()
	ua := s.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", ua)
	req.Header.Set(HeaderID, msgID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(key, msgID, ts, body))
	// The receiver gets the trace context of this attempt (traceparent,
	// tracestate): its own spans join the event's trace.
	telemetry.InjectHTTP(ctx, req.Header)

	resp, err := s.Client.Do(req)
	if err != nil {
		return Result{Err: s.describe(ctx, err, req.URL, time.Since(start))}
	}
	defer resp.Body.Close()
	limit := s.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	// The answer's body is read only so that a small one lets the
	// connection be reused; a read error does not change the outcome.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, limit))

	res := Result{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.Err = fmt.Errorf("HTTP %d (redirects are not followed)", resp.StatusCode)
	default:
		res.Err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return res
}

// sendError is a failed attempt's error: a safe message, and a cause that
// is safe to expose to errors.Is (context errors only).
type sendError struct {
	msg   string
	cause error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.cause }

// maxErrorLen bounds the length of a message taken from an underlying error.
const maxErrorLen = 200

// describe turns an error of http.Client.Do into a short message that is
// safe to store: it never includes the URL's query or userinfo.
func (s *Sender) describe(ctx context.Context, err error, u *url.URL, elapsed time.Duration) error {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return refused
	}
	if ctx.Err() == context.Canceled {
		return &sendError{"canceled", context.Canceled}
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		d := s.Client.Timeout
		if d <= 0 || ctx.Err() != nil || elapsed < d {
			d = elapsed.Round(time.Millisecond)
		}
		return &sendError{"timeout after " + d.String(), context.DeadlineExceeded}
	}
	return errors.New(redact(reason(err), u))
}

// reason names the common ways a connection fails; for the rest it takes
// the innermost message that http.Client did not dress with the URL.
func reason(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	var ue *url.Error
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS: no such host " + dnsErr.Name
		}
		return "DNS lookup of " + dnsErr.Name + " failed: " + dnsErr.Err
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the receiver"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before an answer"
	case errors.As(err, &certErr):
		return "TLS certificate not accepted: " + certErr.Err.Error()
	case errors.As(err, &recErr):
		return "TLS handshake failed (not an https server?)"
	case errors.As(err, &alert):
		return "TLS handshake failed: " + alert.Error()
	case errors.As(err, &ue):
		return ue.Err.Error()
	}
	return err.Error()
}

// redact removes the URL (and its query and userinfo, wherever they appear)
// from msg and bounds its length.
func redact(msg string, u *url.URL) string {
	for _, secret := range []string{u.String(), u.RawQuery, u.User.String()} {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "…")
		}
	}
	if len(msg) > maxErrorLen {
		n := maxErrorLen
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n] + "…"
	}
	return msg
}
