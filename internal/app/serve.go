package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/regcase/regcase/internal/buildinfo"
	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/httpapi"
	"github.com/regcase/regcase/internal/oidcauth"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/stream"
	"github.com/regcase/regcase/internal/throttle"
	"github.com/regcase/regcase/internal/web"
)

func newRegistry(role string, db *database) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "regcase_build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.GoVersion, "role": role}})
	build.Set(1)
	reg.MustRegister(build)
	if db != nil && db.pg != nil {
		reg.MustRegister(newPoolCollector(db))
	}
	return reg
}

// serve runs "all" (embedded: migrates SQLite, generates keys, bootstraps an
// admin token, runs the background work in process) or "api".
func (e *env) serve(ctx context.Context, cmd string) error {
	p, err := e.boot(ctx, cmd)
	if err != nil {
		return err
	}
	defer p.close()
	c, log, k, ln, db, svc, health := p.cfg, p.log, p.keys, p.ln, p.db, p.svc, p.health
	embedded := cmd == "all"
	if embedded && !c.IsSQLite() && c.Env == "production" {
		log.Warn("all-in-one mode on PostgreSQL in production: prefer separate api, worker and migrate")
	}
	reg := newRegistry(cmd, db)
	p.registerLogMetrics(reg)
	defer startPprof(p.cfg.PprofAddr, p.log)()
	intake, closeIntake, err := intakeLimiter(c, log)
	if err != nil {
		return err
	}
	defer closeIntake()
	deps := httpapi.Deps{Service: svc, Health: health, Log: log, Registry: reg, PublicKey: k.public,
		TrustedProxies: c.TrustedProxies, Intake: intake, MaxBodyBytes: c.MaxBodyBytes, Tracing: p.tracing}
	if c.OIDCIssuer != "" {
		deps.OIDC = &oidcauth.Verifier{Issuer: c.OIDCIssuer, Audience: c.OIDCAudience, RoleClaim: c.OIDCRoleClaim}
	}
	wd := web.Deps{Service: svc, Log: log, Secure: c.Env != "development", SessionKey: k.dataKey,
		PublicKey: k.public, Intake: deps.Intake, Logins: throttle.New(c.IntakeRate, c.IntakeBurst), TrustedProxies: c.TrustedProxies}
	if c.OIDCClientID != "" {
		wd.OIDC = &oidcauth.Login{Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID, ClientSecret: c.OIDCSecret,
			RedirectURL: c.PublicURL + "/console/oidc/callback", RoleClaim: c.OIDCRoleClaim}
	}
	deps.Extra = web.New(wd).Mount
	srv := &http.Server{Handler: httpapi.NewServer(deps), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	close(bgDone)
	if embedded {
		if err := e.bootEmbedded(ctx, log, db, svc, ln.Addr().String()); err != nil {
			_ = srv.Close()
			stopBG()
			return err
		}
		bgDone = make(chan struct{})
		cp := newCheckpointer(p, reg)
		bg := newBackground(p, reg)
		go func() {
			defer close(bgDone)
			done := make(chan struct{})
			go func() { defer close(done); bg.run(bgCtx, c.ShutdownTimeout/2) }()
			cp.run(bgCtx)
			<-done
		}()
	}
	health.Started()
	log.Info("serving", slog.String("url", "http://"+displayAddr(ln.Addr().String())), slog.String("database", db.engine))

	select {
	case err := <-serveErr:
		stopBG()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Drain: readiness fails first so the balancer stops sending, then
	// in-flight requests finish, then we exit within the timeout.
	log.Info("draining", slog.Duration("timeout", c.ShutdownTimeout))
	health.Drain()
	deadline := time.Now().Add(c.ShutdownTimeout)
	time.Sleep(c.DrainDelay)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err = srv.Shutdown(sctx)
	stopBG()
	select {
	case <-bgDone:
	case <-sctx.Done():
	}
	if err != nil {
		log.Error("shutdown timed out; in-flight requests were cut", slog.Any("error", err))
		return &exitError{code: ExitFailure, msg: "shutdown timed out"}
	}
	log.Info("stopped")
	return nil
}

// intakeLimiter is the public-intake rate limiter: in Redis when REDIS_URL
// is set, so that the limit holds across API replicas, with the in-process
// limiter as the fallback while Redis is unreachable.
func intakeLimiter(c *config.Config, log *slog.Logger) (throttle.Allower, func(), error) {
	local := throttle.New(c.IntakeRate, c.IntakeBurst)
	if c.RedisURL == "" {
		return local, func() {}, nil
	}
	// The stream package's client: its timeouts and context deadlines keep
	// a hung Redis from holding an intake request (the limiter allows itself
	// 50 ms, then falls back to the local bucket).
	rdb, err := stream.NewRedis(c.RedisURL)
	if err != nil {
		return nil, nil, &config.Error{Var: "REDIS_URL", Msg: err.Error()}
	}
	lim := throttle.NewRedis(rdb, "regcase:rl:intake:", c.IntakeRate, c.IntakeBurst, local, func(err error) {
		log.Warn("intake rate limit: Redis unreachable; limiting per process meanwhile", slog.Any("error", err))
	})
	return lim, func() { _ = rdb.Close() }, nil
}

func displayAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// bootEmbedded migrates the embedded database and, on a fresh install,
// mints a first admin token and prints it once on stdout.
func (e *env) bootEmbedded(ctx context.Context, log *slog.Logger, db *database, svc *regcase.Service, addr string) error {
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	applied, err := db.migrate(mctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		log.Info("migrated", slog.Any("versions", applied))
	}
	tokens, err := db.ListTokens(ctx)
	if err != nil {
		return err
	}
	if len(tokens) > 0 {
		return nil
	}
	_, secret, err := svc.CreateToken(ctx, regcase.SystemActor("bootstrap"), "admin", regcase.RoleAdmin)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nregcase is running at http://%s\nfirst admin token (shown once; mint more with `regcase token create`):\n  %s\n\n",
		displayAddr(addr), secret)
	return nil
}
