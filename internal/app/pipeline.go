package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/mail"
	"github.com/regcase/regcase/internal/pipeline"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/stream"
	"github.com/regcase/regcase/internal/webhook"
)

func webhookPolicy(c *config.Config) webhook.Policy {
	return webhook.Policy{Allow: c.Pipeline.WebhookAllow, RequireHTTPS: c.Pipeline.WebhookHTTPS}
}

// instanceName names this process among replicas (lease holder, consumer).
func instanceName() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// background is the event pipeline and SLA scan of a worker (or of "all"):
// with REDIS_URL, the relay publishes to the stream and a consumer group
// feeds the handlers; without, the relay runs the handlers in process.
type background struct {
	p       *process
	metrics *pipeline.Metrics
	name    string
	redis   *stream.Client // nil in embedded mode or until connected

	connected chan struct{}
}

func newBackground(p *process, reg prometheus.Registerer) *background {
	m := pipeline.NewMetrics(reg)
	m.RegisterOutbox(p.db)
	b := &background{p: p, metrics: m, name: instanceName(), connected: make(chan struct{})}
	if p.cfg.RedisURL != "" {
		p.addReady(b.redisReady)
	}
	return b
}

// redisReady fails while Redis cannot be reached (worker readiness reflects
// its dependencies).
func (b *background) redisReady(ctx context.Context) error {
	select {
	case <-b.connected:
	default:
		return errors.New("redis: not connected yet")
	}
	if err := b.redis.Ping(ctx); err != nil {
		return errors.New("redis unreachable")
	}
	return nil
}

// run runs the pipeline until ctx ends and then drains within drain.
func (b *background) run(ctx context.Context, drain time.Duration) {
	c, log, svc, db := b.p.cfg, b.p.log, b.p.svc, b.p.db
	pc := c.Pipeline
	// Handlers and deliverers leave two connections of the pool to the
	// relay, the SLA scan and the checkpointer (see pipeline.Gate).
	var gate pipeline.Gate
	if !c.IsSQLite() {
		gate = pipeline.NewGate(max(1, c.DBMaxConns-2))
	}
	sender := &webhook.Sender{Client: webhookPolicy(c).Client(pc.WebhookTimeout), MaxResponseBytes: pc.WebhookMaxBody}
	deliverer := &pipeline.Deliverer{Store: db, Svc: svc, Sender: sender, Log: log.With(slog.String("component", "webhooks")),
		Metrics: b.metrics, MaxAttempts: pc.WebhookAttempts, BackoffBase: pc.BackoffBase, BackoffMax: pc.BackoffMax,
		Lease: 3*pc.WebhookTimeout + 5*time.Second, Concurrency: pc.WebhookConcurrent, PollEvery: min(500*time.Millisecond, max(20*time.Millisecond, pc.BackoffBase/4)), Now: time.Now, Gate: gate}
	fanout := &pipeline.Fanout{Store: db, Deliverer: deliverer, NewID: svc.NewID, Now: time.Now, Gate: gate}
	handlers := []pipeline.Handler{fanout}
	var mailer *pipeline.Mailer
	if c.SMTP.Host != "" {
		mailer = newMailer(c, b.p, b.metrics)
		handlers = append(handlers, &pipeline.Notifier{Store: db, Svc: svc, Rules: pipeline.DefaultNotifyRules, Mailer: mailer,
			NewID: svc.NewID, Now: time.Now, Gate: gate})
	}
	sla := &pipeline.SLAScanner{Store: db, Svc: svc, Every: pc.SLAScanEvery, Batch: 200, Log: log.With(slog.String("component", "sla")),
		Metrics: b.metrics, Now: time.Now}
	relay := &pipeline.Relay{Store: db, Holder: b.name, Batch: pc.RelayBatch, Every: pc.RelayEvery, LeaseTTL: 10 * time.Second,
		Retention: pc.OutboxRetention, Log: log.With(slog.String("component", "relay")), Metrics: b.metrics, Now: time.Now}

	var wg sync.WaitGroup
	goRun := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	goRun(func() { deliverer.Run(ctx) })
	goRun(func() { sla.Run(ctx) })
	if mailer != nil {
		goRun(func() { mailer.Run(ctx) })
		log.Info("e-mail notifications on", slog.String("smtp", c.SMTP.Host))
	}

	if c.RedisURL == "" {
		relay.Pub = &pipeline.InProcess{Handlers: handlers, Svc: svc, MaxDeliveries: pc.MaxDeliveries,
			Log: log.With(slog.String("component", "handlers")), Metrics: b.metrics}
		log.Info("event pipeline: in process (no REDIS_URL)")
		goRun(func() { relay.Run(ctx) })
	} else {
		cl := b.connect(ctx)
		if cl != nil {
			defer cl.Close()
			relay.Pub = &pipeline.StreamPublisher{Client: cl}
			groups := make([]string, 0, len(handlers))
			for _, h := range handlers {
				groups = append(groups, h.Name())
			}
			relay.Maintain = pipeline.StreamMaintenance(cl, db, groups, log, b.metrics)
			goRun(func() { relay.Run(ctx) })
			for _, h := range handlers {
				cons := &pipeline.Consumer{Client: cl, Handler: h, Svc: svc, Name: b.name, Concurrency: pc.Concurrency,
					MaxDeliveries: pc.MaxDeliveries, ClaimIdle: pc.ClaimIdle, HandleTimeout: 30 * time.Second,
					Log: log.With(slog.String("component", "consumer")), Metrics: b.metrics}
				goRun(func() { cons.Run(ctx, drain) })
			}
			log.Info("event pipeline: Redis Streams", slog.String("consumer", b.name))
		}
	}
	// Everything stops taking work when ctx ends and finishes what it holds:
	// an attempt in flight (bounded by REGCASE_WEBHOOK_TIMEOUT), a handler
	// (consumers wait up to drain, then cancel; unacknowledged messages stay
	// pending for another worker), queued deliveries are handed back.
	<-ctx.Done()
	wg.Wait()
}

