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
	Service Service // *regcase.Service in production

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
	svc     Service
	api     huma.API
	promh   http.Handler // /metrics
}

// NewServer returns the whole HTTP handler.
func NewServer(d Deps) http.Handler {
	useProblems()
	if d.Intake == nil {
		d.Intake = throttle.New(5, 20)
	}
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = 1 << 20
	}
	s := &server{deps: d, log: d.Log, svc: d.Service, metrics: newHTTPMetrics(d.Registry), intake: d.Intake,
		promh: promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})}
	mux := http.NewServeMux()
	s.api = newAPI(mux)
	s.api.UseMiddleware(s.requireAuth)
	s.mount(mux)
	if d.Extra != nil {
		d.Extra(mux)
	}
	return telemetry.HTTPServer(d.Tracing, s.observe(s.authenticate(capturePattern(mux))))
}

// NewAPI builds the API description without serving it (openapi export).
func NewAPI() huma.API {
	useProblems()
	s := &server{deps: Deps{}}
	s.api = newAPI(http.NewServeMux())
	s.mount(nil)
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

// route is one entry of the route table: an operation and the handler
// method that serves it. A route is served either through huma (typed
// input and output, described in the OpenAPI document) or by a plain
// handler on the mux (streamed bodies, probes); a plain route with an
// OperationID is described in the document too.
type route struct {
	op    huma.Operation
	typed func(huma.API, huma.Operation) // huma.Register of the handler; see typed
	plain http.HandlerFunc
}

// typed adapts a handler method to the route table.
func typed[I, O any](h func(context.Context, *I) (*O, error)) func(huma.API, huma.Operation) {
	return func(api huma.API, op huma.Operation) { huma.Register(api, op, h) }
}

// opt adjusts an operation of the table.
type opt func(*huma.Operation)

// public: no bearer token needed.
func public(op *huma.Operation) { op.Security = nil }

// status is the success status when it is not 200.
func status(code int) opt { return func(op *huma.Operation) { op.DefaultStatus = code } }

// errs adds problem statuses to the documented ones.
func errs(codes ...int) opt {
	return func(op *huma.Operation) { op.Errors = append(op.Errors, codes...) }
}

// noErrs documents no problem status (an operation that cannot fail).
func noErrs(op *huma.Operation) { op.Errors = nil }

// ifMatch documents the statuses of a case mutation guarded by If-Match.
func ifMatch(op *huma.Operation) { op.Errors = append(op.Errors, 409, 412, 428) }

// plainRoute is a route outside the OpenAPI document.
func plainRoute(method, path string, h http.HandlerFunc) route {
	return route{op: huma.Operation{Method: method, Path: path}, plain: h}
}

// routes is the route table: every path the server answers, with the
// handler method that serves it. Handlers of /v1 take a typed input and
// return a typed output or a problem; their method names follow the
// operation ids.
func (s *server) routes() []route {
	get, post, put, patch, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	return []route{
		// Probes, metrics, version and the human reference (not in the document).
		plainRoute(get, "/health/live", s.live),
		plainRoute(get, "/health/ready", s.ready),
		plainRoute(get, "/health/startup", s.startup),
		plainRoute(get, "/metrics", s.metricsPage),
		plainRoute(get, "/version", s.version),
		plainRoute(get, "/docs", s.docs),

		// Reports (reports.go) and the public side of the reporter channel (channel.go).
		{op: s.op("submit-report", post, "/v1/reports", "Submit a report (public, rate-limited, idempotent)", "reports", status(http.StatusCreated), public, errs(429)), typed: typed(s.submitReport)},
		{op: s.op("public-report-status", get, "/v1/public/reports/{tracking}", "Coarse status of a report, for the reporter", "public", public), typed: typed(s.publicReportStatus)},
		{op: s.op("list-reports", get, "/v1/reports", "List reports (newest first, keyset pagination)", "reports"), typed: typed(s.listReports)},
		{op: s.op("get-report", get, "/v1/reports/{id}", "Get a report", "reports"), typed: typed(s.getReport)},
		{op: s.op("dismiss-report", post, "/v1/reports/{id}/dismiss", "Dismiss a received report (reason required)", "reports"), typed: typed(s.dismissReport)},
		{op: s.op("erase-reporter", post, "/v1/reports/{id}/erasure", "Erase a reporter's contact details (crypto-shredding)", "reports"), typed: typed(s.eraseReporter)},
		{op: s.op("triage-report", post, "/v1/reports/{id}/triage", "Triage a report into a new or an existing case", "reports"), typed: typed(s.triageReport)},

		// Cases (cases.go).
		{op: s.op("list-cases", get, "/v1/cases", "List cases (newest first, keyset pagination)", "cases"), typed: typed(s.listCases)},
		{op: s.op("create-case", post, "/v1/cases", "Open a case", "cases", status(http.StatusCreated)), typed: typed(s.createCase)},
		{op: s.op("get-case", get, "/v1/cases/{id}", "Get a case, with the transitions the caller may perform", "cases"), typed: typed(s.getCase)},
		{op: s.op("update-case", patch, "/v1/cases/{id}", "Change title, priority, category or subject (If-Match required)", "cases", ifMatch), typed: typed(s.updateCase)},
		{op: s.op("transition-case", post, "/v1/cases/{id}/transitions", "Move a case through its lifecycle (If-Match required)", "cases", ifMatch), typed: typed(s.transitionCase)},
		{op: s.op("assign-case", post, "/v1/cases/{id}/assignment", "Assign a case (If-Match required)", "cases", ifMatch), typed: typed(s.assignCase)},
		{op: s.op("pause-case-sla", post, "/v1/cases/{id}/sla/pause", "Pause the SLA clock while waiting on an outside party", "cases", ifMatch), typed: typed(s.pauseCaseSla)},
		{op: s.op("resume-case-sla", post, "/v1/cases/{id}/sla/resume", "Resume the SLA clock; paused time extends the due date", "cases", ifMatch), typed: typed(s.resumeCaseSla)},
		{op: s.op("list-notes", get, "/v1/cases/{id}/notes", "List a case's internal notes", "cases"), typed: typed(s.listNotes)},
		{op: s.op("add-note", post, "/v1/cases/{id}/notes", "Add an internal note", "cases", status(http.StatusCreated)), typed: typed(s.addNote)},

		// Audit log, checkpoints and Merkle proofs (audit.go, proofs.go).
		{op: s.op("list-audit", get, "/v1/audit", "Read the audit log (auditors)", "audit"), typed: typed(s.listAudit)},
		{op: s.op("case-audit", get, "/v1/cases/{id}/audit", "A case's audit timeline", "cases"), typed: typed(s.caseAudit)},
		{op: s.op("verify-audit", get, "/v1/audit/verify", "Verify the whole audit log (same result as `regcase audit verify`)", "audit"), typed: typed(s.verifyAudit)},
		{op: s.op("list-checkpoints", get, "/v1/audit/checkpoints", "Export the signed checkpoints (anchors)", "audit"), typed: typed(s.listCheckpoints)},
		{op: s.op("audit-checkpoint", get, "/v1/audit/checkpoint", "The newest signed checkpoint of the Merkle audit log (C2SP tlog-checkpoint signed note, text/plain)", "audit"), typed: typed(s.auditCheckpoint)},
		{op: s.op("audit-inclusion-proof", get, "/v1/audit/proofs/inclusion", "Prove that an audit record is in a signed checkpoint (RFC 6962 inclusion proof)", "audit"), typed: typed(s.auditInclusionProof)},
		{op: s.op("audit-consistency-proof", get, "/v1/audit/proofs/consistency", "Prove that an older signed checkpoint is a prefix of a newer one (RFC 6962 consistency proof)", "audit"), typed: typed(s.auditConsistencyProof)},

		// API tokens (tokens.go).
		{op: s.op("list-tokens", get, "/v1/tokens", "List API tokens (admins)", "admin"), typed: typed(s.listTokens)},
		{op: s.op("create-token", post, "/v1/tokens", "Mint an API token for a role (admins)", "admin", status(http.StatusCreated)), typed: typed(s.createToken)},
		{op: s.op("revoke-token", del, "/v1/tokens/{id}", "Revoke an API token (admins)", "admin", status(http.StatusNoContent)), typed: typed(s.revokeToken)},

		// Webhooks and dead letters (webhooks.go).
		{op: s.op("list-webhooks", get, "/v1/webhooks", "List webhook subscriptions (admins)", "webhooks"), typed: typed(s.listWebhooks)},
		{op: s.op("create-webhook", post, "/v1/webhooks", "Subscribe a URL to events (admins)", "webhooks", status(http.StatusCreated)), typed: typed(s.createWebhook)},
		{op: s.op("get-webhook", get, "/v1/webhooks/{id}", "Get a webhook subscription (admins)", "webhooks"), typed: typed(s.getWebhook)},
		{op: s.op("delete-webhook", del, "/v1/webhooks/{id}", "End a subscription; its pending deliveries die, history stays (admins)", "webhooks", status(http.StatusNoContent)), typed: typed(s.deleteWebhook)},
		{op: s.op("list-deliveries", get, "/v1/webhooks/{id}/deliveries", "Delivery history of a subscription, newest first (admins)", "webhooks"), typed: typed(s.listDeliveries)},
		{op: s.op("get-delivery", get, "/v1/webhooks/{id}/deliveries/{delivery}", "One delivery with its payload and every attempt (admins)", "webhooks"), typed: typed(s.getDelivery)},
		{op: s.op("redeliver", post, "/v1/webhooks/{id}/deliveries/{delivery}/redeliver", "Send a delivery again with a fresh retry budget (admins); 409 while it is pending", "webhooks", status(http.StatusAccepted), errs(http.StatusConflict)), typed: typed(s.redeliver)},
		{op: s.op("list-dead-letters", get, "/v1/dead-letters", "Events a handler gave up on, newest first (admins)", "events"), typed: typed(s.listDeadLetters)},
		{op: s.op("get-dead-letter", get, "/v1/dead-letters/{id}", "One dead-lettered event (admins)", "events"), typed: typed(s.getDeadLetter)},
		{op: s.op("replay-dead-letter", post, "/v1/dead-letters/{id}/replay", "Put the event back on the outbox; handlers that failed it try again (admins); 409 if replayed", "events", status(http.StatusAccepted), errs(http.StatusConflict)), typed: typed(s.replayDeadLetter)},

		// Taxonomy (categories.go).
		{op: s.op("list-categories", get, "/v1/categories", "The category taxonomy (public)", "reports", public, noErrs), typed: typed(s.listCategories)},

		// Reporter channel and evidence files (channel.go).
		{op: s.op("public-report-messages", get, "/v1/public/reports/{tracking}/messages", "The reporter's channel: messages with the regulator and the evidence sent", "public", public), typed: typed(s.publicReportMessages)},
		{op: s.op("post-public-report-message", post, "/v1/public/reports/{tracking}/messages", "Write to the regulator as the reporter (tracking code + status secret; rate-limited)", "public", public, status(http.StatusCreated), errs(429)), typed: typed(s.postPublicReportMessage)},
		{op: s.op("list-case-messages", get, "/v1/cases/{id}/messages", "The channel with the reporters of the case's reports (marks them read for the caller)", "cases"), typed: typed(s.listCaseMessages)},
		{op: s.op("post-case-message", post, "/v1/cases/{id}/messages", "Write to the reporter of one of the case's reports", "cases", status(http.StatusCreated)), typed: typed(s.postCaseMessage)},
		{op: s.op("list-case-attachments", get, "/v1/cases/{id}/attachments", "Evidence files of the case and of its reports", "cases"), typed: typed(s.listCaseAttachments)},
		{op: s.op("list-report-attachments", get, "/v1/reports/{id}/attachments", "Evidence files the reporter sent", "reports"), typed: typed(s.listReportAttachments)},
		{op: s.op("upload-public-attachment", post, "/v1/public/reports/{tracking}/attachments", "Send an evidence file as the reporter (rate-limited)", "public",
			uploadDoc(fileParam("tracking", "path", "", 20), fileParam("X-Status-Secret", "header", "the status secret", 100)), public), plain: s.uploadPublic},
		{op: s.op("upload-case-attachment", post, "/v1/cases/{id}/attachments", "Add an evidence file to a case", "cases", uploadDoc(fileParam("id", "path", "", 64))), plain: s.uploadCase},
		{op: s.op("download-attachment", get, "/v1/attachments/{id}", "Download an evidence file (audited)", "cases", downloadDoc), plain: s.download},

		// Officer notification settings (contacts.go).
		{op: s.op("get-my-notifications", get, "/v1/me/notifications", "Your e-mail notification settings", "notifications"), typed: typed(s.getMyNotifications)},
		{op: s.op("set-my-notifications", put, "/v1/me/notifications", "Set your e-mail address for notifications, or opt out (notify=false)", "notifications"), typed: typed(s.setMyNotifications)},
		{op: s.op("set-token-notifications", put, "/v1/tokens/{id}/notifications", "Set a token holder's notification address or opt-out (admins)", "admin"), typed: typed(s.setTokenNotifications)},
	}
}

// mount registers the route table: typed routes through huma, plain ones
// on mux (nil: describe only, for the openapi export), then the catch-all
// that answers 404 or 405 as problem+json.
func (s *server) mount(mux *http.ServeMux) {
	for _, r := range s.routes() {
		switch {
		case r.typed != nil:
			r.typed(s.api, r.op)
		case r.op.OperationID != "":
			op := r.op
			s.api.OpenAPI().AddOperation(&op)
		}
		if r.plain != nil && mux != nil {
			mux.HandleFunc(r.op.Method+" "+r.op.Path, r.plain)
		}
	}
	if mux != nil {
		mux.HandleFunc("/", notFoundOrMethod(mux))
	}
}

func (s *server) op(id, method, path, summary, tag string, opts ...opt) huma.Operation {
	op := huma.Operation{
		OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{tag},
		MaxBodyBytes: s.deps.MaxBodyBytes, BodyReadTimeout: 10 * time.Second,
		Security: []map[string][]string{{"bearer": {}}},
		Errors:   []int{400, 401, 403, 404, 422},
	}
	for _, o := range opts {
		o(&op)
	}
	return op
}

func (s *server) metricsPage(w http.ResponseWriter, r *http.Request) {
	s.promh.ServeHTTP(w, r)
}

func (s *server) version(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = jsonEncode(w, buildinfo.Get())
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
