package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/regcase/regcase/internal/buildinfo"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/telemetry"
	"github.com/regcase/regcase/internal/throttle"
)

// TokenVerifier verifies a non-API-token bearer (an OIDC JWT).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (regcase.Actor, error)
}

// Deps are the collaborators of the HTTP server.
type Deps struct {
	Service        *regcase.Service
	Health         *Health
	Log            *slog.Logger
	Registry       *prometheus.Registry // metrics; also served at /metrics
	OIDC           TokenVerifier        // nil when OIDC is not configured
	PublicKey      ed25519.PublicKey    // audit checkpoint verification key (may be nil)
	TrustedProxies []*net.IPNet
	// Intake limits anonymous submissions per client address; share it
	// with every other public intake path (the web form).
	Intake       throttle.Allower
	MaxBodyBytes int64
	// Extra mounts more handlers (e.g. the web console) on the same mux.
	Extra func(mux *http.ServeMux)
	// Tracing makes a server span per request (telemetry.HTTPServer);
	// off, an incoming traceparent is still carried in the context.
	Tracing bool
}

type server struct {
	deps    Deps
	log     *slog.Logger
	metrics *httpMetrics
	intake  throttle.Allower
	svc     *regcase.Service
	api     huma.API
}

// NewServer returns the whole HTTP handler.
func NewServer(d Deps) http.Handler {
	if d.Intake == nil {
		d.Intake = throttle.New(5, 20)
	}
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = 1 << 20
	}
	s := &server{deps: d, log: d.Log, svc: d.Service, metrics: newHTTPMetrics(d.Registry), intake: d.Intake}
	mux := http.NewServeMux()
	s.api = newAPI(mux)
	s.api.UseMiddleware(s.requireAuth)
	s.routes(mux)
	if d.Extra != nil {
		d.Extra(mux)
	}
	return telemetry.HTTPServer(d.Tracing, s.observe(s.authenticate(capturePattern(mux))))
}

// NewAPI builds the API description without serving it (openapi export).
func NewAPI() huma.API {
	s := &server{deps: Deps{}}
	mux := http.NewServeMux()
	s.api = newAPI(mux)
	s.register()
	return s.api
}

func newAPI(mux *http.ServeMux) huma.API {
	cfg := huma.DefaultConfig("regcase — Regulatory Case API", buildinfo.Get().Version)
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.DocsPath = ""     // our own offline /docs page
	cfg.SchemasPath = ""
	cfg.Info.Description = "Reports from the public become enforcement cases, carried through a provable lifecycle with a tamper-evident audit log."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API token (rct_…) minted with `regcase token create`, or an OIDC access token when configured."},
	}
	return humago.New(mux, cfg)
}

// routes is the whole route table.
func (s *server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /health/live", s.live)
	mux.HandleFunc("GET /health/ready", s.ready)
	mux.HandleFunc("GET /health/startup", s.startup)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{Registry: s.deps.Registry}))
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = jsonEncode(w, buildinfo.Get())
	})
	mux.HandleFunc("GET /docs", s.docs)
	mux.HandleFunc("/", notFoundOrMethod(mux))
	s.fileRoutes(mux)
	s.register()
}

// register adds every /v1 operation to the API.
func (s *server) register() {
	s.registerReports()
	s.registerCases()
	s.registerAudit()
	s.registerProofs()
	s.registerTokens()
	s.registerWebhooks()
	s.registerCategories()
	s.registerChannel()
	s.registerContacts()
}

func (s *server) op(id, method, path, summary string, tags ...string) huma.Operation {
	return huma.Operation{
		OperationID: id, Method: method, Path: path, Summary: summary, Tags: tags,
		MaxBodyBytes: s.deps.MaxBodyBytes, BodyReadTimeout: 10 * time.Second,
		Security: []map[string][]string{{"bearer": {}}},
		Errors:   []int{400, 401, 403, 404, 422},
	}
}

// requireAuth answers 401 to an anonymous caller of a protected operation
// before the input is validated, so the authorization decision never hides
// behind a 422.
func (s *server) requireAuth(ctx huma.Context, next func(huma.Context)) {
	if op := ctx.Operation(); op != nil && len(op.Security) > 0 && actorFrom(ctx.Context()).Role == regcase.RoleAnonymous {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="regcase"`)
		_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "authentication required")
		return
	}
	next(ctx)
}

func (s *server) fail(ctx context.Context, err error) error {
	return problemFor(ctx, s.log, err)
}

// Health tracks the process's health: startup done, draining, and a
// readiness check of the dependencies.
type Health struct {
	started  atomic.Bool
	draining atomic.Bool
	check    func(ctx context.Context) error

	mu      sync.Mutex
	last    time.Time
	lastErr error
}

// NewHealth returns a Health whose readiness runs check (database reachable,
// schema version expected, …).
func NewHealth(check func(ctx context.Context) error) *Health { return &Health{check: check} }

// Started marks boot work as done.
func (h *Health) Started() { h.started.Store(true) }

// Drain makes readiness fail from now on (SIGTERM).
func (h *Health) Drain() { h.draining.Store(true) }

// Ready runs the readiness check, at most once a second.
func (h *Health) Ready(ctx context.Context) error {
	if h.draining.Load() {
		return errDraining
	}
	if !h.started.Load() {
		return errStarting
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.last) < time.Second {
		return h.lastErr
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h.lastErr, h.last = h.check(ctx), time.Now()
	return h.lastErr
}

type healthErr string

func (e healthErr) Error() string { return string(e) }

const (
	errDraining healthErr = "draining"
	errStarting healthErr = "starting"
)

func healthJSON(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *server) live(w http.ResponseWriter, r *http.Request) {
	healthJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (s *server) startup(w http.ResponseWriter, r *http.Request) {
	if !s.deps.Health.started.Load() {
		healthJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "starting"})
		return
	}
	healthJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.deps.Health.Ready(r.Context()); err != nil {
		healthJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": err.Error()})
		return
	}
	healthJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}
