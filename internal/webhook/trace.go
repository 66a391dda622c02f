package webhook

import (
	"context"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/telemetry"
)

// startClientSpan starts the HTTP client span of one attempt, a child of
// the span in ctx, with http.request.method, server.address, server.port
// and url.scheme. It records neither the URL's path nor its query (a
// receiver URL may hold a token), nor any header or body.
func startClientSpan(ctx context.Context, u *url.URL) (context.Context, trace.Span) {
	if !telemetry.Active() {
		return ctx, trace.SpanFromContext(ctx)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, _ := strconv.Atoi(port)
	return telemetry.Tracer().Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.HTTPRequestMethodKey.String("POST"), semconv.ServerAddress(u.Hostname()), semconv.ServerPort(n),
		semconv.URLScheme(u.Scheme)))
}

// endClientSpan records the attempt's outcome: the status code, and for a
// failure error.type (the status code, or "_OTHER" without an answer) and
// the attempt's safe error message (Result.Err never holds the URL's query,
// credentials or the secret).
func endClientSpan(span trace.Span, res Result) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	if res.StatusCode != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(res.StatusCode))
	}
	if res.OK() {
		return
	}
	et := "_OTHER"
	if res.StatusCode != 0 {
		et = strconv.Itoa(res.StatusCode)
	}
	span.SetAttributes(semconv.ErrorTypeKey.String(et))
	if res.Err != nil {
		span.SetStatus(codes.Error, res.Err.Error())
	} else {
		span.SetStatus(codes.Error, "")
	}
}
