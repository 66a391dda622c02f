package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/regcase"
)

// Publisher sends outbox events on, in order, and reports how many of them
// (a prefix) it sent; the relay marks exactly those published.
type Publisher interface {
	Publish(ctx context.Context, evs []*regcase.OutboxEvent) (int, error)
}

// ErrBackpressure is returned by a Publisher that refuses work for now (the
// stream is full): the events wait in the outbox.
var ErrBackpressure = errors.New("stream full: waiting for consumers")

// RelayLease names the lease that elects the one relay among replicas.
const RelayLease = "outbox-relay"

// Relay moves events from the outbox to a Publisher. Several replicas may
// run it: a lease in the database elects one at a time, which keeps the
// outbox order (and so per-case order) on the stream. A crash between
// publishing and marking publishes again on the next round; consumers dedupe
// by event ID.
type Relay struct {
	Store     regcase.Store
	Pub       Publisher
	Holder    string // unique per process
	Batch     int
	Every     time.Duration // idle poll interval
	LeaseTTL  time.Duration
	Retention time.Duration // published rows (and dedupe records) are kept this long
	Log       *slog.Logger
	Metrics   *Metrics
	// Maintain runs about once a minute while this replica leads (stream
	// trimming); may be nil.
	Maintain func(ctx context.Context)
	Now      func() time.Time
}

// Run relays until ctx ends; on the way out it gives the lease up so that
// another replica takes over at once.
func (r *Relay) Run(ctx context.Context) {
	var leader bool
	var renewed, maintained time.Time
	var maintaining atomic.Bool
	var maint sync.WaitGroup
	defer maint.Wait() // a round in progress ends with ctx; wait for it
	errs := newErrLog(r.Log, "outbox relay failed")
	backoff := r.Every
	defer func() {
		if leader {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = r.Store.ReleaseLease(rctx, RelayLease, r.Holder)
			cancel()
		}
	}()
	for ctx.Err() == nil {
		if !leader || time.Since(renewed) > r.LeaseTTL/3 {
			ok, err := r.Store.AcquireLease(ctx, RelayLease, r.Holder, r.LeaseTTL)
			if errs.report(err) {
				r.Metrics.RelayErrors.Inc()
				leader = false
				sleepCtx(ctx, time.Second)
				continue
			}
			if ok && !leader {
				r.Log.Info("outbox relay: leading", slog.String("holder", r.Holder))
			}
			leader, renewed = ok, time.Now()
			if !leader {
				sleepCtx(ctx, min(time.Second, r.LeaseTTL/4))
				continue
			}
		}
		// Maintenance (pruning, trimming, the lost-event check) runs beside
		// the relay, one round at a time: a slow round must not stall
		// publishing (measured: p99 spikes of ~1 s once a minute).
		if time.Since(maintained) > time.Minute && maintaining.CompareAndSwap(false, true) {
			maintained = time.Now()
			maint.Add(1)
			go func() { defer maint.Done(); defer maintaining.Store(false); r.maintain(ctx) }()
		}
		n, err := r.round(ctx)
		switch {
		case errors.Is(err, ErrBackpressure):
			sleepCtx(ctx, 250*time.Millisecond)
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			errs.report(err)
			r.Metrics.RelayErrors.Inc()
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
		case n == r.Batch:
			errs.report(nil)
			backoff = r.Every
			// more is waiting: go on at once
		default:
			errs.report(nil)
			backoff = r.Every
			sleepCtx(ctx, r.Every)
		}
	}
}

// round publishes one batch and returns how many events it marked.
func (r *Relay) round(ctx context.Context) (int, error) {
	evs, err := r.Store.PendingOutbox(ctx, r.Batch)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	// A round with events is a span of its own, linked to each event's
	// trace (idle polls make none).
	list := make([]*regcase.Event, len(evs))
	for i, oe := range evs {
		list[i] = &oe.Event
	}
	ctx, span := startBatch(ctx, "outbox relay", trace.SpanKindInternal, list)
	n, err := r.publish(ctx, evs)
	endSpan(span, err)
	return n, err
}

func (r *Relay) publish(ctx context.Context, evs []*regcase.OutboxEvent) (int, error) {
	n, perr := r.Pub.Publish(ctx, evs)
	if n > 0 {
		seqs := make([]int64, n)
		for i, e := range evs[:n] {
			seqs[i] = e.Seq
		}
		// Marking must not be cut by shutdown: what was published should be
		// marked, or it goes out twice.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.Store.MarkPublished(mctx, seqs, r.Now()); err != nil {
			return 0, err
		}
		r.Metrics.Published.Add(float64(n))
	}
	if perr != nil {
		return n, perr
	}
	return n, nil
}

func (r *Relay) maintain(ctx context.Context) {
	if r.Retention > 0 {
		before := r.Now().Add(-r.Retention)
		for ctx.Err() == nil {
			n, err := r.Store.PruneOutbox(ctx, before, 5000)
			if err != nil {
				r.Log.Warn("outbox prune failed", slog.Any("error", err))
				break
			}
			if n < 5000 {
				break
			}
		}
	}
	if r.Maintain != nil {
		r.Maintain(ctx)
	}
}
