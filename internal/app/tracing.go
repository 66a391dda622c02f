package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/regcase/regcase/internal/telemetry"
)

// setupTracing reads the OTEL_* configuration and, when an OTLP endpoint
// is set, starts exporting spans (see internal/telemetry); it logs what it
// did (never the export headers).
func (p *process) setupTracing(ctx context.Context, getenv func(string) string, cmd string) error {
	tc, err := telemetry.FromEnv(getenv, cmd)
	if err != nil {
		return err
	}
	stop, err := telemetry.Setup(ctx, tc, p.log)
	if err != nil {
		return err
	}
	p.tracing, p.stopTracing = tc.Enabled(), stop
	p.log.Info("tracing", tc.LogAttrs()...)
	return nil
}

// flushTracing exports the spans still buffered, for at most 5 s.
func (p *process) flushTracing() {
	if p.stopTracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.stopTracing(ctx); err != nil {
		p.log.Warn("tracing: spans not flushed at exit", slog.Any("error", err))
	}
}
