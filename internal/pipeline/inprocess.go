package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/regcase"
)

// InProcess is the Publisher of embedded mode (no Redis): it runs the
// handlers itself, in outbox order. An event counts as published once every
// handler took it, so a crash re-runs it after restart and the handlers'
// MarkProcessed skips what was done. A handler that keeps failing on an
// event dead-letters it after MaxDeliveries attempts (counted in memory:
// a restart gives it a fresh budget), so one poison event cannot stop the
// pipeline for good.
type InProcess struct {
	Handlers      []Handler
	Svc           *regcase.Service
	MaxDeliveries int
	Log           *slog.Logger
	Metrics       *Metrics

	mu       sync.Mutex
	failures map[string]int // handler + event id → failed attempts
}

// Publish implements Publisher.
func (p *InProcess) Publish(ctx context.Context, evs []*regcase.OutboxEvent) (int, error) {
	if p.batch(ctx, evs) {
		return len(evs), nil
	}
	for i, oe := range evs {
		for _, h := range p.Handlers {
			if err := p.handle(ctx, h, &oe.Event); err != nil {
				return i, err
			}
		}
	}
	return len(evs), nil
}

// batch runs every handler on the whole batch in one transaction each when
// they all can and no event of the batch has failed before; false means
// "do it event by event" (which also does the failure accounting).
func (p *InProcess) batch(ctx context.Context, evs []*regcase.OutboxEvent) bool {
	if len(evs) < 2 {
		return false
	}
	p.mu.Lock()
	failing := len(p.failures) > 0
	p.mu.Unlock()
	if failing {
		return false
	}
	list := make([]*regcase.Event, len(evs))
	for i, oe := range evs {
		list[i] = &oe.Event
	}
	for _, h := range p.Handlers {
		bh, ok := h.(BatchHandler)
		if !ok {
			return false
		}
		start := time.Now()
		if err := p.handleBatch(ctx, bh, list); err != nil {
			return false // handlers dedupe: the ones done are skipped one by one
		}
		per := time.Since(start).Seconds() / float64(len(list))
		for range list {
			p.Metrics.HandleSeconds.WithLabelValues(h.Name()).Observe(per)
		}
		p.Metrics.Events.WithLabelValues(h.Name(), "handled").Add(float64(len(list)))
	}
	return true
}

func (p *InProcess) handle(ctx context.Context, h Handler, ev *regcase.Event) error {
	key := h.Name() + "/" + ev.ID
	p.mu.Lock()
	if p.failures[key] > 0 {
		p.Metrics.Events.WithLabelValues(h.Name(), "retried").Inc()
	}
	p.mu.Unlock()
	start := time.Now()
	sctx, span := startEvent(ctx, "process "+h.Name(), trace.SpanKindConsumer, ev, semconv.MessagingOperationTypeProcess,
		semconv.MessagingConsumerGroupName(h.Name()))
	err := h.Handle(sctx, ev)
	endSpan(span, err)
	p.Metrics.HandleSeconds.WithLabelValues(h.Name()).Observe(time.Since(start).Seconds())
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		delete(p.failures, key)
		p.Metrics.Events.WithLabelValues(h.Name(), "handled").Inc()
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	if p.failures == nil {
		p.failures = map[string]int{}
	}
	p.failures[key]++
	n := p.failures[key]
	p.Metrics.Events.WithLabelValues(h.Name(), "failed").Inc()
	if n < p.MaxDeliveries {
		return fmt.Errorf("handler %s, event %s (attempt %d of %d): %w", h.Name(), ev.ID, n, p.MaxDeliveries, err)
	}
	if derr := p.Svc.DeadLetter(ctx, h.Name(), ev, err.Error(), n); derr != nil {
		return fmt.Errorf("dead-letter event %s: %w", ev.ID, derr)
	}
	delete(p.failures, key)
	p.Metrics.Events.WithLabelValues(h.Name(), "dead_lettered").Inc()
	p.Log.Warn("event dead-lettered", slog.String("group", h.Name()), slog.String("event", ev.ID), slog.String("request_id", ev.RequestID),
		slog.String("type", ev.Type), slog.Int("deliveries", n), slog.Any("error", err))
	return nil
}

// handleBatch runs bh on evs under a batch span (linked to every event's
// trace) with one span per event in the event's trace, as the stream
// consumer does.
func (p *InProcess) handleBatch(ctx context.Context, bh BatchHandler, evs []*regcase.Event) error {
	attrs := []attribute.KeyValue{semconv.MessagingOperationTypeProcess, semconv.MessagingConsumerGroupName(bh.Name())}
	return tracedBatch(ctx, "process "+bh.Name(), evs, attrs, func(ctx context.Context) error { return bh.HandleBatch(ctx, evs) })
}
