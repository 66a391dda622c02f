package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/buildinfo"
	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/httpapi"
	"github.com/regcase/regcase/internal/regcase"
)

// process is what a long-running command (all, api, worker) boots: its
// configuration, logger, keys, listener, database and service.
type process struct {
	cfg    *config.Config
	log    *slog.Logger
	keys   *keys
	ln     net.Listener
	db     *database
	svc    *regcase.Service
	health *httpapi.Health

	readyMu sync.Mutex
	ready   []func(context.Context) error // checks added after boot (Redis)
}

// addReady adds a readiness check.
func (p *process) addReady(f func(context.Context) error) {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	p.ready = append(p.ready, f)
}

func (p *process) readiness(schema func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := schema(ctx); err != nil {
			return err
		}
		p.readyMu.Lock()
		checks := p.ready
		p.readyMu.Unlock()
		for _, f := range checks {
			if err := f(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// boot loads the configuration for cmd, logs it masked, binds the listener
// first (a port clash is an operator mistake worth one clear line), then
// opens the database and builds the service.
func (e *env) boot(ctx context.Context, cmd string) (*process, error) {
	if len(e.args) > 0 {
		return nil, &usageError{msg: fmt.Sprintf("%s takes no arguments", cmd)}
	}
	c, err := config.Load(e.getenv, cmd)
	if err != nil {
		return nil, err
	}
	p := &process{cfg: c, log: newLogger(c, e.stderr)}
	p.log.Info("starting", append([]any{slog.String("command", cmd), slog.String("version", buildinfo.Get().Version)}, c.LogAttrs()...)...)
	if p.keys, err = ensureKeys(c, p.log, cmd); err != nil {
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", c.HTTPAddr); err != nil {
		return nil, &config.Error{Var: "REGCASE_HTTP_ADDR", Msg: fmt.Sprintf("cannot listen on %s: %v", c.HTTPAddr, errors.Unwrap(err))}
	}
	if p.db, err = openDatabase(ctx, c); err != nil {
		p.ln.Close()
		return nil, err
	}
	if p.svc, err = newService(c, p.db, p.keys); err != nil {
		p.close()
		return nil, err
	}
	p.health = httpapi.NewHealth(p.readiness(schemaCheck(p.db, p.log)))
	return p, nil
}

func (p *process) close() {
	p.ln.Close()
	p.db.Close()
}

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
