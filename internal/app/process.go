package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/asynclog"
	"github.com/regcase/regcase/internal/buildinfo"
	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/httpapi"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/sqlite"
)

// process is what a long-running command (all, api, worker) boots: its
// configuration, logger, keys, listener, database and service.
type process struct {
	cfg    *config.Config
	log    *slog.Logger
	logw   *asynclog.Writer // the log's buffered writer, flushed by close
	keys   *keys
	ln     net.Listener
	db     *database
	svc    *regcase.Service
	health *httpapi.Health
	// tracing is on (an OTLP endpoint is configured); stopTracing flushes
	// and stops the exporter.
	tracing     bool
	stopTracing func(context.Context) error

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
	// A serving process logs a line per request: through a buffered,
	// bounded writer (one write system call per batch, off the request
	// path). The commands that run once log straight to stderr.
	logw := asynclog.New(e.stderr, 0, c.LogFormat)
	p := &process{cfg: c, log: newLogger(c, logw), logw: logw}
	p.log.Info("starting", append([]any{slog.String("command", cmd), slog.String("version", buildinfo.Get().Version)}, c.LogAttrs()...)...)
	if err := p.setupTracing(ctx, e.getenv, cmd); err != nil {
		_ = logw.Close()
		return nil, err
	}
	if p.keys, err = ensureKeys(c, p.log, cmd); err != nil {
		_ = logw.Close()
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", c.HTTPAddr); err != nil {
		_ = logw.Close()
		return nil, &config.Error{Var: "REGCASE_HTTP_ADDR", Msg: fmt.Sprintf("cannot listen on %s: %v", c.HTTPAddr, errors.Unwrap(err))}
	}
	if p.db, err = openDatabaseTraced(ctx, c, p.tracing); err != nil {
		p.ln.Close()
		_ = logw.Close()
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
	p.flushTracing()
	_ = p.logw.Close() // the last lines reach stderr before the process exits
}

// registerLogMetrics exports the log lines the buffered writer dropped
// and, on SQLite, how the writer groups the write transactions.
func (p *process) registerLogMetrics(reg prometheus.Registerer) {
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	counter("regcase_log_dropped_lines_total", "Log lines dropped because the log buffer was full (never ERROR or WARN lines, which wait).",
		func() float64 { return float64(p.logw.Dropped()) })
	if db, ok := p.db.Store.(*sqlite.DB); ok {
		counter("regcase_sqlite_write_groups_total", "SQLite write transactions run by the group-commit writer.",
			func() float64 { return float64(db.GroupStats().Groups) })
		counter("regcase_sqlite_write_jobs_total", "Write functions (InTx calls) run by the writer; jobs/groups is the mean group size.",
			func() float64 { return float64(db.GroupStats().Jobs) })
		counter("regcase_sqlite_write_retries_total", "Write functions run again alone because their group's transaction broke.",
			func() float64 { return float64(db.GroupStats().Retried) })
	}
}
