package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/stream"
)

// StreamPublisher is the Publisher of the distributed mode: one pipelined
// XADD per batch onto the Redis stream. It refuses work while the stream is
// full (consumers far behind), so the stream stays bounded without a lossy
// MAXLEN trim; the outbox holds the backlog meanwhile.
type StreamPublisher struct {
	Client *stream.Client
}

// Publish implements Publisher.
func (p *StreamPublisher) Publish(ctx context.Context, evs []*regcase.OutboxEvent) (int, error) {
	full, err := p.Client.Full(ctx)
	if err != nil {
		return 0, err
	}
	if full {
		return 0, ErrBackpressure
	}
	msgs := make([]stream.Outgoing, len(evs))
	spans := make([]trace.Span, len(evs))
	for i, e := range evs {
		body, err := e.CloudEvent()
		if err != nil {
			return 0, err
		}
		msgs[i] = stream.Outgoing{EventID: e.ID, Type: e.Type, Body: body}
		// The event's own trace shows when it left the outbox.
		_, spans[i] = startEvent(ctx, "send "+p.Client.Options().Stream, trace.SpanKindProducer, &e.Event, messagingSystem,
			semconv.MessagingOperationTypeSend, semconv.MessagingDestinationName(p.Client.Options().Stream))
	}
	err = p.Client.Publish(ctx, msgs)
	for _, s := range spans {
		endSpan(s, err)
	}
	if err != nil {
		return 0, err
	}
	return len(evs), nil
}

// Consumer reads one consumer group of the stream and runs its handler with
// bounded concurrency. A message is acknowledged only after the handler
// committed; a failed one stays pending and is retried when it has been idle
// for ClaimIdle (by this consumer or any other, so a dead consumer's
// messages are taken over); after MaxDeliveries deliveries it is
// dead-lettered (table + dead stream) and acknowledged.
type Consumer struct {
	Client        *stream.Client
	Handler       Handler
	Svc           *regcase.Service
	Name          string // unique per process
	Concurrency   int
	MaxDeliveries int
	ClaimIdle     time.Duration
	Log           *slog.Logger
	Metrics       *Metrics
	// HandleTimeout bounds one handler run.
	HandleTimeout time.Duration
}

// Run consumes until ctx ends; then it stops reading and waits (up to
// drain) for the handlers in flight. Whatever is not acknowledged by then
// stays pending for another consumer.
func (c *Consumer) Run(ctx context.Context, drain time.Duration) {
	group := c.Handler.Name()
	errs := newErrLog(c.Log.With(slog.String("group", group)), "stream consumer failed")
	for ctx.Err() == nil {
		if errs.report(c.Client.EnsureGroup(ctx, group)) {
			sleepCtx(ctx, time.Second)
			continue
		}
		break
	}
	sem := make(chan struct{}, c.Concurrency)
	var wg sync.WaitGroup
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	dispatch := func(m stream.Message) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.process(hctx, group, m)
		}()
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= c.ClaimIdle/2 {
			lastClaim = time.Now()
			msgs, err := c.Client.Reclaim(ctx, group, c.Name, c.ClaimIdle, int64(c.Concurrency))
			if !errs.report(err) {
				for _, m := range msgs {
					dispatch(m)
				}
			}
		}
		// Wait for a free slot so that we never read more than we can run.
		sem <- struct{}{}
		free := cap(sem) - len(sem) + 1
		<-sem
		msgs, err := c.Client.Read(ctx, group, c.Name, int64(free), time.Second)
		if ctx.Err() != nil {
			break
		}
		if errs.report(err) {
			sleepCtx(ctx, time.Second)
			continue
		}
		if bh, ok := c.Handler.(BatchHandler); ok && len(msgs) > 1 {
			// One transaction for the whole read (it holds as many slots).
			for range msgs {
				sem <- struct{}{}
			}
			wg.Add(1)
			go func() {
				defer func() {
					for range msgs {
						<-sem
					}
					wg.Done()
				}()
				c.processBatch(hctx, group, bh, msgs)
			}()
			continue
		}
		for _, m := range msgs {
			dispatch(m)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
		cancelHandlers()
		<-done
	}
}

