package telemetry

import (
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// HTTPServer returns the tracing middleware of an HTTP server. On (enabled
// true) it starts a server span per request, a child of the incoming
// traceparent, named by the method until the router names the route (see
// SetRoute), with the semantic-convention attributes http.request.method,
// http.route, http.response.status_code, url.scheme and
// network.protocol.version. It records no URL path, query, client address,
// user agent or header: paths carry identifiers and addresses are personal
// data. A 5xx answer marks the span as an error.
//
// Probes and scrapes (/health/*, /metrics) get no span, as they get no log
// line: a span every few seconds per replica would drown the traces.
//
// Off (enabled false) it only reads an incoming traceparent into the
// context (one header lookup when there is none), so log lines, events and
// webhooks still carry the caller's trace.
func HTTPServer(enabled bool, next http.Handler) http.Handler {
	passOn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header["Traceparent"]) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
	})
	if !enabled {
		return passOn
	}
	tracer := Tracer()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/health/") || r.URL.Path == "/metrics" {
			passOn(w, r)
			return
		}
		ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(method(r.Method)), semconv.URLScheme(scheme),
			semconv.NetworkProtocolVersion(strings.TrimPrefix(r.Proto, "HTTP/"))))
		defer span.End()
		sw := &statusRecorder{ResponseWriter: w}
		defer func() {
			status := sw.code
			if status == 0 {
				status = http.StatusOK
			}
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if status >= 500 {
				span.SetStatus(codes.Error, "")
				span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
			}
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// SetRoute names the server span of r after its route template ("GET
// /v1/cases/{id}") once the router matched it; a no-op when not tracing.
func SetRoute(r *http.Request, route string) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() || route == "" {
		return
	}
	span.SetName(r.Method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}

// method is the request method, or _OTHER for a non-standard one (the
// semantic conventions keep the attribute's values bounded).
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// statusRecorder keeps the status code of the answer (0 until a final one
// is written: an implicit 200).
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
