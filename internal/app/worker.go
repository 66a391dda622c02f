package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// worker runs the background work: the event pipeline (outbox relay,
// stream consumers, webhook deliveries), the SLA scan and the audit
// checkpoints (one signer at a time, whatever the number of replicas), and
// serves its own health and metrics on REGCASE_HTTP_ADDR.
func (e *env) worker(ctx context.Context) error {
	p, err := e.boot(ctx, "worker")
	if err != nil {
		return err
	}
	defer p.close()
	log, health := p.log, p.health
	reg := newRegistry("worker", p.db)
	p.registerLogMetrics(reg)
	defer startPprof(p.cfg.PprofAddr, p.log)()
	cp := newCheckpointer(p, reg)
	bg := newBackground(p, reg)
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
	go func() { _ = srv.Serve(p.ln) }()
	health.Started()
	log.Info("worker running", slog.String("health", "http://"+displayAddr(p.ln.Addr().String())+"/health/ready"))

	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		bg.run(ctx, p.cfg.ShutdownTimeout*3/4)
	}()
	cp.run(ctx) // until SIGTERM, with a last checkpoint on the way out
	health.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	select {
	case <-bgDone:
	case <-sctx.Done():
		log.Warn("background work did not finish within REGCASE_SHUTDOWN_TIMEOUT; unfinished work is handed back by lease and claim timeouts")
	}
	_ = srv.Shutdown(sctx)
	log.Info("stopped")
	return nil
}
