package pipeline

import (
	"bytes"
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/telemetry"
)

// How the pipeline's spans join the trace of the request that wrote an
// event. Each event carries the trace context of its creation (outbox
// columns traceparent/tracestate, the CloudEvent's Distributed Tracing
// extension). Every per-event span — publishing it to the stream, handling
// it in a consumer group, each webhook delivery attempt — is a CHILD of
// that context, so one trace runs from the request to the receiver, however
// long the event waited, and a retry an hour later lands in the same trace.
// Work done for many events at once (a relay round, a batch transaction) is
// its own span in its own trace, with a LINK to each event's context (at
// most maxLinks), and each per-event span links back to it: a batch has
// many parents, which a tree cannot show.

// maxLinks bounds the links of a batch span (the SDK's default limit).
const maxLinks = 128

// attributes of the events' spans.
var (
	messagingSystem = semconv.MessagingSystemKey.String("redis")
	ceID            = attribute.Key("cloudevents.event_id")
	ceType          = attribute.Key("cloudevents.event_type")
)

// startBatch starts a span for work on evs together (a new trace), linked
// to each event's creation context.
func startBatch(ctx context.Context, name string, kind trace.SpanKind, evs []*regcase.Event, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !telemetry.Active() {
		return ctx, trace.SpanFromContext(ctx)
	}
	links := make([]trace.Link, 0, min(len(evs), maxLinks))
	for _, ev := range evs {
		if len(links) == maxLinks {
			break
		}
		if sc := telemetry.RemoteSpanContext(ev.TraceParent, ev.TraceState); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return telemetry.Tracer().Start(ctx, name, trace.WithNewRoot(), trace.WithSpanKind(kind), trace.WithLinks(links...),
		trace.WithAttributes(attrs...), trace.WithAttributes(semconv.MessagingBatchMessageCount(len(evs))))
}

// startEvent starts the span of one event's step, a child of the event's
// creation context (a new trace when it has none), linked to the span in
// ctx (a batch span) when there is one.
func startEvent(ctx context.Context, name string, kind trace.SpanKind, ev *regcase.Event, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !telemetry.Active() {
		// Tracing off: only the event's context is carried (a webhook
		// request still sends the caller's traceparent on).
		if sc := telemetry.RemoteSpanContext(ev.TraceParent, ev.TraceState); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
		return ctx, trace.SpanFromContext(ctx)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(attrs...),
		trace.WithAttributes(ceID.String(ev.ID), ceType.String(ev.Type), semconv.MessagingMessageID(ev.ID))}
	if batch := trace.SpanContextFromContext(ctx); batch.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: batch}))
	}
	if sc := telemetry.RemoteSpanContext(ev.TraceParent, ev.TraceState); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc) // replaces the batch as parent
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	return telemetry.Tracer().Start(ctx, name, opts...)
}

// tracedBatch runs fn (the handling of evs in one transaction) under a
// consumer batch span linked to every event's trace, with one consumer span
// per event in the event's own trace, linked to the batch.
func tracedBatch(ctx context.Context, name string, evs []*regcase.Event, attrs []attribute.KeyValue, fn func(context.Context) error) error {
	bctx, batch := startBatch(ctx, name, trace.SpanKindConsumer, evs, attrs...)
	spans := make([]trace.Span, len(evs))
	for i, ev := range evs {
		_, spans[i] = startEvent(bctx, name, trace.SpanKindConsumer, ev, attrs...)
	}
	err := fn(bctx)
	for _, s := range spans {
		endSpan(s, err)
	}
	endSpan(batch, err)
	return err
}

// endSpan ends span, marking it failed when err is not nil (the error's
// message is not recorded: it may quote data).
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "")
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	}
	span.End()
}

// errorType is a bounded error.type: the domain error code when there is
// one, else _OTHER.
func errorType(err error) string {
	if c := regcase.ErrorCodeOf(err); c != "" {
		return string(c)
	}
	return "_OTHER"
}

// payloadTrace reads the Distributed Tracing extension of a delivery's
// CloudEvent.
func payloadTrace(payload []byte) (traceparent, tracestate string) {
	if !bytes.Contains(payload, []byte(`"traceparent"`)) {
		return "", "" // not worth a parse
	}
	var v struct {
		TraceParent string `json:"traceparent"`
		TraceState  string `json:"tracestate"`
	}
	_ = json.Unmarshal(payload, &v)
	return v.TraceParent, v.TraceState
}
