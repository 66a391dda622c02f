package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/regcase/regcase/internal/buildinfo"
	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/httpapi"
)

// worker runs the background work: it signs audit checkpoints (one writer at
// a time, whatever the number of replicas) and serves its own health and
// metrics on REGCASE_HTTP_ADDR.
func (e *env) worker(ctx context.Context) error {
	if len(e.args) > 0 {
		return &usageError{msg: "worker takes no arguments"}
	}
	c, err := config.Load(e.getenv, "worker")
	if err != nil {
		return err
	}
	log := newLogger(c, e.stderr)
	log.Info("starting", append([]any{slog.String("command", "worker"), slog.String("version", buildinfo.Get().Version)}, c.LogAttrs()...)...)
	k, err := ensureKeys(c, log, c.Env != "production")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return &config.Error{Var: "REGCASE_HTTP_ADDR", Msg: fmt.Sprintf("cannot listen on %s: %v", c.HTTPAddr, err)}
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := newService(c, db, k)
	if err != nil {
		return err
	}
	health := httpapi.NewHealth(schemaCheck(db, log))
	reg := newRegistry("worker", db)
	checkpoints := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_audit_checkpoints_total",
		Help: "Audit checkpoint attempts by outcome."}, []string{"outcome"})
	reg.MustRegister(checkpoints)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /health/startup", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := health.Ready(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	health.Started()
	log.Info("worker running", slog.String("health", "http://"+displayAddr(ln.Addr().String())+"/health/ready"))

	every := c.CheckpointEvery
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			health.Drain()
			sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
			defer cancel()
			_ = srv.Shutdown(sctx)
			log.Info("stopped")
			return nil
		case <-t.C:
			if k.signing == nil {
				continue
			}
			if err := health.Ready(ctx); err != nil {
				continue // the readiness check already logs schema problems
			}
			cp, err := svc.Checkpoint(ctx, k.signing)
			switch {
			case err != nil:
				checkpoints.WithLabelValues("error").Inc()
				log.Error("audit checkpoint failed", slog.Any("error", err))
			case cp == nil:
				checkpoints.WithLabelValues("nothing_new").Inc()
			default:
				checkpoints.WithLabelValues("signed").Inc()
				log.Info("audit checkpoint signed", slog.Int64("checkpoint", cp.ID), slog.Int("chains", len(cp.Heads)))
			}
		}
	}
}

// poolCollector exports pgxpool statistics.
type poolCollector struct {
	db                               *database
	total, idle, acquired, max, wait *prometheus.Desc
}

func newPoolCollector(db *database) *poolCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &poolCollector{db: db,
		total:    d("regcase_db_pool_connections", "Open connections in the pool."),
		idle:     d("regcase_db_pool_idle_connections", "Idle connections in the pool."),
		acquired: d("regcase_db_pool_acquired_connections", "Connections in use."),
		max:      d("regcase_db_pool_max_connections", "Configured pool size."),
		wait:     d("regcase_db_pool_wait_seconds_total", "Time spent waiting for a connection."),
	}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.total
	ch <- p.idle
	ch <- p.acquired
	ch <- p.max
	ch <- p.wait
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.db.pg.Pool().Stat()
	ch <- prometheus.MustNewConstMetric(p.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(p.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(p.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(p.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(p.wait, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
