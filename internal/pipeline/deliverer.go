package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/webhook"
)

// DeliveryGroup labels webhook deliveries in regcase_worker_events_total.
const DeliveryGroup = "webhook_delivery"

// Deliverer sends webhook deliveries: the ones Fanout offers right away and
// the ones it claims from the database when they are due (retries after
// backoff, redelivery requests, leases of dead workers). Each attempt is
// recorded (the delivery history); after MaxAttempts failures a delivery is
// dead, visible in the API and redeliverable.
type Deliverer struct {
	Store       regcase.Store
	Svc         *regcase.Service
	Sender      *webhook.Sender
	Log         *slog.Logger
	Metrics     *Metrics
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Lease is how long a claimed delivery is ours; it must exceed the
	// sender's timeout with margin.
	Lease       time.Duration
	Concurrency int
	PollEvery   time.Duration
	Now         func() time.Time
	Gate        Gate // bounds database use (nil: no bound)

	once    sync.Once
	queue   chan *regcase.Delivery
	results chan outcome
	hooks   sync.Map // webhook id → *hookEntry
}

type hookEntry struct {
	w       *regcase.Webhook
	key     []byte
	fetched time.Time
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		d.queue = make(chan *regcase.Delivery, d.Concurrency*4)
		d.results = make(chan outcome, d.Concurrency*4)
	})
}

// Offer hands freshly claimed deliveries to the senders, waiting up to a
// couple of seconds for room (backpressure on the handlers: fresh
// deliveries must not overtake the ones already waiting); what still does
// not fit is released for the next poll rather than waiting out its lease.
func (d *Deliverer) Offer(ctx context.Context, ds []*regcase.Delivery) {
	d.init()
	var rest []string
	wait := time.NewTimer(2 * time.Second)
	defer wait.Stop()
	expired := false
	for _, del := range ds {
		if expired {
			rest = append(rest, del.ID)
			continue
		}
		select {
		case d.queue <- del:
		case <-wait.C:
			expired = true
			rest = append(rest, del.ID)
		case <-ctx.Done():
			expired = true
			rest = append(rest, del.ID)
		}
	}
	if len(rest) > 0 {
		if err := d.Store.ReleaseDeliveries(ctx, rest, d.Now()); err != nil {
			d.Log.Warn("could not release deliveries; they wait for their lease", slog.Int("count", len(rest)), slog.Any("error", err))
		}
	}
}

// Run sends until ctx ends, then finishes the attempts in flight and
// releases the queued ones.
func (d *Deliverer) Run(ctx context.Context) {
	d.init()
	recorded := make(chan struct{})
	go func() { defer close(recorded); d.record() }()
	var wg sync.WaitGroup
	for range d.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case del := <-d.queue:
					d.attempt(context.WithoutCancel(ctx), del)
				}
			}
		}()
	}
	t := time.NewTicker(d.PollEvery)
	defer t.Stop()
	errs := newErrLog(d.Log, "webhook delivery poll failed")
	for {
		select {
		case <-ctx.Done():
		case <-t.C:
			free := cap(d.queue) - len(d.queue)
			if free < d.Concurrency {
				continue
			}
			var ds []*regcase.Delivery
			err := d.Gate.Do(ctx, func() (err error) {
				ds, err = d.Store.ClaimDeliveries(ctx, d.Now(), d.Lease, free)
				return err
			})
			if errs.report(err) {
				continue
			}
			for _, del := range ds {
				d.queue <- del // room was checked; only this loop and Offer fill it
			}
			continue
		}
		break
	}
	wg.Wait()
	close(d.results) // the senders are done: flush the last attempts
	<-recorded
	var ids []string
	for {
		select {
		case del := <-d.queue:
			ids = append(ids, del.ID)
			continue
		default:
		}
		break
	}
	if len(ids) > 0 {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Store.ReleaseDeliveries(rctx, ids, d.Now()); err != nil {
			d.Log.Warn("could not hand back queued deliveries; they wait for their lease", slog.Int("count", len(ids)), slog.Any("error", err))
		}
	}
}