// processBatch handles first deliveries in one transaction and acknowledges
// them together; if the batch fails, each message is handled on its own so
// that one bad event cannot hold the others back.
func (c *Consumer) processBatch(ctx context.Context, group string, bh BatchHandler, msgs []stream.Message) {
	var evs []*regcase.Event
	var ok []stream.Message
	for _, m := range msgs {
		ev, err := regcase.ParseCloudEvent(m.Body)
		if err != nil || m.Deliveries > 1 {
			c.process(ctx, group, m)
			continue
		}
		evs, ok = append(evs, ev), append(ok, m)
	}
	if len(evs) == 0 {
		return
	}
	// One span for the batch transaction, linked to every event's trace;
	// one span per event in its own trace, linked to the batch.
	hctx, cancel := context.WithTimeout(ctx, c.HandleTimeout)
	start := time.Now()
	err := tracedBatch(hctx, "process "+c.Client.Options().Stream, evs, c.messagingAttrs(group),
		func(ctx context.Context) error { return bh.HandleBatch(ctx, evs) })
	cancel()
	if err != nil {
		c.Log.Warn("batch handling failed; handling its events one by one", slog.String("group", group),
			slog.Int("events", len(evs)), slog.Any("error", err))
		for _, m := range ok {
			c.process(ctx, group, m)
		}
		return
	}
	per := time.Since(start).Seconds() / float64(len(evs))
	ids := make([]string, len(ok))
	for i, m := range ok {
		ids[i] = m.StreamID
		c.Metrics.HandleSeconds.WithLabelValues(group).Observe(per)
	}
	c.Metrics.Events.WithLabelValues(group, "handled").Add(float64(len(ok)))
	if err := c.Client.Ack(context.WithoutCancel(ctx), group, ids...); err != nil {
		c.Log.Warn("ack failed; the events will be redelivered and skipped", slog.String("group", group), slog.Any("error", err))
	}
}

func (c *Consumer) process(ctx context.Context, group string, m stream.Message) {
	log := c.Log.With(slog.String("group", group), slog.String("event", m.EventID), slog.Int64("deliveries", m.Deliveries))
	ev, perr := regcase.ParseCloudEvent(m.Body)
	if perr != nil || m.Deliveries > int64(c.MaxDeliveries) {
		reason := fmt.Sprintf("delivered %d times without success (limit %d)", m.Deliveries, c.MaxDeliveries)
		if perr != nil {
			reason = "unreadable message: " + perr.Error()
			ev = &regcase.Event{ID: m.EventID, Type: m.Type, Source: "unknown", Time: time.Now(), Data: nil}
		}
		c.deadLetter(ctx, group, m, ev, reason, log)
		return
	}
	// The request that caused the event correlates the worker's log lines
	// with the API's (X-Request-ID, carried as the requestid extension;
	// trace_id and span_id come from the span, a child of the request's).
	log = log.With(slog.String("request_id", ev.RequestID))
	if m.Deliveries > 1 {
		c.Metrics.Events.WithLabelValues(group, "retried").Inc()
	}
	ctx, span := startEvent(ctx, "process "+c.Client.Options().Stream, trace.SpanKindConsumer, ev,
		append(c.messagingAttrs(group), attribute.Int64("messaging.redis.delivery_count", m.Deliveries))...)
	hctx, cancel := context.WithTimeout(ctx, c.HandleTimeout)
	start := time.Now()
	err := c.Handler.Handle(hctx, ev)
	cancel()
	endSpan(span, err)
	c.Metrics.HandleSeconds.WithLabelValues(group).Observe(time.Since(start).Seconds())
	if err != nil {
		c.Metrics.Events.WithLabelValues(group, "failed").Inc()
		log.WarnContext(ctx, "event handling failed; it stays pending and is retried after the claim timeout",
			slog.String("type", ev.Type), slog.Any("error", err))
		return
	}
	c.Metrics.Events.WithLabelValues(group, "handled").Inc()
	if err := c.Client.Ack(context.WithoutCancel(ctx), group, m.StreamID); err != nil {
		// Handled and committed but not acknowledged: it comes back after
		// the claim timeout and MarkProcessed makes it a no-op.
		log.WarnContext(ctx, "ack failed; the event will be redelivered and skipped", slog.Any("error", err))
	}
}

// messagingAttrs are the messaging attributes of a consumer's spans.
func (c *Consumer) messagingAttrs(group string) []attribute.KeyValue {
	return []attribute.KeyValue{messagingSystem, semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(c.Client.Options().Stream), semconv.MessagingConsumerGroupName(group)}
}

