package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TraceContext returns the W3C traceparent and tracestate of the span in
// ctx (recording or not, local or remote), or "" when ctx carries none.
// The service stores them with every outbox event (see
// regcase.Deps.TraceContext). A tracestate longer than MaxTraceState is
// dropped (the W3C limit receivers must accept).
func TraceContext(ctx context.Context) (traceparent, tracestate string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	Propagator.Inject(ctx, c)
	traceparent, tracestate = c["traceparent"], c["tracestate"]
	if len(tracestate) > MaxTraceState {
		tracestate = ""
	}
	return traceparent, tracestate
}

// MaxTraceState bounds the tracestate kept with an event.
const MaxTraceState = 512

// WithRemoteParent returns ctx carrying the remote span context described
// by traceparent and tracestate (an event's creation context); ctx is
// returned unchanged when traceparent is empty or malformed.
func WithRemoteParent(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}

// RemoteSpanContext is the span context of traceparent and tracestate (not
// valid when traceparent is empty or malformed), for span links.
func RemoteSpanContext(traceparent, tracestate string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(WithRemoteParent(context.Background(), traceparent, tracestate))
}

// InjectHTTP writes the trace context of ctx into h (traceparent,
// tracestate): the webhook request carries it to the receiver.
func InjectHTTP(ctx context.Context, h http.Header) {
	Propagator.Inject(ctx, propagation.HeaderCarrier(h))
}