// newMailer is the notification sender of REGCASE_SMTP_*.
func newMailer(c *config.Config, p *process, m *pipeline.Metrics) *pipeline.Mailer {
	s := c.SMTP
	sender := &mail.Sender{Config: mail.Config{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password,
		From: s.From, StartTLS: s.StartTLS, Timeout: s.Timeout}}
	return &pipeline.Mailer{Store: p.db, Svc: p.svc, Sender: sender, PublicURL: publicBase(c), MaxAttempts: s.MaxAttempts,
		BackoffBase: s.BackoffBase, BackoffMax: s.BackoffMax, Lease: 2*s.Timeout + 10*time.Second,
		PollEvery: min(time.Second, max(50*time.Millisecond, s.BackoffBase/4)), Batch: 20,
		Log: p.log.With(slog.String("component", "notifications")), Metrics: m, Now: time.Now}
}

// publicBase is where officers and reporters reach the web pages.
func publicBase(c *config.Config) string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	return "http://" + displayAddr(c.HTTPAddr)
}

// connect opens Redis, retrying until it answers or ctx ends (a worker that
// starts before Redis waits for it, not ready meanwhile).
func (b *background) connect(ctx context.Context) *stream.Client {
	errs := 0
	for ctx.Err() == nil {
		cl, err := stream.Open(ctx, b.p.cfg.RedisURL, stream.Options{MaxLen: b.p.cfg.Pipeline.StreamMaxLen})
		if err == nil {
			b.redis = cl
			b.metrics.RegisterStream(cl)
			close(b.connected)
			return cl
		}
		if errs%30 == 0 {
			b.p.log.Error("cannot reach Redis; retrying", slog.Any("error", err))
		}
		errs++
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

var _ regcase.PipelineStore = (*database)(nil)
