package pipeline

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/telemetry"
)

// SLAScanner marks breached cases. Every worker may run it: each breach is
// marked under the case's row lock after a fresh check (Service.MarkBreached),
// so it is marked, audited and evented exactly once however many scan; the
// scanners shuffle their batches so they mostly work on different cases.
type SLAScanner struct {
	Store   regcase.Store
	Svc     *regcase.Service
	Every   time.Duration
	Batch   int
	Log     *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// Run scans every Every until ctx ends.
func (s *SLAScanner) Run(ctx context.Context) {
	errs := newErrLog(s.Log, "SLA scan failed")
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		errs.report(s.Scan(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Scan marks every case breached now, then the statutory deadlines due
// (MarkDeadlines: approaching and breached, each once), and returns the
// first error.
func (s *SLAScanner) Scan(ctx context.Context) error {
	if err := s.scanSLA(ctx); err != nil {
		return err
	}
	return s.scanDeadlines(ctx)
}

// scanDeadlines marks the statutory deadlines due now.
func (s *SLAScanner) scanDeadlines(ctx context.Context) error {
	for ctx.Err() == nil {
		ids, err := s.Store.DueDeadlines(ctx, s.Now(), s.Svc.Deadlines().Warn, s.Batch)
		if err != nil {
			return err
		}
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		marked := 0
		for _, id := range ids {
			w, b, err := s.Svc.MarkDeadlines(ctx, id)
			if err != nil {
				return err
			}
			marked += w + b
			if s.Metrics != nil && s.Metrics.Deadlines != nil {
				s.Metrics.Deadlines.WithLabelValues("approaching").Add(float64(w))
				s.Metrics.Deadlines.WithLabelValues("breached").Add(float64(b))
			}
			if b > 0 {
				s.Log.Info("statutory deadline breached", slog.String("case_id", id), slog.Int("deadlines", b))
			}
		}
		if len(ids) < s.Batch || marked == 0 {
			return nil
		}
	}
	return ctx.Err()
}

func (s *SLAScanner) scanSLA(ctx context.Context) error {
	for ctx.Err() == nil {
		ids, err := s.Store.OverdueCases(ctx, s.Now(), s.Batch)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		marked, err := s.mark(ctx, ids)
		if err != nil {
			return err
		}
		if len(ids) < s.Batch || marked == 0 {
			// A full batch none of which we could mark was marked by
			// others (or is not breachable): the next tick looks again.
			return nil
		}
	}
	return ctx.Err()
}

// mark marks the breaches among ids, under one span (a trace of its own,
// which the breach events continue) per batch that found overdue cases.
func (s *SLAScanner) mark(ctx context.Context, ids []string) (marked int, err error) {
	span := trace.SpanFromContext(ctx)
	if telemetry.Active() {
		ctx, span = telemetry.Tracer().Start(ctx, "sla scan", trace.WithNewRoot(),
			trace.WithAttributes(attribute.Int("regcase.sla.overdue_cases", len(ids))))
	}
	defer func() {
		span.SetAttributes(attribute.Int("regcase.sla.breaches_marked", marked))
		endSpan(span, err)
	}()
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for _, id := range ids {
		c, prio, err := s.Svc.MarkBreached(ctx, id)
		if err != nil {
			return marked, err
		}
		if c != nil {
			marked++
			s.Metrics.Breaches.WithLabelValues(string(prio)).Inc()
			s.Log.InfoContext(ctx, "SLA breached", slog.String("case", c.Number), slog.String("priority", string(prio)),
				slog.String("now", string(c.Priority)))
		}
	}
	return marked, nil
}