func (d *Deliverer) webhook(ctx context.Context, id string) (*hookEntry, error) {
	if e, ok := d.hooks.Load(id); ok && time.Since(e.(*hookEntry).fetched) < 30*time.Second {
		return e.(*hookEntry), nil
	}
	w, err := d.Store.GetWebhook(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &hookEntry{w: w, fetched: time.Now()}
	if w.DeletedAt == nil {
		secret, err := d.Svc.WebhookSecret(w)
		if err != nil {
			return nil, err
		}
		if e.key, err = webhook.ParseSecret(secret); err != nil {
			return nil, err
		}
	}
	d.hooks.Store(id, e)
	return e, nil
}

// attempt makes one attempt and records it. A failure to record (database
// down) leaves the delivery claimed: it is tried again when the lease runs
// out, so the receiver may see it twice and dedupes by webhook-id.
func (d *Deliverer) attempt(ctx context.Context, del *regcase.Delivery) {
	// Every attempt is a span in the trace of the event's creation; the
	// HTTP client span under it sends its traceparent to the receiver.
	tp, ts := payloadTrace(del.Payload)
	ctx, span := startEvent(ctx, "webhook delivery", trace.SpanKindInternal,
		&regcase.Event{ID: del.EventID, Type: del.EventType, TraceParent: tp, TraceState: ts},
		attribute.String("regcase.webhook.id", del.WebhookID), attribute.String("regcase.delivery.id", del.ID),
		attribute.Int("regcase.delivery.attempt", del.Attempts+1))
	res := d.send(ctx, del)
	endSpan(span, res.Err)
	d.recordResult(del, res)
}

// send makes the HTTP attempt of del (or fails it without one).
func (d *Deliverer) send(ctx context.Context, del *regcase.Delivery) webhook.Result {
	var res webhook.Result
	e, err := d.webhook(ctx, del.WebhookID)
	switch {
	case err != nil:
		res = webhook.Result{Err: err}
	case e.w.DeletedAt != nil:
		res = webhook.Result{Err: errors.New("subscription deleted")}
		del.Attempts = d.MaxAttempts - 1 // dead now
	default:
		sctx, cancel := context.WithTimeout(ctx, d.Lease/2)
		res = d.Sender.Send(sctx, e.w.URL, e.key, del.EventID, del.Payload)
		cancel()
	}
	return res
}

// recordResult updates del after an attempt and queues the record.
func (d *Deliverer) recordResult(del *regcase.Delivery, res webhook.Result) {
	now := d.Now()
	del.Attempts++
	del.LastAttemptAt = &now
	del.LastStatus = res.StatusCode
	a := &regcase.DeliveryAttempt{DeliveryID: del.ID, At: now, Duration: res.Duration, StatusCode: res.StatusCode}
	result := "handled"
	if res.OK() {
		del.Status, del.DeliveredAt, del.LastError = regcase.DeliveryDelivered, &now, ""
		d.Metrics.DeliverySeconds.WithLabelValues("success").Observe(res.Duration.Seconds())
		if t := eventTime(del.Payload); !t.IsZero() {
			d.Metrics.DeliveryLatency.Observe(now.Sub(t).Seconds())
		}
	} else {
		a.Error = res.Err.Error()
		del.LastError = a.Error
		d.Metrics.DeliverySeconds.WithLabelValues("failure").Observe(res.Duration.Seconds())
		if del.Attempts >= d.MaxAttempts {
			del.Status, result = regcase.DeliveryDead, "dead_lettered"
		} else {
			del.NextAttemptAt = now.Add(webhook.Backoff(del.Attempts, d.BackoffBase, d.BackoffMax, rand.Float64))
			result = "retried"
		}
	}
	if res.StatusCode != 0 || res.Err != nil {
		d.Metrics.DeliveryStatus.WithLabelValues(statusClass(res.StatusCode)).Inc()
	}
	d.results <- outcome{rec: regcase.AttemptRecord{Delivery: del, Attempt: a}, result: result}
}

// outcome is an attempt waiting to be recorded.
type outcome struct {
	rec    regcase.AttemptRecord
	result string
}

// record writes attempts in batches: whatever arrived while the previous
// write ran goes in the next (one round trip, one transaction). It returns
// when results is closed and drained.
func (d *Deliverer) record() {
	batch := make([]outcome, 0, 128)
	for o := range d.results {
		batch = append(batch[:0], o)
	more:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-d.results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		recs := make([]regcase.AttemptRecord, len(batch))
		for i, o := range batch {
			recs[i] = o.rec
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := d.Gate.Do(ctx, func() error { return d.Store.RecordAttempts(ctx, recs) })
		cancel()
		if err != nil {
			d.Metrics.Events.WithLabelValues(DeliveryGroup, "failed").Add(float64(len(batch)))
			d.Log.Error("could not record webhook attempts; they will be retried after their lease",
				slog.Int("attempts", len(batch)), slog.Any("error", err))
			continue
		}
		for _, o := range batch {
			d.Metrics.Events.WithLabelValues(DeliveryGroup, o.result).Inc()
			if o.result == "dead_lettered" {
				del := o.rec.Delivery
				d.Log.Warn("webhook delivery dead after its last attempt", slog.String("delivery", del.ID),
					slog.String("webhook", del.WebhookID), slog.String("event", del.EventID), slog.Int("attempts", del.Attempts),
					slog.String("error", del.LastError))
			}
		}
	}
}

func eventTime(payload []byte) time.Time {
	var v struct {
		Time time.Time `json:"time"`
	}
	_ = json.Unmarshal(payload, &v)
	return v.Time
}

// errLog logs a repeating error once, then at most every 30 s, and its
// recovery once.
type errLog struct {
	log    *slog.Logger
	msg    string
	failed bool
	last   time.Time
}

func newErrLog(log *slog.Logger, msg string) *errLog { return &errLog{log: log, msg: msg} }

// report logs err as above and reports whether it was an error.
func (e *errLog) report(err error) bool {
	if err == nil {
		if e.failed {
			e.log.Info(e.msg + ": recovered")
			e.failed = false
		}
		return false
	}
	if !e.failed || time.Since(e.last) > 30*time.Second {
		e.log.Error(e.msg, slog.Any("error", err))
		e.last = time.Now()
	}
	e.failed = true
	return true
}
