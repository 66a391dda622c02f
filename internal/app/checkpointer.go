package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/regcase/regcase/internal/regcase"
)

// checkpointer signs audit checkpoints every interval while the process is
// ready, and once more when ctx ends. Many replicas may run it: the store's
// checkpoint lock lets one sign at a time.
type checkpointer struct {
	log      *slog.Logger
	svc      *regcase.Service
	key      []byte
	every    time.Duration
	ready    func(context.Context) error
	outcomes *prometheus.CounterVec
	tree     *treeSigner
}

func newCheckpointer(p *process, reg prometheus.Registerer) *checkpointer {
	cp := &checkpointer{log: p.log, svc: p.svc, key: p.keys.signing, every: p.cfg.CheckpointEvery, ready: p.health.Ready,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_audit_checkpoints_total",
			Help: "Audit checkpoint attempts by outcome."}, []string{"outcome"})}
	reg.MustRegister(cp.outcomes)
	cp.tree = newTreeSigner(p, reg)
	return cp
}

func (cp *checkpointer) run(ctx context.Context) {
	if cp.key == nil || cp.every <= 0 {
		cp.log.Warn("audit checkpoints are not signed by this process: no REGCASE_AUDIT_SIGNING_KEY")
		<-ctx.Done()
		return
	}
	t := time.NewTicker(cp.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cp.once(fctx)
			cancel()
			return
		case <-t.C:
			if cp.ready(ctx) == nil { // the readiness check logs schema problems itself
				cp.once(ctx)
			}
		}
	}
}

func (cp *checkpointer) once(ctx context.Context) {
	c, err := cp.svc.Checkpoint(ctx, cp.key)
	switch {
	case err != nil:
		cp.outcomes.WithLabelValues("error").Inc()
		cp.log.Error("audit checkpoint failed", slog.Any("error", err))
	case c == nil:
		cp.outcomes.WithLabelValues("nothing_new").Inc()
	default:
		cp.outcomes.WithLabelValues("signed").Inc()
		cp.log.Info("audit checkpoint signed", slog.Int64("checkpoint", c.ID), slog.Int("chains", len(c.Heads)))
	}
	cp.tree.once(ctx)
}