func (c *Consumer) deadLetter(ctx context.Context, group string, m stream.Message, ev *regcase.Event, reason string, log *slog.Logger) {
	if err := c.Svc.DeadLetter(ctx, group, ev, reason, int(m.Deliveries)); err != nil {
		log.Error("dead-lettering failed; the event stays pending", slog.Any("error", err))
		return
	}
	if err := c.Client.DeadLetter(ctx, m, group, reason); err != nil {
		log.Warn("dead stream append failed (the dead_events table has it)", slog.Any("error", err))
	}
	if err := c.Client.Ack(ctx, group, m.StreamID); err != nil {
		log.Warn("ack of a dead-lettered event failed", slog.Any("error", err))
	}
	c.Metrics.Events.WithLabelValues(group, "dead_lettered").Inc()
	log.Warn("event dead-lettered", slog.String("type", ev.Type), slog.String("reason", reason))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// RegisterStream exports the stream length and, per consumer group, its lag
// and pending count, read from Redis at scrape time, and regcase_stream_up:
// 0 while Redis cannot be read. An unreachable Redis never fails the whole
// scrape: the outbox backlog, which is what grows while Redis is down, must
// stay visible exactly then.
func (m *Metrics) RegisterStream(cl *stream.Client) {
	m.reg.MustRegister(&streamCollector{cl: cl,
		up:      prometheus.NewDesc("regcase_stream_up", "1 when the event stream's statistics could be read from Redis at scrape time, 0 when not.", nil, nil),
		length:  prometheus.NewDesc("regcase_stream_length_events", "Entries in the event stream.", nil, nil),
		lag:     prometheus.NewDesc("regcase_stream_consumer_lag_events", "Entries not yet delivered to the consumer group.", []string{"group"}, nil),
		pending: prometheus.NewDesc("regcase_stream_pending_events", "Entries delivered to the group but not acknowledged.", []string{"group"}, nil),
	})
}

type streamCollector struct {
	cl                       *stream.Client
	up, length, lag, pending *prometheus.Desc
}

func (s *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.up
	ch <- s.length
	ch <- s.lag
	ch <- s.pending
}

func (s *streamCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, groups, err := s.cl.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(s.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(s.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(s.length, prometheus.GaugeValue, float64(n))
	for _, g := range groups {
		ch <- prometheus.MustNewConstMetric(s.lag, prometheus.GaugeValue, float64(g.Lag), g.Name)
		ch <- prometheus.MustNewConstMetric(s.pending, prometheus.GaugeValue, float64(g.Pending), g.Name)
	}
}

// LostWindow is how far back the relay leader looks for events Redis lost
// when it starts; afterwards each round looks only at what was published
// since the previous round (with lostOverlap of overlap), so the check costs
// what the traffic of a minute costs, not a day's. lostMargin keeps clock
// skew between Redis and us from mattering.
const (
	LostWindow  = time.Hour
	lostOverlap = 5 * time.Minute
	lostMargin  = time.Minute
)

// StreamMaintenance trims acknowledged entries, puts events Redis lost back
// on the outbox, and forgets consumers that left long ago; the relay leader
// runs it about once a minute.
//
// Lost events: an event that was published (so marked in the outbox) before
// the oldest entry still in the stream is no longer in the stream; if no
// handler group processed or dead-lettered it, Redis lost it (crash between
// its last fsync and our mark, failover to a replica that lagged, a
// flush). It is published again; handlers dedupe, so a false positive
// costs one redelivery.
func StreamMaintenance(cl *stream.Client, store regcase.PipelineStore, groups []string, log *slog.Logger, metrics *Metrics) func(context.Context) {
	var checked time.Time // the end of the window the previous round covered
	return func(ctx context.Context) {
		if _, err := cl.Trim(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("stream trim failed", slog.Any("error", err))
		}
		oldest, ok, err := cl.Oldest(ctx)
		if err != nil {
			log.Warn("stream inspection failed", slog.Any("error", err))
		} else {
			before := time.Now()
			if ok && oldest.Before(before) {
				before = oldest
			}
			before = before.Add(-lostMargin)
			after := before.Add(-LostWindow)
			if !checked.IsZero() && checked.Add(-lostOverlap).After(after) {
				after = checked.Add(-lostOverlap)
			}
			failed := false
			for _, g := range groups {
				n, err := store.RepublishLost(ctx, g, after, before, 10_000)
				failed = failed || err != nil
				switch {
				case err != nil:
					log.Warn("lost-event check failed", slog.String("group", g), slog.Any("error", err))
				case n > 0:
					metrics.Republished.Add(float64(n))
					log.Warn("events were lost by Redis before group handled them; published again",
						slog.String("group", g), slog.Int64("events", n))
				}
			}
			if !failed {
				checked = before
			}
		}
		for _, g := range groups {
			if _, err := cl.RemoveIdleConsumers(ctx, g, time.Hour); err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("consumer cleanup failed", slog.String("group", g), slog.Any("error", err))
			}
		}
	}
}
