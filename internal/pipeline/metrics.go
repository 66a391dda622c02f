// Package pipeline carries domain events from the transactional outbox to
// their handlers and on to webhook receivers: the relay (outbox → Redis
// Streams, or straight to in-process handlers when there is no Redis), the
// stream consumers, the webhook fan-out and deliverer, and the SLA scan.
//
// Guarantees, by construction: an event is published only after the change
// that produced it committed (the outbox row is written in the same
// transaction); it stays in the outbox until published, so a Redis outage
// delays delivery and loses nothing; a crash between publishing and marking
// republishes, and handlers dedupe by event ID in the transaction of their
// effects (MarkProcessed); a message is acknowledged only after that commit;
// a consumer that dies leaves its messages pending, and they are reclaimed
// after an idle timeout; poison messages are dead-lettered after a delivery
// limit, visible and replayable.
package pipeline

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/regcase"
)

// Metrics are the pipeline's Prometheus series (names in
// deploy/prometheus/rules/regcase.rules.yml).
type Metrics struct {
	Events          *prometheus.CounterVec   // regcase_worker_events_total{group,result}
	HandleSeconds   *prometheus.HistogramVec // regcase_worker_event_duration_seconds{group}
	Published       prometheus.Counter       // regcase_relay_published_events_total
	RelayErrors     prometheus.Counter       // regcase_relay_errors_total
	Republished     prometheus.Counter       // regcase_relay_republished_events_total
	DeliverySeconds *prometheus.HistogramVec // regcase_webhook_delivery_duration_seconds{outcome}
	DeliveryStatus  *prometheus.CounterVec   // regcase_webhook_attempts_total{status}
	DeliveryLatency prometheus.Histogram     // regcase_webhook_event_latency_seconds
	Breaches        *prometheus.CounterVec   // regcase_sla_breaches_total{priority}
	Notifications   *prometheus.CounterVec   // regcase_notifications_total{kind,outcome}
	Deadlines       *prometheus.CounterVec   // regcase_deadline_marks_total{mark}
	reg             prometheus.Registerer
}

// NewMetrics creates and registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{reg: reg,
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_worker_events_total",
			Help: "Events and deliveries handled by the worker, by handler group and result (handled, failed, retried, dead_lettered)."},
			[]string{"group", "result"}),
		HandleSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "regcase_worker_event_duration_seconds",
			Help: "Time to handle one event, by handler group.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"group"}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{Name: "regcase_relay_published_events_total",
			Help: "Outbox events published by the relay."}),
		Republished: prometheus.NewCounter(prometheus.CounterOpts{Name: "regcase_relay_republished_events_total",
			Help: "Published events found missing from the stream and never handled (lost by Redis), published again."}),
		RelayErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "regcase_relay_errors_total",
			Help: "Relay rounds that failed (database or Redis unavailable); the events stay in the outbox."}),
		DeliverySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "regcase_webhook_delivery_duration_seconds",
			Help: "Duration of webhook delivery attempts, by outcome (success, failure).", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10)},
			[]string{"outcome"}),
		DeliveryStatus: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_webhook_attempts_total",
			Help: "Webhook delivery attempts by answer class (2xx, 3xx, 4xx, 5xx, error)."}, []string{"status"}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "regcase_webhook_event_latency_seconds",
			Help:    "Time from an event's commit to its successful webhook delivery.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}}),
		Breaches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_sla_breaches_total",
			Help: "SLA breaches marked, by the case's priority at the breach."}, []string{"priority"}),
	}
	m.Notifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_notifications_total",
		Help: "E-mail notification attempts by kind and outcome (sent, retry, dead, skipped)."}, []string{"kind", "outcome"})
	m.Deadlines = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_deadline_marks_total",
		Help: "Statutory deadline marks written (approaching, breached)."}, []string{"mark"})
	reg.MustRegister(m.Events, m.HandleSeconds, m.Published, m.Republished, m.RelayErrors, m.DeliverySeconds, m.DeliveryStatus, m.DeliveryLatency, m.Breaches,
		m.Notifications, m.Deadlines)
	return m
}

// RegisterOutbox exports the outbox backlog and the age of its oldest
// event, read from the database at scrape time.
func (m *Metrics) RegisterOutbox(store regcase.PipelineStore) {
	m.reg.MustRegister(&outboxCollector{store: store,
		backlog: prometheus.NewDesc("regcase_outbox_backlog_events", "Events in the outbox not yet published.", nil, nil),
		age:     prometheus.NewDesc("regcase_outbox_oldest_event_age_seconds", "Age of the oldest unpublished outbox event (0 when none).", nil, nil),
	})
}

type outboxCollector struct {
	store        regcase.PipelineStore
	backlog, age *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.backlog; ch <- c.age }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.store.OutboxStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.backlog, err)
		return
	}
	age := 0.0
	if oldest != nil {
		age = max(0, time.Since(*oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

func statusClass(code int) string {
	switch {
	case code == 0:
		return "error"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}
